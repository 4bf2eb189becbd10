// GGUF and llama2.c checkpoints of the Llama family (converted once by models/convert.ts into an HF
// folder of arch/llama.ts's layout).
//
// GGUF `llama`: llama.cpp's LLAMA tensors (token_embd, output_norm, output, blk.{i}.attn_norm, attn_q/k/v,
// attn_output, ffn_norm, ffn_gate/up/down), q/k rows in Meta's interleaved rotary layout (llama.cpp's
// converter permutes HF's rows; they are permuted back). Metadata under `llama.`.
// GGUF `qwen2`: the same tensor names plus attn_q/k/v.bias; rope is NEOX (rotate_half), so q/k are stored
// as HF has them. Metadata under `qwen2.`. → model_type qwen2.
// GGUF `mistral`: Llama's tensor names and interleaved q/k (as the `llama` files llama.cpp writes for
// Mistral checkpoints); metadata under `mistral.`, the window from `mistral.attention.sliding_window`.
// → model_type mistral.

import type { GgufFile } from '../../formats/gguf';
import type { Llama2cHeader } from '../../formats/llama2c';
import { checkModelLimits } from '../../formats/limits';
import type { ModelConfig } from '../config';
import { ggufCore, ggufOptionalInt } from './gguf-fields';
import type { GgufArch } from './types';

/** blk.{i}.<part> → HF suffix within model.layers.{i}. */
const LAYER: Record<string, string> = {
  attn_norm: 'input_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj', ffn_norm: 'post_attention_layernorm', ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
};
const GLOBAL: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight',
};

function llamaConfig(g: GgufFile, arch: string): ModelConfig {
  const core = ggufCore(g, arch);
  return checkModelLimits({
    arch: 'llama', hfArchitecture: 'LlamaForCausalLM', modelType: 'llama', ...core,
    activation: 'silu', attentionBias: false, oProjBias: false, mlpBias: false,
  }, g.file);
}

function qwen2Config(g: GgufFile, arch: string): ModelConfig {
  const core = ggufCore(g, arch, { defaultContext: 32768 });
  return checkModelLimits({
    arch: 'llama', hfArchitecture: 'Qwen2ForCausalLM', modelType: 'qwen2', ...core,
    activation: 'silu', attentionBias: true, oProjBias: false, mlpBias: false,
  }, g.file);
}

function mistralConfig(g: GgufFile, arch: string): ModelConfig {
  const core = ggufCore(g, arch, { defaultContext: 4096 * 32 });
  const window = ggufOptionalInt(g, `${arch}.attention.sliding_window`);
  return checkModelLimits({
    arch: 'llama', hfArchitecture: 'MistralForCausalLM', modelType: 'mistral', ...core,
    activation: 'silu', attentionBias: false, oProjBias: false, mlpBias: false,
    ...(window !== undefined ? { slidingWindow: window } : {}),
  }, g.file);
}

export const LLAMA_GGUF: Record<string, GgufArch> = {
  llama: { config: llamaConfig, layerTensors: LAYER, globalTensors: GLOBAL, interleavedQK: true },
  qwen2: { config: qwen2Config, layerTensors: LAYER, globalTensors: GLOBAL, interleavedQK: false },
  mistral: { config: mistralConfig, layerTensors: LAYER, globalTensors: GLOBAL, interleavedQK: true },
};

// ---- llama2.c (Karpathy's run.c checkpoints: v0 / v1 headers, formats/llama2c.ts) ----

/** llama2.c tensor → HF suffix within model.layers.{i}. */
export const LLAMA2C_LAYER: Record<string, string> = {
  rms_att: 'input_layernorm', wq: 'self_attn.q_proj', wk: 'self_attn.k_proj', wv: 'self_attn.v_proj',
  wo: 'self_attn.o_proj', rms_ffn: 'post_attention_layernorm', w1: 'mlp.gate_proj', w3: 'mlp.up_proj', w2: 'mlp.down_proj',
};
/** llama2.c whole-model tensors → HF names (freq_cis tables are recomputed by the graph from rope_theta). */
export const LLAMA2C_GLOBAL: Record<string, string> = {
  token_embedding: 'model.embed_tokens.weight', rms_final: 'model.norm.weight', wcls: 'lm_head.weight',
};

export function llama2cConfig(h: Llama2cHeader): ModelConfig {
  return {
    arch: 'llama', hfArchitecture: 'LlamaForCausalLM', modelType: 'llama',
    vocabSize: h.vocabSize, hiddenSize: h.dim, numLayers: h.nLayers, numHeads: h.nHeads, numKvHeads: h.nKvHeads,
    headDim: h.headSize, intermediateSize: h.hiddenDim, maxPositions: h.seqLen, normEps: 1e-5, activation: 'silu',
    tieWordEmbeddings: h.sharedClassifier, bosTokenId: 1, eosTokenId: 2, ropeTheta: 10000,
    attentionBias: false, oProjBias: false, mlpBias: false,
  };
}
