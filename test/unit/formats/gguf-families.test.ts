// GGUF architectures beyond `llama` (models/arch/llama-gguf.ts, arch/phi3.ts): tiny models written here in
// llama.cpp's naming with the test's own GGUF writer (test/helpers/gguf-writer.ts) from the same weights
// as an HF folder, then both loaded: the GGUF's logits equal the safetensors model's.
//   qwen2   metadata under qwen2., attn_q/k/v biases, q/k stored as HF has them (NEOX rope), tied head
//   mistral metadata under mistral., q/k rows interleaved as llama.cpp's LLAMA files, sliding window
//   phi3    attn_qkv = qkv_proj, ffn_up = gate_up_proj (gate | up), partial rotary, longrope factors as
//           rope_factors_short / rope_factors_long tensors

import { strict as assert } from 'assert';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import type { RefWeights } from '../../helpers/reference-forward';
import { writeHfFolder, writePhi3, phi3Forward } from '../../helpers/reference-phi3';
import { gv, GgufMeta, GgufTensorSpec, TensorType, writeGguf } from '../../helpers/gguf-writer';
import { dequantizeNBits } from '../../../src/engine/models/quant/gptq-load';
import { permuteRotaryRows } from '../../../src/engine/models/convert';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { maxAbsDiff, seq } from '../../helpers/arrays';

const root = tmpDir('idp-gguf-families-');
const cacheDir = path.join(root, 'converted');
useTempCache(path.join(root, 'cache'));

/** llama.cpp's names: HF layer suffix → blk.{i}.<part> (Llama-style layers). */
const LLAMA_PARTS: Record<string, string> = {
  input_layernorm: 'attn_norm', 'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output', post_attention_layernorm: 'ffn_norm', 'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down', 'self_attn.qkv_proj': 'attn_qkv', 'mlp.gate_up_proj': 'ffn_up',
};
const GLOBAL: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' };

/** GGUF tensors of HF weights; `interleave`: q/k rows (and biases) permuted into Meta's rotary layout. */
function ggufTensors(w: RefWeights, o: { heads: number; kvHeads: number; headDim: number; interleave: boolean; type?: TensorType }): GgufTensorSpec[] {
  const out: GgufTensorSpec[] = [];
  for (const [name, t] of w) {
    let gname = GLOBAL[name];
    let heads = 0;
    const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
    if (m) {
      gname = `blk.${m[1]}.${LLAMA_PARTS[m[2]]}.${m[3]}`;
      if (o.interleave && m[2] === 'self_attn.q_proj') heads = o.heads;
      if (o.interleave && m[2] === 'self_attn.k_proj') heads = o.kvHeads;
    }
    assert.ok(gname && !gname.includes('undefined'), name);
    const data = Float32Array.from(t.data);
    const cols = t.shape.length === 2 ? t.shape[1] : 1;
    out.push({ name: gname, shape: t.shape, type: t.shape.length === 2 ? o.type ?? 'F32' : 'F32', data: heads ? permuteRotaryRows(data, heads, o.headDim, cols, 'interleaved') : data });
  }
  return out;
}

function meta(arch: string, c: { vocab: number; hidden: number; layers: number; heads: number; kvHeads: number; ffn: number; context: number; eps: number; theta: number }): Array<[string, GgufMeta]> {
  return [
    ['general.architecture', gv.str(arch)], ['general.name', gv.str(`tiny-${arch}`)], ['general.alignment', gv.u32(32)],
    [`${arch}.context_length`, gv.u32(c.context)], [`${arch}.embedding_length`, gv.u32(c.hidden)],
    [`${arch}.feed_forward_length`, gv.u32(c.ffn)], [`${arch}.block_count`, gv.u32(c.layers)],
    [`${arch}.attention.head_count`, gv.u32(c.heads)], [`${arch}.attention.head_count_kv`, gv.u32(c.kvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(c.eps)], [`${arch}.rope.freq_base`, gv.f32(c.theta)],
    [`${arch}.vocab_size`, gv.u32(c.vocab)],
  ];
}

async function sameLogits(hfDir: string, gguf: string, V: number, lengths: number[]): Promise<number> {
  const a = new CausalLM(await loadModel(hfDir), { threads: 1 });
  const b = new CausalLM(await loadModel(gguf, { cacheDir }), { threads: 1 });
  let worst = 0;
  for (const n of lengths) {
    const ids = seq(n, V, n);
    worst = Math.max(worst, maxAbsDiff((await b.logits([ids]))[0], (await a.logits([ids]))[0]));
  }
  return worst;
}

describe('GGUF architectures qwen2, mistral, phi3', () => {
  it('qwen2: biases, NEOX q/k, tied head — logits equal the safetensors model', async () => {
    const spec = TINY_SPECS.qwen2;
    const tiny = writeTinyModel(path.join(root, 'qwen2-hf'), spec);
    const file = path.join(root, 'qwen2.gguf');
    const hd = spec.hiddenSize / spec.numHeads;
    writeGguf(file, meta('qwen2', { vocab: spec.vocabSize, hidden: spec.hiddenSize, layers: spec.numLayers, heads: spec.numHeads,
      kvHeads: spec.numKvHeads, ffn: spec.intermediateSize, context: 64, eps: 1e-6, theta: 1000000 }),
    ggufTensors(tiny.weights, { heads: spec.numHeads, kvHeads: spec.numKvHeads, headDim: hd, interleave: false }));
    const m = await loadModel(file, { cacheDir });
    assert.deepEqual([m.config.arch, m.config.modelType, m.config.hfArchitecture, m.config.attentionBias, m.config.tieWordEmbeddings],
      ['llama', 'qwen2', 'Qwen2ForCausalLM', true, true]);
    assert.equal(m.format, 'gguf');
    const d = await sameLogits(tiny.dir, file, spec.vocabSize, [1, 7]);
    assert.ok(d < 1e-5, `max |Δlogit| = ${d}`);
  });

  it('mistral: metadata under mistral., interleaved q/k, window 4 — logits equal the safetensors model', async () => {
    const spec = { ...TINY_SPECS.mistral, slidingWindow: 4 };
    const tiny = writeTinyModel(path.join(root, 'mistral-hf'), spec);
    const file = path.join(root, 'mistral.gguf');
    const hd = spec.hiddenSize / spec.numHeads;
    writeGguf(file, [...meta('mistral', { vocab: spec.vocabSize, hidden: spec.hiddenSize, layers: spec.numLayers, heads: spec.numHeads,
      kvHeads: spec.numKvHeads, ffn: spec.intermediateSize, context: 64, eps: 1e-5, theta: 10000 }),
    ['mistral.attention.sliding_window', gv.u32(4)], ['mistral.rope.dimension_count', gv.u32(hd)]],
    ggufTensors(tiny.weights, { heads: spec.numHeads, kvHeads: spec.numKvHeads, headDim: hd, interleave: true }));
    const m = await loadModel(file, { cacheDir });
    assert.deepEqual([m.config.modelType, m.config.slidingWindow, m.config.tieWordEmbeddings], ['mistral', 4, false]);
    const d = await sameLogits(tiny.dir, file, spec.vocabSize, [3, 9]);
    assert.ok(d < 1e-5, `max |Δlogit| = ${d}`);
  });

  it('phi3: fused attn_qkv / ffn_up, partial rotary, longrope factor tensors — logits equal the safetensors model and the reference', async () => {
    const spec = { vocab: 64, hidden: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 48, maxPositions: 32, partialRotaryFactor: 0.5, seed: 6,
      longrope: { original: 8, short: [1, 1.25], long: [2, 5] } };
    const tiny = writePhi3(path.join(root, 'phi3-hf'), spec);
    const file = path.join(root, 'phi3.gguf');
    const hd = spec.hidden / spec.heads;
    const factor = (name: string, values: number[]): GgufTensorSpec => ({ name, shape: [values.length], type: 'F32', data: Float32Array.from(values) });
    writeGguf(file, [...meta('phi3', { vocab: spec.vocab, hidden: spec.hidden, layers: spec.layers, heads: spec.heads, kvHeads: spec.kvHeads,
      ffn: spec.ffn, context: 32, eps: 1e-5, theta: 10000 }),
    ['phi3.rope.dimension_count', gv.u32(hd / 2)], ['phi3.rope.scaling.original_context_length', gv.u32(8)]], [
      ...ggufTensors(tiny.weights, { heads: spec.heads, kvHeads: spec.kvHeads, headDim: hd, interleave: false }),
      factor('rope_factors_short.weight', spec.longrope.short), factor('rope_factors_long.weight', spec.longrope.long),
    ]);
    const m = await loadModel(file, { cacheDir });
    assert.deepEqual([m.config.arch, m.config.rotaryDims, m.config.ropeScaling?.originalMaxPositions, m.config.ropeScaling?.longFactor],
      ['phi3', hd / 2, 8, [2, 5]]);
    const d = await sameLogits(tiny.dir, file, spec.vocab, [5, 12]);
    assert.ok(d < 1e-5, `max |Δlogit| = ${d}`);
    const ids = seq(12, spec.vocab, 12);
    const [got] = await new CausalLM(m, { threads: 1 }).logits([ids]);
    assert.ok(maxAbsDiff(got, phi3Forward(tiny.config, tiny.weights, ids)) < 1e-4, 'reference');
  });

  for (const [arch, interleave] of [['phi3', false], ['mistral', true]] as const) {
    it(`${arch} Q8_0: every matrix stays quantized (MatMulNBits; fused and interleaved rows included) within the quantization step, the logits of its dequantized float twin`, async () => {
      const hf = arch === 'phi3'
        ? writePhi3(path.join(root, `${arch}-q8-hf`), { vocab: 64, hidden: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 64, seed: 9 })
        : writeTinyModel(path.join(root, `${arch}-q8-hf`), { ...TINY_SPECS.mistral, seed: 9 });
      const c = hf.config as Record<string, number>;
      const file = path.join(root, `${arch}-q8.gguf`);
      const hd = c.hidden_size / c.num_attention_heads;
      writeGguf(file, meta(arch, { vocab: c.vocab_size, hidden: c.hidden_size, layers: c.num_hidden_layers, heads: c.num_attention_heads,
        kvHeads: c.num_key_value_heads, ffn: c.intermediate_size, context: 64, eps: 1e-5, theta: 10000 }),
      ggufTensors(hf.weights, { heads: c.num_attention_heads, kvHeads: c.num_key_value_heads, headDim: hd, interleave, type: 'Q8_0' }));
      const m = await loadModel(file, { cacheDir });
      const matrices = [...hf.weights].filter(([, t]) => t.shape.length === 2).map(([n]) => n);
      assert.equal(m.quant?.modules.size, matrices.length);
      for (const [module, q] of m.quant!.modules) {
        const name = module === 'lm_head' ? 'lm_head.weight' : `${module}.weight`;
        const want = hf.weights.get(name)!.data;
        const got = dequantizeNBits(q);
        let amax = 0;
        for (const v of want) amax = Math.max(amax, Math.abs(v));
        assert.ok(maxAbsDiff(got, want) <= amax / 127 * 0.6, `${name}: dequantized within half a Q8_0 step`);
      }
      // the same model in float with the dequantized matrices: MatMulNBits at accuracy level 0 gives its logits
      const deq: RefWeights = new Map(hf.weights);
      for (const [module, q] of m.quant!.modules) {
        const name = module === 'lm_head' ? 'lm_head.weight' : `${module}.weight`;
        deq.set(name, { data: Float64Array.from(dequantizeNBits(q)), shape: hf.weights.get(name)!.shape });
      }
      const dir = path.join(root, `${arch}-q8-dequantized`);
      writeHfFolder(dir, hf.config, deq);
      const ids = seq(9, c.vocab_size, 3);
      const [a] = await new CausalLM(m, { threads: 1, graph: { quantAccuracyLevel: 0 } }).logits([ids]);
      const [b] = await new CausalLM(await loadModel(dir), { threads: 1 }).logits([ids]);
      assert.ok(maxAbsDiff(a, b) < 1e-4, `max |Δlogit| vs the dequantized float model ${maxAbsDiff(a, b)}`);
    });
  }
});
