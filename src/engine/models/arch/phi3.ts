// Phi-3 (model_type phi3: Phi-3 / Phi-3.5 mini and medium, Phi-4-mini): the Llama block with fused
// projections — self_attn.qkv_proj [H·D + 2·K·D, d] (q | k | v rows) and mlp.gate_up_proj [2·ff, d]
// (gate | up rows, SwiGLU: silu(gate) · up) — no biases, optionally partial rotary
// (partial_rotary_factor) and "longrope" scaling (rope_scaling type longrope, formerly su, with
// short_factor / long_factor and original_max_position_embeddings). sliding_window applies to every
// layer (the runtime's bias, as Mistral's). Graph: models/llama.ts with FUSED_PROJECTIONS.
// Config defaults are Phi3Config's (tie_word_embeddings false, context 4096, bos 1, eos 32000).
//
// GGUF `phi3` (llama.cpp): blk.{i}.attn_qkv = qkv_proj, blk.{i}.ffn_up = gate_up_proj (gate | up),
// attn_norm, attn_output, ffn_norm, ffn_down; NEOX rope (q/k as HF stores them); metadata under
// `phi3.`; longrope factors as the tensors rope_factors_short / rope_factors_long with
// phi3.rope.scaling.original_context_length and phi3.rope.scaling.attn_factor.

import { configError, unsupported } from '../../errors';
import { GgufFile, ggufNumber, readGgufTensorF32 } from '../../formats/gguf';
import { checkModelLimits } from '../../formats/limits';
import type { ModelConfig, RopeScaling } from '../config';
import { buildLlama, FUSED_PROJECTIONS } from '../llama';
import { ggufCore, ggufOptionalInt } from './gguf-fields';
import { attentionShape, HfFields, ropeTheta } from './hf-fields';
import { LLAMA_LAYOUT } from './llama';
import type { ArchFamily } from './types';

const LONGROPE = ['longrope', 'su'];

/** transformers' attention factor of longrope: √(1 + ln(s) / ln(original)) for s = context / original > 1. */
export function longropeAttentionFactor(maxPositions: number, original: number): number {
  const s = maxPositions / original;
  return s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(original));
}

function factors(f: HfFields, r: Record<string, unknown>, key: string, n: number): number[] {
  const v = r[key];
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw configError(f.file, `"rope_scaling.${key}" must be a list of ${n} positive numbers (rotary dims / 2)`);
  }
  return v as number[];
}

function ropeScaling(f: HfFields, rotaryDims: number, maxPositions: number): RopeScaling | undefined {
  const r = f.objOr('rope_scaling') ?? f.objOr('rope_parameters');
  const type = r && (r.rope_type ?? r.type ?? 'default');
  if (!r || !LONGROPE.includes(type as string)) return undefined;
  // transformers 5 may keep original_max_position_embeddings inside rope_parameters
  const original = f.has('original_max_position_embeddings') ? f.int('original_max_position_embeddings')
    : new HfFields(r, f.file).intOr('original_max_position_embeddings', maxPositions);
  const given = r.attention_factor;
  if (given !== undefined && given !== null && !(typeof given === 'number' && given > 0)) {
    throw configError(f.file, `"rope_scaling.attention_factor" must be a positive number, got ${JSON.stringify(given)}`);
  }
  return {
    type: 'longrope',
    shortFactor: factors(f, r, 'short_factor', rotaryDims / 2),
    longFactor: factors(f, r, 'long_factor', rotaryDims / 2),
    originalMaxPositions: original,
    attentionFactor: typeof given === 'number' ? given : longropeAttentionFactor(maxPositions, original),
  };
}

function parse(f: HfFields, modelType: string, hfArchitecture: string): ModelConfig {
  const hiddenSize = f.int('hidden_size');
  const { numHeads, numKvHeads, headDim } = attentionShape(f, hiddenSize);
  // top level (transformers 4), or inside rope_parameters (transformers 5)
  const params = f.objOr('rope_parameters');
  const partial = f.has('partial_rotary_factor') || !params ? f.numOr('partial_rotary_factor', 1) : new HfFields(params, f.file).numOr('partial_rotary_factor', 1);
  const rotaryDims = Math.floor(headDim * partial);
  if (partial > 1 || rotaryDims < 2 || rotaryDims % 2 !== 0) {
    throw configError(f.file, `"partial_rotary_factor" ${partial} of head size ${headDim} gives ${rotaryDims} rotary dims; an even number ≥ 2 is needed`);
  }
  const act = f.activation('hidden_act', 'silu');
  if (act !== 'silu') throw unsupported(`Phi-3 with hidden_act "${f.strOr('hidden_act', '')}" is not supported (only silu)`, f.file);
  const maxPositions = f.intOr('max_position_embeddings', 4096);
  const theta = ropeTheta(f, LONGROPE);
  const window = f.has('sliding_window') ? f.int('sliding_window') : undefined;
  return {
    arch: 'phi3',
    hfArchitecture,
    modelType,
    vocabSize: f.int('vocab_size'),
    hiddenSize,
    numLayers: f.int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: f.int('intermediate_size'),
    maxPositions,
    normEps: f.numOr('rms_norm_eps', 1e-5),
    activation: act,
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', false),
    bosTokenId: f.tokenId('bos_token_id', 1),
    eosTokenId: f.tokenId('eos_token_id', 32000),
    ropeTheta: theta,
    attentionBias: false,
    oProjBias: false,
    mlpBias: false,
    ...(window !== undefined ? { slidingWindow: window } : {}),
    ...(rotaryDims < headDim ? { rotaryDims } : {}),
    ...(() => { const s = ropeScaling(f, rotaryDims, maxPositions); return s ? { ropeScaling: s } : {}; })(),
  };
}

function configJson(cfg: ModelConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: [cfg.hfArchitecture], model_type: cfg.modelType, vocab_size: cfg.vocabSize, hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize, num_hidden_layers: cfg.numLayers, num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads, max_position_embeddings: cfg.maxPositions, rms_norm_eps: cfg.normEps,
    rope_theta: cfg.ropeTheta ?? 10000, hidden_act: cfg.activation, tie_word_embeddings: cfg.tieWordEmbeddings,
    partial_rotary_factor: (cfg.rotaryDims ?? cfg.headDim) / cfg.headDim, torch_dtype: 'float32',
  };
  if (cfg.headDim * cfg.numHeads !== cfg.hiddenSize) out.head_dim = cfg.headDim;
  if (cfg.slidingWindow !== undefined) out.sliding_window = cfg.slidingWindow;
  const s = cfg.ropeScaling;
  if (s) {
    out.original_max_position_embeddings = s.originalMaxPositions;
    out.rope_scaling = { type: 'longrope', short_factor: s.shortFactor, long_factor: s.longFactor, attention_factor: s.attentionFactor };
  }
  if (cfg.bosTokenId !== undefined) out.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenId !== undefined) out.eos_token_id = cfg.eosTokenId;
  return out;
}

function weights(c: ModelConfig, w: Map<string, number[]>): void {
  const d = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const ff = c.intermediateSize;
  w.set('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    w.set(`${p}input_layernorm.weight`, [d]);
    w.set(`${p}self_attn.qkv_proj.weight`, [q + 2 * kv, d]);
    w.set(`${p}self_attn.o_proj.weight`, [d, q]);
    w.set(`${p}post_attention_layernorm.weight`, [d]);
    w.set(`${p}mlp.gate_up_proj.weight`, [2 * ff, d]);
    w.set(`${p}mlp.down_proj.weight`, [d, ff]);
  }
  w.set('model.norm.weight', [d]);
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', [c.vocabSize, d]);
}

/** GGUF phi3 metadata (and longrope factor tensors) → ModelConfig. */
function ggufConfig(g: GgufFile, arch: string): ModelConfig {
  const core = ggufCore(g, arch, { partialRotary: true, defaultContext: 4096, scalingTypes: LONGROPE });
  const rotaryDims = core.rotaryDims ?? core.headDim;
  const window = ggufOptionalInt(g, `${arch}.attention.sliding_window`);
  const short = g.tensors.get('rope_factors_short.weight');
  const long = g.tensors.get('rope_factors_long.weight');
  let ropeScaling: RopeScaling | undefined;
  if (short || long) {
    if (!short || !long || short.numel !== rotaryDims / 2 || long.numel !== rotaryDims / 2) {
      throw configError(g.file, `longrope needs rope_factors_short.weight and rope_factors_long.weight of ${rotaryDims / 2} values each`);
    }
    const original = ggufOptionalInt(g, `${arch}.rope.scaling.original_context_length`);
    if (original === undefined) throw configError(g.file, `missing metadata "${arch}.rope.scaling.original_context_length" (needed with rope_factors_*)`);
    const attn = ggufNumber(g, `${arch}.rope.scaling.attn_factor`);
    ropeScaling = {
      type: 'longrope', shortFactor: [...readGgufTensorF32(g, short)], longFactor: [...readGgufTensorF32(g, long)],
      originalMaxPositions: original, attentionFactor: attn ?? longropeAttentionFactor(core.maxPositions, original),
    };
  }
  const { rotaryDims: _r, ...rest } = core;
  return checkModelLimits({
    arch: 'phi3', hfArchitecture: 'Phi3ForCausalLM', modelType: 'phi3', ...rest,
    activation: 'silu', attentionBias: false, oProjBias: false, mlpBias: false,
    ...(rotaryDims < core.headDim ? { rotaryDims } : {}),
    ...(window !== undefined ? { slidingWindow: window } : {}),
    ...(ropeScaling ? { ropeScaling } : {}),
  }, g.file);
}

export const phi3: ArchFamily = {
  arch: 'phi3',
  hfModelTypes: { phi3: ['Phi3ForCausalLM', 'Phi3Model'] },
  parseHfConfig: parse,
  hfConfigJson: configJson,
  weights,
  minTensorsPerLayer: 6,
  ...LLAMA_LAYOUT,
  // q, k and v all name the fused qkv_proj, gate and up the fused gate_up_proj (PEFT's Phi-3 target_modules)
  loraTargets: { q: 'self_attn.qkv_proj', k: 'self_attn.qkv_proj', v: 'self_attn.qkv_proj', o: 'self_attn.o_proj', gate: 'mlp.gate_up_proj', up: 'mlp.gate_up_proj', down: 'mlp.down_proj' },
  build: (m, opts) => buildLlama(m, opts, FUSED_PROJECTIONS),
  gguf: {
    phi3: {
      config: ggufConfig,
      layerTensors: { attn_norm: 'input_layernorm', attn_qkv: 'self_attn.qkv_proj', attn_output: 'self_attn.o_proj', ffn_norm: 'post_attention_layernorm', ffn_up: 'mlp.gate_up_proj', ffn_down: 'mlp.down_proj' },
      globalTensors: { 'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight' },
      interleavedQK: false,
    },
  },
};
