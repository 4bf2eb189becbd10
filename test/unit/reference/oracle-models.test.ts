// The tiny HF folders: config.json fields per family, exact tensor names and shapes, stored dtypes
// (F16/BF16 round-trip), sharding with an index, and determinism.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { referenceForward } from '../../helpers/reference-forward';
import { TINY_SPECS, TinySpecName, writeTinyModel, readHfFolder, tinyWeights } from '../../helpers/oracle-models';

const root = tmpDir('idp-tiny-');
let n = 0;
const fresh = () => path.join(root, `m${n++}`);

function expectedShapes(name: TinySpecName): Record<string, number[]> {
  const s = TINY_SPECS[name] as (typeof TINY_SPECS)[TinySpecName] & Record<string, unknown>;
  const d = s.hiddenSize, V = s.vocabSize, out: Record<string, number[]> = {};
  if (s.modelType === 'gpt2') {
    Object.assign(out, { 'transformer.wte.weight': [V, d], 'transformer.wpe.weight': [64, d], 'transformer.ln_f.weight': [d], 'transformer.ln_f.bias': [d] });
    for (let i = 0; i < s.numLayers; i++) {
      const p = `transformer.h.${i}.`;
      Object.assign(out, {
        [p + 'ln_1.weight']: [d], [p + 'ln_1.bias']: [d], [p + 'ln_2.weight']: [d], [p + 'ln_2.bias']: [d],
        [p + 'attn.c_attn.weight']: [d, 3 * d], [p + 'attn.c_attn.bias']: [3 * d], [p + 'attn.c_proj.weight']: [d, d], [p + 'attn.c_proj.bias']: [d],
        [p + 'mlp.c_fc.weight']: [d, 4 * d], [p + 'mlp.c_fc.bias']: [4 * d], [p + 'mlp.c_proj.weight']: [4 * d, d], [p + 'mlp.c_proj.bias']: [d],
      });
    }
  } else if (s.modelType === 'opt') {
    const e = (s.wordEmbedProjDim as number | undefined) ?? d, ff = s.intermediateSize as number;
    Object.assign(out, { 'model.decoder.embed_tokens.weight': [V, e], 'model.decoder.embed_positions.weight': [66, d] });
    if (e !== d) Object.assign(out, { 'model.decoder.project_in.weight': [d, e], 'model.decoder.project_out.weight': [e, d] });
    if (s.doLayerNormBefore !== false) Object.assign(out, { 'model.decoder.final_layer_norm.weight': [d], 'model.decoder.final_layer_norm.bias': [d] });
    for (let i = 0; i < s.numLayers; i++) {
      const p = `model.decoder.layers.${i}.`;
      for (const m of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) Object.assign(out, { [`${p}self_attn.${m}.weight`]: [d, d], [`${p}self_attn.${m}.bias`]: [d] });
      for (const m of ['self_attn_layer_norm', 'final_layer_norm']) Object.assign(out, { [`${p}${m}.weight`]: [d], [`${p}${m}.bias`]: [d] });
      Object.assign(out, { [p + 'fc1.weight']: [ff, d], [p + 'fc1.bias']: [ff], [p + 'fc2.weight']: [d, ff], [p + 'fc2.bias']: [d] });
    }
  } else {
    const hd = d / s.numHeads, kv = ((s.numKvHeads as number | undefined) ?? s.numHeads) * hd, ff = s.intermediateSize as number;
    Object.assign(out, { 'model.embed_tokens.weight': [V, d], 'model.norm.weight': [d] });
    if (!s.tieWordEmbeddings) out['lm_head.weight'] = [V, d];
    for (let i = 0; i < s.numLayers; i++) {
      const p = `model.layers.${i}.`;
      Object.assign(out, {
        [p + 'input_layernorm.weight']: [d], [p + 'post_attention_layernorm.weight']: [d],
        [p + 'self_attn.q_proj.weight']: [d, d], [p + 'self_attn.k_proj.weight']: [kv, d], [p + 'self_attn.v_proj.weight']: [kv, d],
        [p + 'self_attn.o_proj.weight']: [d, d], [p + 'mlp.gate_proj.weight']: [ff, d], [p + 'mlp.up_proj.weight']: [ff, d], [p + 'mlp.down_proj.weight']: [d, ff],
      });
      if (s.modelType === 'qwen2') Object.assign(out, { [p + 'self_attn.q_proj.bias']: [d], [p + 'self_attn.k_proj.bias']: [kv], [p + 'self_attn.v_proj.bias']: [kv] });
    }
  }
  return out;
}

describe('tiny HF model folders', () => {
  for (const name of Object.keys(TINY_SPECS) as TinySpecName[]) {
    it(`${name}: config.json and tensors read back with HF names and shapes`, () => {
      const dir = fresh();
      const m = writeTinyModel(dir, TINY_SPECS[name]);
      const text = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
      const keys = Object.keys(JSON.parse(text));
      assert.deepStrictEqual(keys, [...keys].sort(), 'keys sorted as save_pretrained writes them');
      const back = readHfFolder(dir);
      assert.deepStrictEqual(back.config, JSON.parse(JSON.stringify(m.config)));
      const want = expectedShapes(name);
      assert.deepStrictEqual([...back.weights.keys()].sort(), Object.keys(want).sort());
      for (const [k, v] of back.weights) {
        assert.deepStrictEqual(v.shape, want[k], k);
        assert.deepStrictEqual(v.data, m.weights.get(k)!.data, k);
        assert.strictEqual(back.dtypes.get(k), 'F32');
      }
      const c = back.config;
      const s = TINY_SPECS[name];
      assert.strictEqual(c.model_type, s.modelType);
      assert.ok(Array.isArray(c.architectures) && c.architectures.length === 1);
      assert.strictEqual(c.torch_dtype, 'float32');
      assert.strictEqual(c.vocab_size, s.vocabSize);
      if (s.modelType === 'gpt2') {
        assert.deepStrictEqual([c.architectures, c.n_embd, c.n_layer, c.n_head, c.n_positions, c.n_inner, c.activation_function, c.layer_norm_epsilon],
          [['GPT2LMHeadModel'], s.hiddenSize, s.numLayers, s.numHeads, 64, null, 'gelu_new', 1e-5]);
        assert.ok(!('tie_word_embeddings' in c) && !('hidden_size' in c));
      } else if (s.modelType === 'opt') {
        assert.deepStrictEqual([c.architectures, c.hidden_size, c.ffn_dim, c.num_hidden_layers, c.num_attention_heads, c.max_position_embeddings,
          c.activation_function, c.enable_bias, c.layer_norm_elementwise_affine],
        [['OPTForCausalLM'], s.hiddenSize, s.intermediateSize, s.numLayers, s.numHeads, 64, 'relu', true, true]);
        assert.strictEqual(c.do_layer_norm_before, name === 'optPreLN');
        assert.strictEqual(c.word_embed_proj_dim, name === 'optPostLN' ? 16 : 32);
        assert.ok(!('tie_word_embeddings' in c));
      } else {
        assert.deepStrictEqual([c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads, c.max_position_embeddings, c.hidden_act],
          [s.hiddenSize, s.intermediateSize, s.numLayers, s.numHeads, 64, 'silu']);
        assert.strictEqual(c.num_key_value_heads, (s as { numKvHeads?: number }).numKvHeads);
        assert.strictEqual(c.tie_word_embeddings, !!(s as { tieWordEmbeddings?: boolean }).tieWordEmbeddings);
        assert.strictEqual(typeof c.rms_norm_eps, 'number');
        assert.strictEqual(typeof c.rope_theta, 'number');
        if (s.modelType === 'llama') assert.deepStrictEqual([c.attention_bias, c.head_dim], [false, s.hiddenSize / s.numHeads]);
        if (s.modelType === 'qwen2') assert.ok(!('attention_bias' in c) && !('head_dim' in c));
      }
      assert.ok(m.files.every((f) => fs.existsSync(path.join(dir, f))));
    });
  }

  it('llamaGqa really is GQA and untied; llamaTied and qwen2 store no lm_head', () => {
    assert.strictEqual(TINY_SPECS.llamaGqa.numHeads, 4);
    assert.strictEqual(TINY_SPECS.llamaGqa.numKvHeads, 2);
    assert.ok(tinyWeights(TINY_SPECS.llamaGqa).has('lm_head.weight'));
    assert.ok(!tinyWeights(TINY_SPECS.llamaTied).has('lm_head.weight'));
    assert.ok(!tinyWeights(TINY_SPECS.qwen2).has('lm_head.weight'));
    assert.ok(!tinyWeights(TINY_SPECS.qwen2).has('model.layers.0.self_attn.o_proj.bias'));
  });

  for (const dtype of ['F16', 'BF16'] as const) {
    it(`${dtype}: stored values round-trip exactly and stay within one rounding of F32`, () => {
      const f32 = writeTinyModel(fresh(), TINY_SPECS.qwen2);
      const dir = fresh();
      const m = writeTinyModel(dir, { ...TINY_SPECS.qwen2, dtype });
      const back = readHfFolder(dir);
      assert.strictEqual(back.config.torch_dtype, dtype === 'F16' ? 'float16' : 'bfloat16');
      const rel = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
      for (const [k, v] of back.weights) {
        assert.strictEqual(back.dtypes.get(k), dtype);
        assert.deepStrictEqual(v.data, m.weights.get(k)!.data, k);
        const ref = f32.weights.get(k)!.data;
        for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(v.data[i] - ref[i]) <= Math.abs(ref[i]) * rel + 2 ** -24, `${k}[${i}]`);
      }
      const x = [1, 5, 9, 40];
      const a = referenceForward(back.config, back.weights, x), b = referenceForward(f32.config, f32.weights, x);
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
      assert.ok(diff > 0 && diff < (dtype === 'F16' ? 0.05 : 0.3), `logit drift ${diff}`);
    });
  }

  it('sharded: two files and an index whose weight_map covers every tensor', () => {
    const one = writeTinyModel(fresh(), TINY_SPECS.optPostLN);
    const dir = fresh();
    const m = writeTinyModel(dir, { ...TINY_SPECS.optPostLN, sharded: true });
    assert.deepStrictEqual(m.files, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    assert.ok(!fs.existsSync(path.join(dir, 'model.safetensors')));
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.deepStrictEqual(new Set(Object.values(index.weight_map)), new Set(m.files));
    assert.strictEqual(typeof index.metadata.total_size, 'number');
    const back = readHfFolder(dir);
    assert.deepStrictEqual([...back.weights.keys()].sort(), [...one.weights.keys()].sort());
    for (const [k, v] of back.weights) assert.deepStrictEqual(v.data, one.weights.get(k)!.data);
  });

  it('deterministic per seed; edit() reaches the file; scale multiplies the spread', () => {
    const a = tinyWeights(TINY_SPECS.gpt2), b = tinyWeights(TINY_SPECS.gpt2), c = tinyWeights({ ...TINY_SPECS.gpt2, seed: 99 });
    for (const [k, v] of a) assert.deepStrictEqual(v.data, b.get(k)!.data);
    assert.notDeepStrictEqual(a.get('transformer.wte.weight')!.data, c.get('transformer.wte.weight')!.data);
    const bias = a.get('transformer.h.0.attn.c_attn.bias')!.data;
    assert.ok(bias.some((x) => x !== 0), 'biases are non-zero');
    const ln = a.get('transformer.ln_f.weight')!.data;
    assert.ok(ln.every((x) => x > 0.5 && x < 1.5) && ln.some((x) => x !== 1), 'norm weights near 1, with noise');
    const dir = fresh();
    const m = writeTinyModel(dir, { ...TINY_SPECS.gpt2, edit: (w) => w.get('transformer.ln_f.bias')!.data.fill(0.25) });
    assert.ok(readHfFolder(dir).weights.get('transformer.ln_f.bias')!.data.every((x) => x === 0.25));
    assert.ok(m.weights.get('transformer.ln_f.bias')!.data.every((x) => x === 0.25));
    const big = tinyWeights({ ...TINY_SPECS.gpt2, scale: 2 }).get('transformer.wte.weight')!.data;
    const wte = a.get('transformer.wte.weight')!.data;
    assert.ok(big.every((x, i) => Math.abs(x - 2 * wte[i]) < 1e-12));
  });
});
