// OPT (model_type opt): learned positions at position + 2, ReLU MLP fc1/fc2, LayerNorm with bias, pre-LN
// (do_layer_norm_before) or post-LN (OPT-350m), project_in/project_out when the embedding width
// (word_embed_proj_dim) differs from the hidden size; graph in models/opt.ts.
//
// HF names: model.decoder.{embed_tokens, embed_positions, project_in, project_out, final_layer_norm},
// model.decoder.layers.{i}.{self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2,
// final_layer_norm}, lm_head.weight. Config defaults are OPTConfig's (tie_word_embeddings true).

import { unsupported } from '../../errors';
import type { ModelConfig } from '../config';
import { buildOpt } from '../opt';
import type { HfFields } from './hf-fields';
import type { ArchFamily } from './types';

function parse(f: HfFields, _modelType: string, hfArchitecture: string): ModelConfig {
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  if (!f.boolOr('layer_norm_elementwise_affine', true)) {
    throw unsupported('OPT with layer_norm_elementwise_affine=false is not supported', f.file);
  }
  if (f.boolOr('_remove_final_layer_norm', false)) {
    throw unsupported('OPT with _remove_final_layer_norm=true is not supported', f.file);
  }
  const bias = f.boolOr('enable_bias', true);
  const proj = f.intOr('word_embed_proj_dim', hiddenSize);
  const cfg: ModelConfig = {
    arch: 'opt',
    hfArchitecture,
    modelType: 'opt',
    vocabSize: f.int('vocab_size'),
    hiddenSize,
    numLayers: f.int('num_hidden_layers'),
    numHeads,
    numKvHeads: numHeads,
    headDim: f.divide(hiddenSize, 'hidden_size', numHeads, 'num_attention_heads'),
    intermediateSize: f.int('ffn_dim'),
    maxPositions: f.intOr('max_position_embeddings', 2048),
    normEps: 1e-5,
    activation: f.activation('activation_function', 'relu'),
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', true),
    bosTokenId: f.tokenId('bos_token_id', 2),
    eosTokenId: f.tokenId('eos_token_id', 2),
    attentionBias: bias,
    oProjBias: bias,
    mlpBias: bias,
    doLayerNormBefore: f.boolOr('do_layer_norm_before', true),
    positionOffset: 2,
  };
  if (proj !== hiddenSize) cfg.wordEmbedProjDim = proj;
  return cfg;
}

function weights(c: ModelConfig, w: Map<string, number[]>): void {
  const d = c.hiddenSize;
  const e = c.wordEmbedProjDim ?? d;
  const inter = c.intermediateSize;
  const bias = c.attentionBias !== false;
  const mlpBias = c.mlpBias !== false;
  const p0 = 'model.decoder.';
  w.set(`${p0}embed_tokens.weight`, [c.vocabSize, e]);
  w.set(`${p0}embed_positions.weight`, [c.maxPositions + (c.positionOffset ?? 2), d]);
  if (e !== d) {
    w.set(`${p0}project_in.weight`, [d, e]);
    w.set(`${p0}project_out.weight`, [e, d]);
  }
  for (let i = 0; i < c.numLayers; i++) {
    const p = `${p0}layers.${i}.`;
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      w.set(`${p}self_attn.${n}.weight`, [d, d]);
      if (bias) w.set(`${p}self_attn.${n}.bias`, [d]);
    }
    w.set(`${p}self_attn_layer_norm.weight`, [d]);
    w.set(`${p}self_attn_layer_norm.bias`, [d]);
    w.set(`${p}fc1.weight`, [inter, d]);
    if (mlpBias) w.set(`${p}fc1.bias`, [inter]);
    w.set(`${p}fc2.weight`, [d, inter]);
    if (mlpBias) w.set(`${p}fc2.bias`, [d]);
    w.set(`${p}final_layer_norm.weight`, [d]);
    w.set(`${p}final_layer_norm.bias`, [d]);
  }
  if (c.doLayerNormBefore !== false) {
    w.set(`${p0}final_layer_norm.weight`, [d]);
    w.set(`${p0}final_layer_norm.bias`, [d]);
  }
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', [c.vocabSize, e]);
}

export const opt: ArchFamily = {
  arch: 'opt',
  hfModelTypes: { opt: ['OPTForCausalLM', 'OPTModel'] },
  parseHfConfig: parse,
  weights,
  minTensorsPerLayer: 10,
  // some OPT files hold the base model's names ("decoder.layers.0…")
  normalizeWeightName: (name) => (name.startsWith('decoder.') ? `model.${name}` : name),
  layers: 'model.decoder.layers',
  graphLayer: 'layers',
  linearLayout: 'linear',
  tokenEmbedding: (cfg) => ({ name: 'model.decoder.embed_tokens.weight', width: cfg.wordEmbedProjDim ?? cfg.hiddenSize }),
  headWeight: (cfg, has) => (cfg.tieWordEmbeddings || !has('lm_head.weight') ? 'model.decoder.embed_tokens.weight' : 'lm_head.weight'),
  loraTargets: { q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.out_proj', up: 'fc1', down: 'fc2' },
  bos: 'bos',
  vocabMergesTokenizer: true,
  build: buildOpt,
};
