// GGUF quantized matrices straight into MatMulNBits: tiny Llama GGUFs written here block by block
// (test/helpers/ggml-blocks.ts, from ggml's published block layouts, every field random) load without a
// float copy of their matrices and give the logits of a float64 forward pass on the same blocks
// dequantized by the test's own decoder (within 1e-3 relative; accuracy level 0) — Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, and a Q4_K_M-like mix with an untied head (the embedding gathered from
// its quantized table). Decoding with the KV cache and the fp32 fallback agree.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { gv, GgufMeta, GgufRawTensorSpec, GgufTensorSpec, writeGguf } from '../../helpers/gguf-writer';
import { blockBytes, dequantBlocks, GGML_TYPE_ID, GgmlType, randomBlocks } from '../../helpers/ggml-blocks';
import { referenceForward, RefWeights } from '../../helpers/reference-forward';
import { prng } from '../../helpers/tiny-hf';
import { loadModel } from '../../../src/engine/models/load';
import { buildGraph } from '../../../src/engine/models/graph';
import { readSafetensorsHeader } from '../../../src/engine/formats/safetensors';
import { CausalLM } from '../../../src/engine/runtime/lm';

const dir = tmpDir('idp-gguf-nbits-');
const cacheDir = path.join(dir, 'cache');
const S = { vocab: 48, hidden: 256, layers: 1, heads: 4, kvHeads: 2, ffn: 512, theta: 10000, eps: 1e-5 };
const hd = S.hidden / S.heads;
const seq = (n: number, s: number) => Array.from({ length: n }, (_, i) => (s * 7 + i * 13 + ((i * i) % 5)) % S.vocab);

function relDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let d = 0, m = 0;
  for (let i = 0; i < got.length; i++) { d = Math.max(d, Math.abs(got[i] - want[i])); m = Math.max(m, Math.abs(want[i])); }
  return d / m;
}

/** Rows of an interleaved-rotary matrix [heads·hd, cols] in HF's rotate_half order. */
function toHf(w: Float64Array, heads: number, cols: number): Float64Array {
  const out = new Float64Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      for (let j = 0; j < 2; j++) out.set(w.subarray((h * hd + 2 * i + j) * cols, (h * hd + 2 * i + j + 1) * cols), (h * hd + j * (hd / 2) + i) * cols);
    }
  }
  return out;
}

interface Written { file: string; config: Record<string, unknown>; weights: RefWeights; matrixValues: number }

/** A Llama GGUF whose matrices have the types typeOf(gguf name) gives, and its float64 weights (HF names and layout). */
function writeQuantGguf(name: string, typeOf: (gname: string) => GgmlType, untied: boolean, seed: number): Written {
  const rand = prng(seed);
  const d = S.hidden, kv = S.kvHeads * hd;
  const weights: RefWeights = new Map();
  const tensors: Array<GgufTensorSpec | GgufRawTensorSpec> = [];
  let matrixValues = 0;
  const matrix = (gname: string, hf: string, shape: number[], heads?: number) => {
    const type = typeOf(gname);
    const n = shape[0] * shape[1];
    const raw = randomBlocks(type, n, rand, gname.startsWith('token_embd') || gname.startsWith('output') ? 4 : 1);
    assert.equal(raw.length, blockBytes(type, n));
    tensors.push({ name: gname, shape, ggmlType: GGML_TYPE_ID[type], raw });
    const w = dequantBlocks(type, raw, n);
    weights.set(hf, { data: heads ? toHf(w, heads, shape[1]) : w, shape });
    matrixValues += n;
  };
  const norm = (gname: string, hf: string) => {
    const x = Float32Array.from({ length: d }, () => 0.8 + 0.4 * rand());
    tensors.push({ name: gname, shape: [d], type: 'F32', data: x });
    weights.set(hf, { data: Float64Array.from(x), shape: [d] });
  };
  matrix('token_embd.weight', 'model.embed_tokens.weight', [S.vocab, d]);
  norm('output_norm.weight', 'model.norm.weight');
  if (untied) matrix('output.weight', 'lm_head.weight', [S.vocab, d]);
  for (let l = 0; l < S.layers; l++) {
    const p = `model.layers.${l}.`, b = `blk.${l}.`;
    norm(`${b}attn_norm.weight`, `${p}input_layernorm.weight`);
    matrix(`${b}attn_q.weight`, `${p}self_attn.q_proj.weight`, [d, d], S.heads);
    matrix(`${b}attn_k.weight`, `${p}self_attn.k_proj.weight`, [kv, d], S.kvHeads);
    matrix(`${b}attn_v.weight`, `${p}self_attn.v_proj.weight`, [kv, d]);
    matrix(`${b}attn_output.weight`, `${p}self_attn.o_proj.weight`, [d, d]);
    norm(`${b}ffn_norm.weight`, `${p}post_attention_layernorm.weight`);
    matrix(`${b}ffn_gate.weight`, `${p}mlp.gate_proj.weight`, [S.ffn, d]);
    matrix(`${b}ffn_up.weight`, `${p}mlp.up_proj.weight`, [S.ffn, d]);
    matrix(`${b}ffn_down.weight`, `${p}mlp.down_proj.weight`, [d, S.ffn]);
  }
  const md: Array<[string, GgufMeta]> = [
    ['general.architecture', gv.str('llama')], ['general.name', gv.str(name)], ['llama.context_length', gv.u32(128)],
    ['llama.embedding_length', gv.u32(d)], ['llama.feed_forward_length', gv.u32(S.ffn)], ['llama.block_count', gv.u32(S.layers)],
    ['llama.attention.head_count', gv.u32(S.heads)], ['llama.attention.head_count_kv', gv.u32(S.kvHeads)],
    ['llama.rope.dimension_count', gv.u32(hd)], ['llama.attention.layer_norm_rms_epsilon', gv.f32(S.eps)],
    ['llama.rope.freq_base', gv.f32(S.theta)], ['general.alignment', gv.u32(32)],
  ];
  const file = path.join(dir, `${name}.gguf`);
  writeGguf(file, md, tensors);
  const config = {
    model_type: 'llama', vocab_size: S.vocab, hidden_size: d, intermediate_size: S.ffn, num_hidden_layers: S.layers,
    num_attention_heads: S.heads, num_key_value_heads: S.kvHeads, rms_norm_eps: Math.fround(S.eps), rope_theta: S.theta,
    tie_word_embeddings: !untied, max_position_embeddings: 128, hidden_act: 'silu',
  };
  return { file, config, weights, matrixValues };
}

/** Float initializer elements in the inference graph (weights the session would hold as float). */
function floatInitializerValues(m: Awaited<ReturnType<typeof loadModel>>): number {
  const g = buildGraph(m, { logits: 'last', kvCache: 'capacity' });
  return g.initializers.filter((i) => i.dataType === 1).reduce((a, i) => a + (i.dims ?? []).map(Number).reduce((x, y) => x * y, 1), 0);
}

describe('GGUF quantized tensors → MatMulNBits', function () {
  this.timeout(120000);
  const TYPES: GgmlType[] = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];
  TYPES.forEach((type, i) => {
    it(`${type}: loads without a float copy of the matrices; logits = float64 forward on the blocks (1e-3)`, async () => {
      const w = writeQuantGguf(`all-${type}`, () => type, false, 100 + i);
      const m = await loadModel(w.file, { cacheDir });
      assert.equal(m.quant?.method, 'gguf');
      assert.equal(m.quant!.modules.size, 7 * S.layers + 1);
      for (const q of m.quant!.modules.values()) assert.equal(q.ggmlType, type);
      assert.deepEqual(m.quant!.tables, { 'model.embed_tokens.weight': 'lm_head' });
      // the converted float file holds the norms only; the graph's float weights are scales/offsets, not matrices
      for (const t of readSafetensorsHeader(path.join(m.weightsDir, 'model.safetensors')).tensors.values()) assert.equal(t.shape.length, 1, t.name);
      assert.ok(floatInitializerValues(m) < w.matrixValues / 8, `float initializers ${floatInitializerValues(m)} vs ${w.matrixValues} matrix values`);
      const ids = seq(7, i);
      const want = referenceForward(w.config, w.weights, ids);
      const [got] = await new CausalLM(m, { threads: 1, graph: { quantAccuracyLevel: 0 } }).logits([ids]);
      const rel = relDiff(got, want);
      assert.ok(rel < 1e-3, `accuracy level 0: max |Δlogit| / max |logit| = ${rel}`);
      const [got4] = await new CausalLM(m, { threads: 1 }).logits([ids]);
      assert.ok(relDiff(got4, want) < 0.05, `accuracy level 4: ${relDiff(got4, want)}`);
      if (process.env.IDP_VERBOSE) console.log(`      level 0 ${rel.toExponential(2)}, level 4 ${relDiff(got4, want).toExponential(2)}`);
    });
  });

  it('a Q4_K_M-like mix, untied: Q4_K layers, Q6_K v/down/head, the embedding gathered from its Q4_K table; decode and fp32 fallback agree', async () => {
    const typeOf = (g: string) => (/attn_v|ffn_down|^output/.test(g) ? 'Q6_K' : 'Q4_K') as GgmlType;
    const w = writeQuantGguf('q4km', typeOf, true, 7);
    const m = await loadModel(w.file, { cacheDir });
    assert.deepEqual(m.quant!.tables, { 'model.embed_tokens.weight': 'model.embed_tokens' });
    assert.equal(m.quant!.modules.get('lm_head')!.ggmlType, 'Q6_K');
    assert.equal(m.quant!.modules.get('model.embed_tokens')!.ggmlType, 'Q4_K');
    assert.deepEqual(m.quant!.ggmlTypes, { Q4_K: 1 + 5 * S.layers, Q6_K: 1 + 2 * S.layers });
    assert.ok(floatInitializerValues(m) < w.matrixValues / 8);
    const ids = seq(9, 3);
    const want = referenceForward(w.config, w.weights, ids);
    const lm = new CausalLM(m, { threads: 1, graph: { quantAccuracyLevel: 0 } });
    const [full] = await lm.logits([ids]);
    assert.ok(relDiff(full, want) < 1e-3, `logits ${relDiff(full, want)}`);
    for (const kvCache of ['concat', 'capacity'] as const) {
      const dec = new CausalLM(m, { threads: 1, kvCache, graph: { quantAccuracyLevel: 0 } });
      const st = dec.newState(1);
      const parts: number[] = Array.from((await dec.step(st, [ids.slice(0, 4)], [[true, true, true, true]], 'all')).logits);
      for (let t = 4; t < ids.length; t++) parts.push(...(await dec.step(st, [[ids[t]]], [[true]], 'last')).logits);
      assert.ok(relDiff(parts, full) < 1e-4, `${kvCache}: ${relDiff(parts, full)}`);
    }
    const [fallback] = await new CausalLM(m, { threads: 1, graph: { dequantize: true } }).logits([ids]);
    assert.ok(relDiff(fallback, want) < 1e-3, `fp32 fallback ${relDiff(fallback, want)}`);
  });

  it('the converted cache is reused: a second load converts nothing', async () => {
    const w = writeQuantGguf('again', () => 'Q4_0', false, 9);
    const a = await loadModel(w.file, { cacheDir });
    const nbits = path.join(a.weightsDir, 'nbits.safetensors');
    const mtime = fs.statSync(nbits).mtimeMs;
    const b = await loadModel(w.file, { cacheDir });
    assert.equal(b.weightsDir, a.weightsDir);
    assert.equal(fs.statSync(nbits).mtimeMs, mtime);
  });
});
