// The Llama family: Llama 1/2/3, SmolLM, TinyLlama (model_type llama), Mistral (mistral) and Qwen2
// (qwen2); GGUF `llama` / `qwen2` / `mistral` and llama2.c checkpoints are converted into it
// (arch/llama-gguf.ts). Pre-norm RMSNorm, rotate-half RoPE, GQA, SwiGLU MLP, optional q/k/v(/o)
// biases, tied or untied head; graph in models/llama.ts.
//
// HF names: model.embed_tokens.weight, model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj,
// post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm.weight, lm_head.weight.
// Config defaults are those of LlamaConfig / MistralConfig / Qwen2Config (tie_word_embeddings false).
// Mistral's sliding window is applied by the runtime's attention bias (ModelConfig.slidingWindow).

import { unsupported } from '../../errors';
import type { ModelConfig } from '../config';
import { buildLlama } from '../llama';
import { attentionShape, HfFields, ropeTheta } from './hf-fields';
import { LLAMA_GGUF } from './llama-gguf';
import type { ArchFamily } from './types';
import { attentionShapes } from './tensor-shapes';

/** Per model_type: the default context length and q/k/v and o biases. */
const TYPES: Record<string, { maxPos: number; bias: boolean; oBias: boolean }> = {
  llama: { maxPos: 2048, bias: false, oBias: false },
  mistral: { maxPos: 4096 * 32, bias: false, oBias: false },
  qwen2: { maxPos: 32768, bias: true, oBias: false },
};

function parse(f: HfFields, modelType: string, hfArchitecture: string): ModelConfig {
  const fam = TYPES[modelType];
  const hiddenSize = f.int('hidden_size');
  const { numHeads, numKvHeads, headDim } = attentionShape(f, hiddenSize);
  if (modelType === 'qwen2' && f.c.use_sliding_window === true) {
    throw unsupported('Qwen2 with use_sliding_window=true (per-layer windows) is not supported', f.file);
  }
  const window = modelType === 'mistral' && typeof f.c.sliding_window === 'number' ? f.intOr('sliding_window', 1) : undefined;
  const isLlama = modelType === 'llama';
  const attentionBias = modelType === 'qwen2' ? true : isLlama ? f.boolOr('attention_bias', false) : fam.bias;
  return {
    arch: 'llama',
    hfArchitecture,
    modelType,
    vocabSize: f.int('vocab_size'),
    hiddenSize,
    numLayers: f.int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: f.int('intermediate_size'),
    maxPositions: f.intOr('max_position_embeddings', fam.maxPos),
    normEps: f.numOr('rms_norm_eps', 1e-6),
    activation: f.activation('hidden_act', 'silu'),
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', false),
    bosTokenId: f.tokenId('bos_token_id', isLlama ? 1 : undefined),
    eosTokenId: f.tokenId('eos_token_id', isLlama ? 2 : undefined),
    ropeTheta: ropeTheta(f),
    attentionBias,
    oProjBias: isLlama ? attentionBias : fam.oBias,
    mlpBias: isLlama ? f.boolOr('mlp_bias', false) : false,
    slidingWindow: window,
  };
}

/** The config.json of a Llama-family ModelConfig (converted GGUF / llama2.c folders are ordinary HF checkpoints). */
export function llamaConfigJson(cfg: ModelConfig): Record<string, unknown> {
  if (cfg.arch !== 'llama') throw new Error(`llamaConfigJson: arch ${cfg.arch}`);
  const out: Record<string, unknown> = {
    architectures: [cfg.hfArchitecture],
    model_type: cfg.modelType,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    max_position_embeddings: cfg.maxPositions,
    rms_norm_eps: cfg.normEps,
    rope_theta: cfg.ropeTheta ?? 10000,
    hidden_act: cfg.activation,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    attention_bias: cfg.attentionBias ?? false,
    mlp_bias: cfg.mlpBias ?? false,
    torch_dtype: 'float32',
  };
  if (cfg.slidingWindow !== undefined) out.sliding_window = cfg.slidingWindow;
  if (cfg.bosTokenId !== undefined) out.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenId !== undefined) out.eos_token_id = cfg.eosTokenId;
  return out;
}

function weights(c: ModelConfig, w: Map<string, number[]>): void {
  const d = c.hiddenSize;
  const inter = c.intermediateSize;
  w.set('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    w.set(`${p}input_layernorm.weight`, [d]);
    attentionShapes(w, p, c, { qkv: !!c.attentionBias, o: !!c.oProjBias });
    w.set(`${p}post_attention_layernorm.weight`, [d]);
    w.set(`${p}mlp.gate_proj.weight`, [inter, d]);
    w.set(`${p}mlp.up_proj.weight`, [inter, d]);
    w.set(`${p}mlp.down_proj.weight`, [d, inter]);
    if (c.mlpBias) {
      w.set(`${p}mlp.gate_proj.bias`, [inter]);
      w.set(`${p}mlp.up_proj.bias`, [inter]);
      w.set(`${p}mlp.down_proj.bias`, [d]);
    }
  }
  w.set('model.norm.weight', [d]);
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', [c.vocabSize, d]);
}

/**
 * Checkpoints saved from the base model lack the `model.` prefix ("layers.0…" in some exports);
 * the rotary inv_freq buffer of old checkpoints is not a weight.
 */
export function llamaNormalizeName(name: string): string | null {
  if (name.endsWith('.rotary_emb.inv_freq')) return null;
  if (/^(layers\.|embed_tokens\.|norm\.)/.test(name)) return `model.${name}`;
  return name;
}

/** The output projection: lm_head, or the embedding it is tied to. */
export const llamaHead = (cfg: ModelConfig, has: (n: string) => boolean) =>
  (cfg.tieWordEmbeddings || !has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight');

/**
 * What every family with Llama's layout shares (model.layers.N, model.embed_tokens, lm_head or tied, the
 * q/k/v/o and gate/up/down module names, BOS first); a family spreads it and overrides what differs.
 */
export const LLAMA_LAYOUT = {
  normalizeWeightName: llamaNormalizeName,
  layers: 'model.layers',
  graphLayer: 'layers',
  linearLayout: 'linear',
  tokenEmbedding: (cfg: ModelConfig) => ({ name: 'model.embed_tokens.weight', width: cfg.hiddenSize }),
  headWeight: llamaHead,
  loraTargets: { q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj', gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj' },
  bos: 'bos',
  vocabMergesTokenizer: false,
} satisfies Partial<ArchFamily>;

export const llama: ArchFamily = {
  arch: 'llama',
  hfModelTypes: {
    llama: ['LlamaForCausalLM', 'LlamaModel'],
    mistral: ['MistralForCausalLM', 'MistralModel'],
    qwen2: ['Qwen2ForCausalLM', 'Qwen2Model'],
  },
  parseHfConfig: parse,
  hfConfigJson: llamaConfigJson,
  weights,
  minTensorsPerLayer: 9,
  ...LLAMA_LAYOUT,
  build: buildLlama,
  gguf: LLAMA_GGUF,
};
