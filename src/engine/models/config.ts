// The one normalized description of a causal LM that every graph builder reads.
// Loaders turn config.json (HF), GGUF metadata or a llama2.c header into this; weights are
// always addressed by their Hugging Face tensor names (GGUF and llama2.c are converted to HF layout).

import * as path from 'path';
import type { TensorRef } from '../formats/safetensors';
import type { Tokenizer } from '../tokenizers/tokenizer';
import type { HubSource } from '../hub/resolve';
import type { Arch } from './arch/types';

export type { Arch };
export type Activation = 'silu' | 'relu' | 'gelu' | 'gelu_new';

export interface ModelConfig {
  /** The family (models/arch/registry.ts): everything family-specific is asked of it. */
  arch: Arch;
  /** The HF `architectures[0]` or the closest equivalent, e.g. LlamaForCausalLM, Qwen2ForCausalLM. */
  hfArchitecture: string;
  /** HF `model_type`: llama, mistral, qwen2, opt, gpt2 … */
  modelType: string;
  vocabSize: number;
  hiddenSize: number;          // d
  numLayers: number;
  numHeads: number;            // query heads
  numKvHeads: number;          // = numHeads without GQA
  headDim: number;             // usually hiddenSize / numHeads
  intermediateSize: number;    // MLP width
  maxPositions: number;        // context length
  normEps: number;
  activation: Activation;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  // Llama family
  ropeTheta?: number;
  attentionBias?: boolean;     // q/k/v (and o for some) biases: Qwen2 has q/k/v bias, no o bias
  oProjBias?: boolean;
  mlpBias?: boolean;
  /**
   * Every layer's window (Mistral, Phi-3): a query sees only keys less than this many positions behind it.
   * Applied by the runtime's attention bias (and its cache eviction).
   */
  slidingWindow?: number;
  /** Rotary dims per head when fewer than headDim rotate (partial_rotary_factor); the rest pass through. */
  rotaryDims?: number;
  /** Rotary scaling beyond plain RoPE (Phi-3's longrope). */
  ropeScaling?: RopeScaling;
  // Gemma 2
  /** q·k multiplier instead of 1/√headDim (query_pre_attn_scalar^−½). */
  attentionScale?: number;
  /** attn_logit_softcapping: scores → cap·tanh(scores / cap) before the mask. */
  attentionSoftcap?: number;
  /** final_logit_softcapping: logits → cap·tanh(logits / cap). */
  finalLogitSoftcap?: number;
  /** Per-layer windows applied inside the graph (Gemma 2's alternating local layers); null: a global layer. */
  layerWindows?: Array<number | null>;
  /** Token embeddings are multiplied by this (Gemma: √hidden). */
  embeddingScale?: number;
  // OPT
  doLayerNormBefore?: boolean; // false only for OPT-350m (post-LN)
  wordEmbedProjDim?: number;   // OPT-350m: embeddings of this width, project_in/project_out to hiddenSize
  positionOffset?: number;     // OPT's learned positions are indexed at position + 2
}

/**
 * Phi-3 "longrope" (alias "su"): the inverse frequencies are divided per dimension by the short factors,
 * or by the long ones once a run reaches `originalMaxPositions`; cos/sin are multiplied by attentionFactor.
 */
export interface RopeScaling {
  type: 'longrope';
  shortFactor: number[];
  longFactor: number[];
  originalMaxPositions: number;
  attentionFactor: number;
}

export type ModelFormat = 'hf' | 'gguf' | 'llama2c';

export interface LoadedModel {
  config: ModelConfig;
  /** HF tensor name → where its bytes are (absolute file path + offset). */
  weights: Map<string, TensorRef>;
  /** Folder that holds every weight file: ONNX external data is resolved relative to it. */
  weightsDir: string;
  /**
   * The model's own folder (config.json, tokenizer files) where it is not weightsDir: a Hugging Face
   * cache snapshot, whose weight files are links to blobs beside it (load.ts). Read it through modelFolder().
   */
  folder?: string;
  format: ModelFormat;
  /** What the user pointed at (folder or file), or the Hugging Face Hub reference as written (hub/reference.ts). */
  source: string;
  /** For a Hub reference: the repository, revision, commit (and GGUF file) it resolved to (hub/resolve.ts). */
  hub?: HubSource;
  tokenizer?: Tokenizer;
  /** Quantized linear layers (GPTQ checkpoints); their `.weight` is then absent from `weights`. */
  quant?: QuantizedWeights;
  /**
   * HF weight name [out, in] → its cached [in, out] copy as column blocks (one block, except the output
   * projection's), models/transposed.ts: the 'gemm' kernel's MatMul B.
   */
  transposed?: Map<string, TensorRef[]>;
}

/**
 * A GPTQ checkpoint's quantized layers as the runtime uses them (models/quant/gptq-load.ts fills this in):
 * converted once into MatMulNBits tensors in a cache file (memory-mapped like every weight).
 */
export interface QuantizedWeights {
  /** 'gptq': a GPTQ checkpoint; 'gguf': a GGUF file's quantized tensors (models/quant/gguf-nbits-load.ts). */
  method: 'gptq' | 'gguf';
  bits: number;
  groupSize: number;
  descAct: boolean;
  sym: boolean;
  /** 'gptq' (v1: stored zero = zero − 1) or 'gptq_v2'. */
  checkpointFormat: 'gptq' | 'gptq_v2';
  /** The file that declared the quantization (quantize_config.json or config.json). */
  configFile: string;
  /** MatMulNBits accuracy_level (default 4: int8 activations per block, the fast path; 0: fp32 exact). */
  accuracyLevel?: number;
  modules: Map<string, QuantizedModuleRef>;
  /**
   * Tables (the token embedding) served by a quantized module: weight name → module ('lm_head' when a tied
   * head stands for it; a GGUF file's quantized token_embd otherwise). The folder holds no float table and
   * the graph gathers rows from the quantized matrix.
   */
  tables?: Record<string, string>;
  /** GGUF: tensors per ggml type (for `idp info`). */
  ggmlTypes?: Record<string, number>;
}

export interface QuantizedModuleRef {
  bits: number;                 // as stored (3-bit codes run in 4-bit blocks)
  groupSize: number;
  inFeatures: number;
  outFeatures: number;
  /** 'nbits': MatMulNBits; 'dequant': fp32 weight [out, in] (layouts the kernel cannot express). */
  kernel: 'nbits' | 'dequant';
  runBits?: 2 | 4 | 8;
  blockSize?: number;
  b?: TensorRef;                // uint8 [out, kBlocks, blockSize·runBits/8]
  scales?: TensorRef;           // float [out·kBlocks]
  zeroPoints?: TensorRef;       // uint8 [out·ceil(kBlocks·runBits/8)]
  /** act-order: int64 [in], the input column feeding kernel column i (x[..., perm] → MatMulNBits). */
  perm?: TensorRef;
  dequantized?: TensorRef;      // float [out, in] (kernel 'dequant')
  /** Per-block offsets added to W (GGUF types with a minimum: Q4_1, Q5_1, Q4_K, Q5_K): float [out, kBlocks]. */
  offsets?: TensorRef;
  /** GGUF: the ggml type the tensors were converted from. */
  ggmlType?: string;
  /** The module's tensors in a GPTQ checkpoint (for the fp32 fallback and inspection); absent for GGUF. */
  source?: { qweight: TensorRef; qzeros: TensorRef; scales: TensorRef; gIdx?: TensorRef };
}

export function parameterCount(m: LoadedModel): number {
  let n = 0;
  for (const t of m.weights.values()) n += t.shape.reduce((a, b) => a * b, 1);
  for (const q of m.quant?.modules.values() ?? []) n += q.inFeatures * q.outFeatures;
  return n;
}

/** ORT intra-op threads: as given, else 1 for models under 10M parameters (a thread pool costs more than it saves there), else ORT decides. */
export function threadsFor(m: LoadedModel, threads?: number): number | undefined {
  return threads ?? (parameterCount(m) < 10e6 ? 1 : undefined);
}

/** The folder holding a model's config.json and tokenizer files (for HF folders; see LoadedModel.folder). */
export const modelFolder = (m: LoadedModel): string => m.folder ?? m.weightsDir;

/** The local file or folder a model was loaded from: `source`, or for a Hub reference the snapshot folder or GGUF file it resolved to. */
export const localModelPath = (m: LoadedModel): string =>
  m.hub ? (m.hub.file ? path.join(m.hub.snapshot, ...m.hub.file.split('/')) : m.hub.snapshot) : m.source;
