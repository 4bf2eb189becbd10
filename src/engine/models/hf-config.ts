// Hugging Face config.json → ModelConfig for the families we build graphs for:
//   llama (also SmolLM, TinyLlama), mistral, qwen2  → arch 'llama'
//   opt                                              → arch 'opt'
//   gpt2                                             → arch 'gpt2'
//
// Size fields (hidden size, layers, heads, vocab, MLP width) are required: a config without them
// is refused with a CONFIG error naming the field, instead of silently taking a class default that
// would not match the weights. Optional fields take the defaults of the transformers config class of
// that family (e.g. tie_word_embeddings: false for Llama/Mistral/Qwen2, true for OPT/GPT-2).
// Features whose math our graphs do not implement (rope scaling, GPT-2 per-layer attention
// scaling, OPT without affine LayerNorm …) are refused as UNSUPPORTED rather than run wrongly.
// Mistral's sliding window is applied by the runtime's attention bias (ModelConfig.slidingWindow).

import { configError, unsupported } from '../errors';
import { checkModelLimits } from '../formats/limits';
import type { Activation, ModelConfig } from './config';

type Json = Record<string, unknown>;

const LLAMA_TYPES: Record<string, { arch: string; maxPos: number; bias: boolean; oBias: boolean }> = {
  llama: { arch: 'LlamaForCausalLM', maxPos: 2048, bias: false, oBias: false },
  mistral: { arch: 'MistralForCausalLM', maxPos: 4096 * 32, bias: false, oBias: false },
  qwen2: { arch: 'Qwen2ForCausalLM', maxPos: 32768, bias: true, oBias: false },
};

/** Architectures (HF `architectures[0]`) we accept, per model_type. Base models (no head) too. */
const KNOWN_ARCHS: Record<string, string[]> = {
  llama: ['LlamaForCausalLM', 'LlamaModel'],
  mistral: ['MistralForCausalLM', 'MistralModel'],
  qwen2: ['Qwen2ForCausalLM', 'Qwen2Model'],
  opt: ['OPTForCausalLM', 'OPTModel'],
  gpt2: ['GPT2LMHeadModel', 'GPT2Model'],
};

const ARCH_TO_TYPE: Record<string, string> = {};
for (const [t, list] of Object.entries(KNOWN_ARCHS)) for (const a of list) ARCH_TO_TYPE[a] = t;

class Fields {
  constructor(private readonly c: Json, private readonly file: string) {}

  has(key: string): boolean {
    return this.c[key] !== undefined && this.c[key] !== null;
  }

  /** A required positive integer. */
  int(key: string): number {
    if (!this.has(key)) throw configError(this.file, `missing "${key}"`);
    return this.posInt(key, this.c[key]);
  }

  /** An optional positive integer with a default. */
  intOr(key: string, dflt: number): number {
    return this.has(key) ? this.posInt(key, this.c[key]) : dflt;
  }

  numOr(key: string, dflt: number, positive = true): number {
    if (!this.has(key)) return dflt;
    const v = this.c[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) {
      throw configError(this.file, `"${key}" must be a ${positive ? 'positive ' : ''}number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  boolOr(key: string, dflt: boolean): boolean {
    if (!this.has(key)) return dflt;
    const v = this.c[key];
    if (typeof v !== 'boolean') throw configError(this.file, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  strOr(key: string, dflt: string): string {
    if (!this.has(key)) return dflt;
    const v = this.c[key];
    if (typeof v !== 'string') throw configError(this.file, `"${key}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** Token id: a non-negative integer, or a list of them (the first is used); absent → default. */
  tokenId(key: string, dflt: number | undefined): number | undefined {
    if (!this.has(key)) return dflt;
    let v = this.c[key];
    if (Array.isArray(v)) v = v[0];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw configError(this.file, `"${key}" must be a token id, got ${JSON.stringify(this.c[key])}`);
    }
    return v;
  }

  private posInt(key: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw configError(this.file, `"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }
}

function activation(name: string, file: string, key: string): Activation {
  switch (name) {
    case 'silu': case 'swish': return 'silu';
    case 'relu': return 'relu';
    case 'gelu': return 'gelu';
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast': return 'gelu_new';
    default: throw unsupported(`activation ${key}="${name}" is not supported (silu, relu, gelu, gelu_new)`, file);
  }
}

function divide(file: string, a: number, aKey: string, b: number, bKey: string): number {
  if (a % b !== 0) throw configError(file, `"${aKey}" (${a}) is not divisible by "${bKey}" (${b})`);
  return a / b;
}

/**
 * Rotary base. transformers ≤ 4 writes `rope_theta` (+ optional `rope_scaling`); transformers 5 writes
 * `rope_parameters: {rope_type, rope_theta}` instead. Only unscaled ("default") rotary is implemented:
 * any other type (linear, dynamic, yarn, llama3, …) is refused rather than silently run wrong.
 */
function ropeTheta(f: Fields, c: Json, file: string): number {
  for (const key of ['rope_scaling', 'rope_parameters']) {
    const r = c[key];
    if (r === undefined || r === null) continue;
    if (typeof r !== 'object' || Array.isArray(r)) throw configError(file, `"${key}" must be an object, got ${JSON.stringify(r)}`);
    const t = (r as Json).rope_type ?? (r as Json).type ?? 'default';
    if (t !== 'default') throw unsupported(`${key} of type ${JSON.stringify(t)} is not supported (only unscaled rotary embeddings)`, file);
  }
  const params = c.rope_parameters as Json | undefined | null;
  if (params && params.rope_theta !== undefined) {
    const v = params.rope_theta;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw configError(file, `"rope_parameters.rope_theta" must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }
  return f.numOr('rope_theta', 10000);
}

function parseLlama(f: Fields, c: Json, modelType: string, hfArchitecture: string, file: string): ModelConfig {
  const fam = LLAMA_TYPES[modelType];
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const numKvHeads = f.intOr('num_key_value_heads', numHeads);
  const headDim = f.has('head_dim') ? f.int('head_dim') : divide(file, hiddenSize, 'hidden_size', numHeads, 'num_attention_heads');
  if (numHeads % numKvHeads !== 0) {
    throw configError(file, `"num_attention_heads" (${numHeads}) is not a multiple of "num_key_value_heads" (${numKvHeads})`);
  }
  if (headDim % 2 !== 0) throw configError(file, `head dimension ${headDim} is odd; rotary embeddings need it even`);
  if (modelType === 'qwen2' && c.use_sliding_window === true) {
    throw unsupported('Qwen2 with use_sliding_window=true (per-layer windows) is not supported', file);
  }
  const window = modelType === 'mistral' && typeof c.sliding_window === 'number' ? c.sliding_window : undefined;
  if (window !== undefined && !(Number.isInteger(window) && window > 0)) throw configError(file, `"sliding_window" must be a positive integer, got ${window}`);
  const attentionBias = modelType === 'qwen2' ? true : modelType === 'llama' ? f.boolOr('attention_bias', false) : fam.bias;
  const oProjBias = modelType === 'llama' ? attentionBias : fam.oBias;
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
    activation: activation(f.strOr('hidden_act', 'silu'), file, 'hidden_act'),
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', false),
    bosTokenId: f.tokenId('bos_token_id', modelType === 'llama' ? 1 : undefined),
    eosTokenId: f.tokenId('eos_token_id', modelType === 'llama' ? 2 : undefined),
    ropeTheta: ropeTheta(f, c, file),
    attentionBias,
    oProjBias,
    mlpBias: modelType === 'llama' ? f.boolOr('mlp_bias', false) : false,
    slidingWindow: window,
  };
}

function parseOpt(f: Fields, hfArchitecture: string, file: string): ModelConfig {
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  if (!f.boolOr('layer_norm_elementwise_affine', true)) {
    throw unsupported('OPT with layer_norm_elementwise_affine=false is not supported', file);
  }
  if (f.boolOr('_remove_final_layer_norm', false)) {
    throw unsupported('OPT with _remove_final_layer_norm=true is not supported', file);
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
    headDim: divide(file, hiddenSize, 'hidden_size', numHeads, 'num_attention_heads'),
    intermediateSize: f.int('ffn_dim'),
    maxPositions: f.intOr('max_position_embeddings', 2048),
    normEps: 1e-5,
    activation: activation(f.strOr('activation_function', 'relu'), file, 'activation_function'),
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

function parseGpt2(f: Fields, hfArchitecture: string, file: string): ModelConfig {
  const hiddenSize = f.int('n_embd');
  const numHeads = f.int('n_head');
  if (!f.boolOr('scale_attn_weights', true)) throw unsupported('GPT-2 with scale_attn_weights=false is not supported', file);
  if (f.boolOr('scale_attn_by_inverse_layer_idx', false)) {
    throw unsupported('GPT-2 with scale_attn_by_inverse_layer_idx=true is not supported', file);
  }
  if (f.boolOr('add_cross_attention', false)) throw unsupported('GPT-2 with cross-attention is not supported', file);
  return {
    arch: 'gpt2',
    hfArchitecture,
    modelType: 'gpt2',
    vocabSize: f.int('vocab_size'),
    hiddenSize,
    numLayers: f.int('n_layer'),
    numHeads,
    numKvHeads: numHeads,
    headDim: divide(file, hiddenSize, 'n_embd', numHeads, 'n_head'),
    intermediateSize: f.intOr('n_inner', 4 * hiddenSize),
    maxPositions: f.intOr('n_positions', 1024),
    normEps: f.numOr('layer_norm_epsilon', 1e-5),
    activation: activation(f.strOr('activation_function', 'gelu_new'), file, 'activation_function'),
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', true),
    bosTokenId: f.tokenId('bos_token_id', 50256),
    eosTokenId: f.tokenId('eos_token_id', 50256),
    attentionBias: true,
    oProjBias: true,
    mlpBias: true,
  };
}

/**
 * Parse a Hugging Face config.json (already JSON-decoded) into a ModelConfig.
 * `file` is the config's path, used in every error message.
 */
export function parseHfConfig(configJson: unknown, file: string): ModelConfig {
  if (typeof configJson !== 'object' || configJson === null || Array.isArray(configJson)) {
    throw configError(file, 'config is not a JSON object');
  }
  const c = configJson as Json;
  const f = new Fields(c, file);
  let arch: string | undefined;
  if (c.architectures !== undefined && c.architectures !== null) {
    if (!Array.isArray(c.architectures) || (c.architectures.length > 0 && typeof c.architectures[0] !== 'string')) {
      throw configError(file, `"architectures" must be a list of names, got ${JSON.stringify(c.architectures)}`);
    }
    arch = c.architectures[0] as string | undefined;
  }
  let modelType: string;
  if (f.has('model_type')) {
    modelType = f.strOr('model_type', '');
  } else if (arch !== undefined) {
    const t = ARCH_TO_TYPE[arch];
    if (!t) throw unsupported(`architecture "${arch}" is not supported (no "model_type" given)`, file);
    modelType = t;
  } else {
    throw configError(file, 'missing "model_type"');
  }
  const known = KNOWN_ARCHS[modelType];
  if (!known) {
    throw unsupported(`model_type "${modelType}" is not supported (supported: ${Object.keys(KNOWN_ARCHS).join(', ')})`, file);
  }
  if (arch !== undefined && !known.includes(arch)) {
    throw unsupported(`architecture "${arch}" is not supported for model_type "${modelType}" (expected ${known.join(' or ')})`, file);
  }
  const hfArchitecture = arch ?? known[0];
  const parsed = modelType === 'opt' ? parseOpt(f, hfArchitecture, file)
    : modelType === 'gpt2' ? parseGpt2(f, hfArchitecture, file)
      : parseLlama(f, c, modelType, hfArchitecture, file);
  return checkModelLimits(parsed, file);
}

/**
 * The config.json we write for a Llama-family ModelConfig (used for the converted GGUF/llama2.c
 * cache folders, so that those folders are ordinary HF checkpoints).
 */
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
  if (cfg.bosTokenId !== undefined) out.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenId !== undefined) out.eos_token_id = cfg.eosTokenId;
  return out;
}
