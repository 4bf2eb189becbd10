// The Hugging Face tensor names and shapes each architecture needs, name normalization, and the
// check that a loaded checkpoint has them.
//
// Canonical names are those of the HF *ForCausalLM / *LMHeadModel state dict:
//   llama/mistral/qwen2: model.embed_tokens.weight, model.layers.{i}.…, model.norm.weight, lm_head.weight
//   opt:                 model.decoder.…, lm_head.weight
//   gpt2:                transformer.wte.weight, transformer.h.{i}.…, transformer.ln_f.…, lm_head.weight
// Checkpoints saved from the base model lack the prefix ("h.0.attn.c_attn.weight" in the gpt2 hub
// file, "decoder.layers.0…" in some OPT files, "layers.0…" for some Llama exports):
// normalizeWeightName() adds it. Non-weight buffers (GPT-2 attn.bias / attn.masked_bias causal
// masks, Llama rotary_emb.inv_freq) are dropped. Shapes are PyTorch's, i.e. Linear weights are
// [out, in]; GPT-2's Conv1D weights are [in, out] as stored by HF (c_attn: [d, 3d]).

import { formatError, unsupported } from '../errors';
import type { DType } from '../formats/dtypes';
import type { LoadedModel, ModelConfig } from './config';

/** dtypes a HF checkpoint may use for weights; the graph builder casts F16/BF16 where needed. */
export const WEIGHT_DTYPES: readonly DType[] = ['F32', 'F16', 'BF16'];

function llamaWeights(c: ModelConfig, w: Map<string, number[]>): void {
  const d = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const inter = c.intermediateSize;
  w.set('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    w.set(`${p}input_layernorm.weight`, [d]);
    w.set(`${p}self_attn.q_proj.weight`, [q, d]);
    w.set(`${p}self_attn.k_proj.weight`, [kv, d]);
    w.set(`${p}self_attn.v_proj.weight`, [kv, d]);
    w.set(`${p}self_attn.o_proj.weight`, [d, q]);
    if (c.attentionBias) {
      w.set(`${p}self_attn.q_proj.bias`, [q]);
      w.set(`${p}self_attn.k_proj.bias`, [kv]);
      w.set(`${p}self_attn.v_proj.bias`, [kv]);
    }
    if (c.oProjBias) w.set(`${p}self_attn.o_proj.bias`, [d]);
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

function optWeights(c: ModelConfig, w: Map<string, number[]>): void {
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

function gpt2Weights(c: ModelConfig, w: Map<string, number[]>): void {
  const d = c.hiddenSize;
  const inter = c.intermediateSize;
  w.set('transformer.wte.weight', [c.vocabSize, d]);
  w.set('transformer.wpe.weight', [c.maxPositions, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `transformer.h.${i}.`;
    w.set(`${p}ln_1.weight`, [d]);
    w.set(`${p}ln_1.bias`, [d]);
    w.set(`${p}attn.c_attn.weight`, [d, 3 * d]);
    w.set(`${p}attn.c_attn.bias`, [3 * d]);
    w.set(`${p}attn.c_proj.weight`, [d, d]);
    w.set(`${p}attn.c_proj.bias`, [d]);
    w.set(`${p}ln_2.weight`, [d]);
    w.set(`${p}ln_2.bias`, [d]);
    w.set(`${p}mlp.c_fc.weight`, [d, inter]);
    w.set(`${p}mlp.c_fc.bias`, [inter]);
    w.set(`${p}mlp.c_proj.weight`, [inter, d]);
    w.set(`${p}mlp.c_proj.bias`, [d]);
  }
  w.set('transformer.ln_f.weight', [d]);
  w.set('transformer.ln_f.bias', [d]);
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', [c.vocabSize, d]);
}

/** Every tensor (canonical HF name → shape) a model with this config needs, in a stable order. */
export function expectedWeights(cfg: ModelConfig): Map<string, number[]> {
  const w = new Map<string, number[]>();
  switch (cfg.arch) {
    case 'llama': llamaWeights(cfg, w); break;
    case 'opt': optWeights(cfg, w); break;
    case 'gpt2': gpt2Weights(cfg, w); break;
    default: throw unsupported(`architecture ${String((cfg as ModelConfig).arch)} has no weight layout`);
  }
  return w;
}

/** A lower bound on the tensor count of a config (per-layer tensors only): guards absurd layer counts. */
function minTensorsFor(cfg: ModelConfig): number {
  return cfg.numLayers * (cfg.arch === 'llama' ? 9 : cfg.arch === 'gpt2' ? 12 : 10);
}

/**
 * Canonical name of a checkpoint tensor, or null for buffers that are not weights.
 * See the header comment for the canonical forms.
 */
export function normalizeWeightName(cfg: ModelConfig, name: string): string | null {
  switch (cfg.arch) {
    case 'llama':
      if (name.endsWith('.rotary_emb.inv_freq')) return null;
      if (/^(layers\.|embed_tokens\.|norm\.)/.test(name)) return `model.${name}`;
      return name;
    case 'opt':
      if (name.startsWith('decoder.')) return `model.${name}`;
      return name;
    case 'gpt2':
      if (/\.attn\.(bias|masked_bias)$/.test(name)) return null;
      if (name.startsWith('transformer.') || name.startsWith('lm_head.')) return name;
      return `transformer.${name}`;
    default:
      return name;
  }
}

const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Check that `loaded.weights` holds every tensor the config needs, with the right shape and a
 * float dtype. Missing tensor or wrong shape → FORMAT error naming the tensor and its file;
 * an integer/other dtype → UNSUPPORTED. Extra tensors are ignored.
 */
export function checkWeights(loaded: LoadedModel): void {
  const cfg = loaded.config;
  if (minTensorsFor(cfg) > loaded.weights.size + 4 * (loaded.quant?.modules.size ?? 0)) {
    // Checked before building the expected list so a config claiming 2^31 layers fails fast.
    throw formatError(loaded.source,
      `config says ${cfg.numLayers} layers, which needs at least ${minTensorsFor(cfg)} tensors, but the weights hold ${loaded.weights.size}`);
  }
  const expected = expectedWeights(cfg);
  const missing: string[] = [];
  for (const [name, shape] of expected) {
    if (loaded.quant?.modules.has(name.replace(/\.weight$/, ''))) continue;   // quantized: checked by gptq-load
    if (loaded.quant?.tables?.[name]) continue;                                // served by a quantized matrix
    const t = loaded.weights.get(name);
    if (!t) {
      missing.push(`${name} ${shapeStr(shape)}`);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      throw formatError(t.file, `tensor '${name}' has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)} for this ${cfg.modelType} config`);
    }
    if (!WEIGHT_DTYPES.includes(t.dtype)) {
      throw unsupported(`tensor '${name}' has dtype ${t.dtype}; weights must be F32, F16 or BF16`, t.file);
    }
  }
  if (missing.length) {
    const more = missing.length > 5 ? ` and ${missing.length - 5} more` : '';
    throw formatError(loaded.source, `missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')}${more}`);
  }
}
