// Gemma 2 (model_type gemma2): graph in models/gemma2.ts — embeddings × √hidden, (1 + w) RMSNorms before
// and after attention and MLP, GeGLU (gelu tanh), attention scaled by query_pre_attn_scalar^−½ and
// soft-capped (attn_logit_softcapping), sliding_window on alternate layers (layer_types, else the even
// layers, as transformers), final_logit_softcapping, head_dim independent of hidden / heads, head tied.
// Config defaults are Gemma2Config's (head_dim 256, query_pre_attn_scalar 256, sliding_window 4096,
// softcaps 50 / 30, tie_word_embeddings true, bos 2, eos 1). No GGUF conversion.
//
// HF names: model.embed_tokens.weight, model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj,
// post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm,
// mlp.{gate,up,down}_proj}, model.norm.weight (lm_head.weight only when untied).

import { configError } from '../../errors';
import type { ModelConfig } from '../config';
import { buildGemma2 } from '../gemma2';
import { HfFields, ropeTheta } from './hf-fields';
import { LLAMA_LAYOUT } from './llama';
import type { ArchFamily } from './types';
import { attentionShapes } from './tensor-shapes';

/** A soft cap: a positive number, or absent / null for none. */
function softcap(f: HfFields, key: string, dflt: number): number | undefined {
  if (!(key in f.c)) return dflt;
  return f.has(key) ? f.numOr(key, dflt) : undefined;
}

/** Per-layer windows: layer_types when given, else even layers slide (transformers' Gemma 2 rule). */
function layerWindows(f: HfFields, layers: number, window: number | undefined): Array<number | null> | undefined {
  if (window === undefined) return undefined;
  const types = f.c.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== layers || !types.every((t) => t === 'sliding_attention' || t === 'full_attention')) {
      throw configError(f.file, `"layer_types" must list "sliding_attention" / "full_attention" for each of the ${layers} layers`);
    }
    return types.map((t) => (t === 'sliding_attention' ? window : null));
  }
  return Array.from({ length: layers }, (_, i) => (i % 2 === 0 ? window : null));
}

function parse(f: HfFields, modelType: string, hfArchitecture: string): ModelConfig {
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const numKvHeads = f.intOr('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw configError(f.file, `"num_attention_heads" (${numHeads}) is not a multiple of "num_key_value_heads" (${numKvHeads})`);
  }
  const headDim = f.intOr('head_dim', 256);
  if (headDim % 2 !== 0) throw configError(f.file, `head dimension ${headDim} is odd; rotary embeddings need it even`);
  const numLayers = f.int('num_hidden_layers');
  const window = f.has('sliding_window') ? f.int('sliding_window') : ('sliding_window' in f.c ? undefined : 4096);
  const bias = f.boolOr('attention_bias', false);
  return {
    arch: 'gemma2',
    hfArchitecture,
    modelType,
    vocabSize: f.int('vocab_size'),
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: f.int('intermediate_size'),
    maxPositions: f.intOr('max_position_embeddings', 8192),
    normEps: f.numOr('rms_norm_eps', 1e-6),
    activation: f.activation(f.has('hidden_activation') ? 'hidden_activation' : 'hidden_act', 'gelu_pytorch_tanh'),
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', true),
    bosTokenId: f.tokenId('bos_token_id', 2),
    eosTokenId: f.tokenId('eos_token_id', 1),
    ropeTheta: ropeTheta(f),
    attentionBias: bias,
    oProjBias: bias,
    mlpBias: false,
    attentionScale: f.numOr('query_pre_attn_scalar', 256) ** -0.5,
    attentionSoftcap: softcap(f, 'attn_logit_softcapping', 50),
    finalLogitSoftcap: softcap(f, 'final_logit_softcapping', 30),
    layerWindows: layerWindows(f, numLayers, window),
    // transformers multiplies by torch.tensor(hidden ** 0.5) in the hidden states' dtype: float32 here
    embeddingScale: Math.fround(Math.sqrt(hiddenSize)),
  };
}

function weights(c: ModelConfig, w: Map<string, number[]>): void {
  const d = c.hiddenSize;
  const ff = c.intermediateSize;
  w.set('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    w.set(`${p}input_layernorm.weight`, [d]);
    attentionShapes(w, p, c, { qkv: !!c.attentionBias, o: !!c.attentionBias });   // Gemma 2: one attention_bias for all four
    w.set(`${p}post_attention_layernorm.weight`, [d]);
    w.set(`${p}pre_feedforward_layernorm.weight`, [d]);
    w.set(`${p}post_feedforward_layernorm.weight`, [d]);
    w.set(`${p}mlp.gate_proj.weight`, [ff, d]);
    w.set(`${p}mlp.up_proj.weight`, [ff, d]);
    w.set(`${p}mlp.down_proj.weight`, [d, ff]);
  }
  w.set('model.norm.weight', [d]);
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', [c.vocabSize, d]);
}

export const gemma2: ArchFamily = {
  arch: 'gemma2',
  hfModelTypes: { gemma2: ['Gemma2ForCausalLM', 'Gemma2Model'] },
  parseHfConfig: parse,
  weights,
  minTensorsPerLayer: 11,
  ...LLAMA_LAYOUT,
  build: buildGemma2,
};
