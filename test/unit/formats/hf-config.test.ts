// config.json → ModelConfig per family, defaults, refusals; and the HF tensor list per architecture.

import { strict as assert } from 'assert';
import { parseHfConfig } from '../../../src/engine/models/hf-config';
import { expectedWeights, normalizeWeightName } from '../../../src/engine/models/weights';
import { expectIdpError, tinyConfig } from '../../helpers/tiny-hf';

const F = '/models/x/config.json';

describe('parseHfConfig', () => {
  it('llama: sizes, GQA, defaults (untied, theta 10000, eps 1e-6 when absent)', () => {
    const c = parseHfConfig({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008,
      num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
    }, F);
    assert.equal(c.arch, 'llama');
    assert.equal(c.hfArchitecture, 'LlamaForCausalLM');
    assert.equal(c.headDim, 128);
    assert.equal(c.numKvHeads, 8);
    assert.equal(c.tieWordEmbeddings, false);
    assert.equal(c.ropeTheta, 10000);
    assert.equal(c.normEps, 1e-6);
    assert.equal(c.maxPositions, 2048);
    assert.equal(c.activation, 'silu');
    assert.equal(c.attentionBias, false);
    assert.equal(c.bosTokenId, 1);
    assert.equal(c.eosTokenId, 2);
  });

  it('llama: num_key_value_heads defaults to num_attention_heads; head_dim override; biases; eos list', () => {
    const c = parseHfConfig({
      model_type: 'llama', vocab_size: 10, hidden_size: 64, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 4,
      head_dim: 32, attention_bias: true, mlp_bias: true, eos_token_id: [7, 9], tie_word_embeddings: true, rope_theta: 5e5,
    }, F);
    assert.equal(c.numKvHeads, 4);
    assert.equal(c.headDim, 32);
    assert.equal(c.attentionBias, true);
    assert.equal(c.oProjBias, true);
    assert.equal(c.mlpBias, true);
    assert.equal(c.eosTokenId, 7);
    assert.equal(c.tieWordEmbeddings, true);
    assert.equal(c.ropeTheta, 5e5);
    const w = expectedWeights(c);
    assert.deepEqual(w.get('model.layers.0.self_attn.q_proj.weight'), [128, 64]);
    assert.deepEqual(w.get('model.layers.0.self_attn.o_proj.weight'), [64, 128]);
    assert.deepEqual(w.get('model.layers.0.self_attn.o_proj.bias'), [64]);
    assert.deepEqual(w.get('model.layers.0.mlp.down_proj.bias'), [64]);
    assert.ok(!w.has('lm_head.weight'));
  });

  it('qwen2: q/k/v bias, no o bias; mistral: no bias', () => {
    const q = parseHfConfig(tinyConfig('qwen2'), F);
    assert.equal(q.modelType, 'qwen2');
    assert.equal(q.attentionBias, true);
    assert.equal(q.oProjBias, false);
    assert.equal(q.ropeTheta, 1e6);
    const w = expectedWeights(q);
    assert.deepEqual(w.get('model.layers.1.self_attn.k_proj.bias'), [16]);
    assert.ok(!w.has('model.layers.1.self_attn.o_proj.bias'));
    const m = parseHfConfig(tinyConfig('mistral'), F);
    assert.equal(m.attentionBias, false);
    assert.equal(m.numKvHeads, 1);
    assert.equal(expectedWeights(m).size, 1 + 2 * 9 + 2);
  });

  it('llama tensor list: names and shapes', () => {
    const c = parseHfConfig(tinyConfig('llama'), F);
    const w = expectedWeights(c);
    assert.equal(w.size, 1 + 2 * 9 + 1 + 1);
    assert.deepEqual(w.get('model.embed_tokens.weight'), [48, 32]);
    assert.deepEqual(w.get('model.layers.1.input_layernorm.weight'), [32]);
    assert.deepEqual(w.get('model.layers.1.self_attn.k_proj.weight'), [16, 32]);
    assert.deepEqual(w.get('model.layers.1.mlp.gate_proj.weight'), [40, 32]);
    assert.deepEqual(w.get('model.layers.1.mlp.down_proj.weight'), [32, 40]);
    assert.deepEqual(w.get('model.norm.weight'), [32]);
    assert.deepEqual(w.get('lm_head.weight'), [48, 32]);
  });

  it('opt: ReLU, positions +2, tied, final LN only with pre-LN, project_in/out when word_embed_proj_dim differs', () => {
    const c = parseHfConfig(tinyConfig('opt'), F);
    assert.equal(c.arch, 'opt');
    assert.equal(c.activation, 'relu');
    assert.equal(c.positionOffset, 2);
    assert.equal(c.tieWordEmbeddings, true);
    assert.equal(c.doLayerNormBefore, true);
    assert.equal(c.wordEmbedProjDim, undefined);
    assert.equal(c.normEps, 1e-5);
    const w = expectedWeights(c);
    assert.deepEqual(w.get('model.decoder.embed_positions.weight'), [18, 32]);
    assert.deepEqual(w.get('model.decoder.layers.0.self_attn.out_proj.bias'), [32]);
    assert.deepEqual(w.get('model.decoder.layers.0.fc1.weight'), [64, 32]);
    assert.deepEqual(w.get('model.decoder.final_layer_norm.bias'), [32]);
    assert.ok(!w.has('model.decoder.project_in.weight'));
    assert.ok(!w.has('lm_head.weight'));

    const p = parseHfConfig(tinyConfig('opt350'), F);
    assert.equal(p.doLayerNormBefore, false);
    assert.equal(p.wordEmbedProjDim, 16);
    const wp = expectedWeights(p);
    assert.deepEqual(wp.get('model.decoder.embed_tokens.weight'), [48, 16]);
    assert.deepEqual(wp.get('model.decoder.project_in.weight'), [32, 16]);
    assert.deepEqual(wp.get('model.decoder.project_out.weight'), [16, 32]);
    assert.ok(!wp.has('model.decoder.final_layer_norm.weight'));

    const nb = expectedWeights(parseHfConfig({ ...tinyConfig('opt'), enable_bias: false }, F));
    assert.ok(!nb.has('model.decoder.layers.0.self_attn.q_proj.bias'));
    assert.ok(!nb.has('model.decoder.layers.0.fc1.bias'));
    assert.ok(nb.has('model.decoder.layers.0.self_attn_layer_norm.bias'));
  });

  it('gpt2: n_* fields, n_inner default 4·d, gelu_new, Conv1D shapes, tied', () => {
    const c = parseHfConfig(tinyConfig('gpt2'), F);
    assert.equal(c.arch, 'gpt2');
    assert.equal(c.intermediateSize, 128);
    assert.equal(c.maxPositions, 16);
    assert.equal(c.activation, 'gelu_new');
    assert.equal(c.tieWordEmbeddings, true);
    assert.equal(c.bosTokenId, 50256);
    const w = expectedWeights(c);
    assert.equal(w.size, 2 + 2 * 12 + 2);
    assert.deepEqual(w.get('transformer.wpe.weight'), [16, 32]);
    assert.deepEqual(w.get('transformer.h.0.attn.c_attn.weight'), [32, 96]);
    assert.deepEqual(w.get('transformer.h.0.attn.c_attn.bias'), [96]);
    assert.deepEqual(w.get('transformer.h.1.mlp.c_fc.weight'), [32, 128]);
    assert.deepEqual(w.get('transformer.h.1.mlp.c_proj.weight'), [128, 32]);
    assert.deepEqual(w.get('transformer.ln_f.bias'), [32]);
    assert.equal(parseHfConfig({ ...tinyConfig('gpt2'), n_inner: null }, F).intermediateSize, 128);
  });

  it('model_type inferred from architectures when absent', () => {
    const { model_type: _, ...rest } = tinyConfig('gpt2');
    assert.equal(parseHfConfig(rest, F).modelType, 'gpt2');
  });

  it('name normalization: hub GPT-2, OPT without model., Llama buffers', () => {
    const g = parseHfConfig(tinyConfig('gpt2'), F);
    assert.equal(normalizeWeightName(g, 'h.0.attn.c_attn.weight'), 'transformer.h.0.attn.c_attn.weight');
    assert.equal(normalizeWeightName(g, 'wte.weight'), 'transformer.wte.weight');
    assert.equal(normalizeWeightName(g, 'h.3.attn.bias'), null);
    assert.equal(normalizeWeightName(g, 'transformer.h.3.attn.masked_bias'), null);
    assert.equal(normalizeWeightName(g, 'transformer.h.3.attn.c_attn.bias'), 'transformer.h.3.attn.c_attn.bias');
    const o = parseHfConfig(tinyConfig('opt'), F);
    assert.equal(normalizeWeightName(o, 'decoder.layers.0.fc1.weight'), 'model.decoder.layers.0.fc1.weight');
    const l = parseHfConfig(tinyConfig('llama'), F);
    assert.equal(normalizeWeightName(l, 'model.layers.0.self_attn.rotary_emb.inv_freq'), null);
    assert.equal(normalizeWeightName(l, 'layers.0.mlp.up_proj.weight'), 'model.layers.0.mlp.up_proj.weight');
    assert.equal(normalizeWeightName(l, 'lm_head.weight'), 'lm_head.weight');
  });
});

describe('parseHfConfig refusals', () => {
  const base = tinyConfig('llama');
  const without = (k: string) => Object.fromEntries(Object.entries(base).filter(([x]) => x !== k));

  for (const key of ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'vocab_size', 'intermediate_size']) {
    it(`missing "${key}" → CONFIG naming the field and the file`, async () => {
      await expectIdpError(() => parseHfConfig(without(key), F), 'CONFIG', F, new RegExp(`missing "${key}"`));
    });
  }
  it('non-positive and non-integer sizes → CONFIG', async () => {
    await expectIdpError(() => parseHfConfig({ ...base, hidden_size: 0 }, F), 'CONFIG', F, /"hidden_size" must be a positive integer/);
    await expectIdpError(() => parseHfConfig({ ...base, num_hidden_layers: -3 }, F), 'CONFIG', F);
    await expectIdpError(() => parseHfConfig({ ...base, vocab_size: 1.5 }, F), 'CONFIG', F);
    await expectIdpError(() => parseHfConfig({ ...base, vocab_size: '48' }, F), 'CONFIG', F);
    await expectIdpError(() => parseHfConfig({ ...base, rms_norm_eps: -1 }, F), 'CONFIG', F);
  });
  it('inconsistent heads → CONFIG', async () => {
    await expectIdpError(() => parseHfConfig({ ...base, num_attention_heads: 5 }, F), 'CONFIG', F, /divisible/);
    await expectIdpError(() => parseHfConfig({ ...base, num_key_value_heads: 3 }, F), 'CONFIG', F, /multiple/);
  });
  it('gpt2 / opt missing fields', async () => {
    const g = tinyConfig('gpt2');
    delete g.n_embd;
    await expectIdpError(() => parseHfConfig(g, F), 'CONFIG', F, /missing "n_embd"/);
    const o = tinyConfig('opt');
    delete o.ffn_dim;
    await expectIdpError(() => parseHfConfig(o, F), 'CONFIG', F, /missing "ffn_dim"/);
  });
  it('unknown model_type / architecture → UNSUPPORTED naming it', async () => {
    await expectIdpError(() => parseHfConfig({ ...base, model_type: 'falcon', architectures: ['FalconForCausalLM'] }, F), 'UNSUPPORTED', F, /falcon/);
    await expectIdpError(() => parseHfConfig({ ...base, architectures: ['LlamaForSequenceClassification'] }, F), 'UNSUPPORTED', F, /LlamaForSequenceClassification/);
    await expectIdpError(() => parseHfConfig({ architectures: ['BertModel'] }, F), 'UNSUPPORTED', F, /BertModel/);
    await expectIdpError(() => parseHfConfig({}, F), 'CONFIG', F, /missing "model_type"/);
    await expectIdpError(() => parseHfConfig([], F), 'CONFIG', F);
  });
  it('features the graphs do not implement → UNSUPPORTED', async () => {
    await expectIdpError(() => parseHfConfig({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }, F), 'UNSUPPORTED', F, /llama3/);
    await expectIdpError(() => parseHfConfig({ ...base, hidden_act: 'quick_gelu' }, F), 'UNSUPPORTED', F, /quick_gelu/);
    await expectIdpError(() => parseHfConfig({ ...tinyConfig('gpt2'), scale_attn_by_inverse_layer_idx: true }, F), 'UNSUPPORTED', F);
    await expectIdpError(() => parseHfConfig({ ...tinyConfig('opt'), layer_norm_elementwise_affine: false }, F), 'UNSUPPORTED', F);
  });
});
