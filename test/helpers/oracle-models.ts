// Tiny Hugging Face model folders with seeded random weights, for checking the engine's ONNX
// graphs against the float64 oracle in reference-forward.ts. Independent of the engine's model
// code: names, shapes and config fields are written out here from transformers' conventions.
// (test/helpers/tiny-hf.ts is a different, engine-driven helper for loader tests.)
//
// Each folder holds config.json as transformers' save_pretrained writes it for that model_type
// (sorted keys, indent 2; family-specific field names; fields equal to PretrainedConfig's defaults
// left out, as use_diff does: e.g. OPT/GPT-2 omit tie_word_embeddings, which defaults to true) and
// model.safetensors (or two shards + model.safetensors.index.json) with the exact HF tensor names
// and layouts (nn.Linear [out, in]; GPT-2 Conv1D [in, out]). Tied output embeddings are not stored.
//
// The weights are also returned as float64, already rounded to the stored dtype, so the oracle
// sees exactly the numbers the engine reads. readHfFolder() reads a folder back with its own
// small safetensors parser (not the engine's reader).

import * as fs from 'fs';
import * as path from 'path';
import { writeSafetensors, TensorToWrite } from '../../src/engine/formats/safetensors';
import { f32ToF16 } from '../../src/engine/formats/dtypes';
import type { RefWeights } from './reference-forward';
import { mulberry32 } from './prng';

export type { RefTensor, RefWeights } from './reference-forward';
export type TinyModelType = 'llama' | 'mistral' | 'qwen2' | 'opt' | 'gpt2';
export type TinyDType = 'F32' | 'F16' | 'BF16';

export interface TinyModelSpec {
  modelType: TinyModelType;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** Llama family only; default numHeads. */
  numKvHeads?: number;
  /** Llama family only; written as head_dim (llama/mistral always, qwen2 only if ≠ hidden/heads). */
  headDim?: number;
  /** MLP width (OPT ffn_dim, GPT-2 n_inner: null in config when 4 × hidden). Default 2 × hidden (llama/opt), 4 × hidden (gpt2). */
  intermediateSize?: number;
  maxPositions?: number;            // default 64
  tieWordEmbeddings?: boolean;      // Llama family; default false. OPT and GPT-2 are always tied.
  attentionBias?: boolean;          // llama: q/k/v/o biases (qwen2 always has q/k/v bias and no o bias)
  mlpBias?: boolean;                // llama: gate/up/down biases
  ropeTheta?: number;               // default 10000
  normEps?: number;                 // rms_norm_eps / layer_norm_epsilon; default 1e-5 (1e-6 qwen2)
  slidingWindow?: number | null;    // mistral; default 4096 (≥ any tiny sequence)
  doLayerNormBefore?: boolean;      // opt; default true
  wordEmbedProjDim?: number;        // opt; default hiddenSize
  enableBias?: boolean;             // opt; default true
  layerNormElementwiseAffine?: boolean; // opt; default true
  activation?: string;              // hidden_act / activation_function override
  dtype?: TinyDType;                // default F32
  sharded?: boolean;                // two shards + index
  seed?: number;                    // default 1
  /** Multiplies every random std (default 1). */
  scale?: number;
  /** Extra or replaced config.json fields. */
  configOverrides?: Record<string, unknown>;
  /** Change weights (float64, HF names) before they are rounded to dtype and written. */
  edit?: (weights: RefWeights, config: Record<string, unknown>) => void;
}

export const TINY_SPECS = {
  llamaGqa: { modelType: 'llama', vocabSize: 96, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, seed: 11 },
  llamaTied: { modelType: 'llama', vocabSize: 64, hiddenSize: 16, numLayers: 2, numHeads: 2, numKvHeads: 2, intermediateSize: 40, tieWordEmbeddings: true, ropeTheta: 500000, seed: 12 },
  mistral: { modelType: 'mistral', vocabSize: 80, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 1, intermediateSize: 64, seed: 13 },
  qwen2: { modelType: 'qwen2', vocabSize: 100, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 56, tieWordEmbeddings: true, ropeTheta: 1000000, normEps: 1e-6, seed: 14 },
  optPreLN: { modelType: 'opt', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, seed: 15 },
  optPostLN: { modelType: 'opt', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, doLayerNormBefore: false, wordEmbedProjDim: 16, seed: 16 },
  gpt2: { modelType: 'gpt2', vocabSize: 80, hiddenSize: 32, numLayers: 2, numHeads: 4, seed: 17 },
} satisfies Record<string, TinyModelSpec>;
export type TinySpecName = keyof typeof TINY_SPECS;

const ARCH: Record<TinyModelType, string> = {
  llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', opt: 'OPTForCausalLM', gpt2: 'GPT2LMHeadModel',
};
const TORCH_DTYPE: Record<TinyDType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

const isLlamaFamily = (t: TinyModelType) => t === 'llama' || t === 'mistral' || t === 'qwen2';

/** config.json contents (unsorted; writeTinyModel sorts the keys). */
export function tinyConfig(spec: TinyModelSpec): Record<string, unknown> {
  const t = spec.modelType;
  const d = spec.hiddenSize;
  const common = {
    architectures: [ARCH[t]], model_type: t, torch_dtype: TORCH_DTYPE[spec.dtype ?? 'F32'],
    transformers_version: '4.46.3', vocab_size: spec.vocabSize, use_cache: true,
  };
  let c: Record<string, unknown>;
  if (isLlamaFamily(t)) {
    const headDim = spec.headDim ?? d / spec.numHeads;
    c = {
      ...common, hidden_size: d, intermediate_size: spec.intermediateSize ?? 2 * d, num_hidden_layers: spec.numLayers,
      num_attention_heads: spec.numHeads, num_key_value_heads: spec.numKvHeads ?? spec.numHeads,
      hidden_act: spec.activation ?? 'silu', max_position_embeddings: spec.maxPositions ?? 64, initializer_range: 0.02,
      rms_norm_eps: spec.normEps ?? (t === 'qwen2' ? 1e-6 : 1e-5), rope_theta: spec.ropeTheta ?? 10000,
      tie_word_embeddings: spec.tieWordEmbeddings ?? false, attention_dropout: 0.0,
    };
    if (t === 'llama') {
      Object.assign(c, { bos_token_id: 1, eos_token_id: 2, head_dim: headDim, attention_bias: spec.attentionBias ?? false,
        mlp_bias: spec.mlpBias ?? false, pretraining_tp: 1, rope_scaling: null });
    } else if (t === 'mistral') {
      Object.assign(c, { bos_token_id: 1, eos_token_id: 2, head_dim: headDim, sliding_window: spec.slidingWindow === undefined ? 4096 : spec.slidingWindow });
    } else {
      Object.assign(c, { bos_token_id: spec.vocabSize - 2, eos_token_id: spec.vocabSize - 1, rope_scaling: null,
        use_sliding_window: false, sliding_window: 4096, max_window_layers: spec.numLayers });
      if (headDim !== d / spec.numHeads) c.head_dim = headDim;
    }
  } else if (t === 'opt') {
    c = {
      ...common, _remove_final_layer_norm: false, activation_dropout: 0.0, activation_function: spec.activation ?? 'relu',
      attention_dropout: 0.0, bos_token_id: 2, do_layer_norm_before: spec.doLayerNormBefore ?? true, dropout: 0.1,
      enable_bias: spec.enableBias ?? true, eos_token_id: 2, ffn_dim: spec.intermediateSize ?? 2 * d, hidden_size: d,
      init_std: 0.02, layer_norm_elementwise_affine: spec.layerNormElementwiseAffine ?? true, layerdrop: 0.0,
      max_position_embeddings: spec.maxPositions ?? 64, num_attention_heads: spec.numHeads, num_hidden_layers: spec.numLayers,
      pad_token_id: 1, prefix: '</s>', word_embed_proj_dim: spec.wordEmbedProjDim ?? d,
    };
  } else {
    const inner = spec.intermediateSize;
    c = {
      ...common, activation_function: spec.activation ?? 'gelu_new', attn_pdrop: 0.1, bos_token_id: spec.vocabSize - 1,
      embd_pdrop: 0.1, eos_token_id: spec.vocabSize - 1, initializer_range: 0.02, layer_norm_epsilon: spec.normEps ?? 1e-5,
      n_embd: d, n_head: spec.numHeads, n_inner: inner === undefined || inner === 4 * d ? null : inner, n_layer: spec.numLayers,
      n_positions: spec.maxPositions ?? 64, reorder_and_upcast_attn: false, resid_pdrop: 0.1,
      scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true, summary_activation: null,
      summary_first_dropout: 0.1, summary_proj_to_labels: true, summary_type: 'cls_index', summary_use_proj: true,
    };
  }
  return { ...c, ...(spec.configOverrides ?? {}) };
}

// ---- deterministic random numbers ----

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** n normal samples, mean + std·N(0,1), from a stream seeded by (seed, name): one tensor never shifts another. */
export function seededNormal(seed: number, name: string, n: number, mean: number, std: number): Float64Array {
  const rnd = mulberry32((fnv1a(name) ^ Math.imul(seed, 0x9e3779b1)) >>> 0);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rnd(); // (0, 1]
    const u2 = rnd();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

type Kind = 'embed' | 'matrix' | 'bias' | 'normW' | 'normB';

/**
 * Float64 weights with HF names and shapes, before dtype rounding. Std: embeddings 0.5,
 * matrices 1/sqrt(fan_in), biases 0.1, norm weights 1 ± 0.1, norm biases 0.1 (all × spec.scale).
 */
export function tinyWeights(spec: TinyModelSpec): RefWeights {
  const t = spec.modelType;
  const d = spec.hiddenSize;
  const seed = spec.seed ?? 1;
  const k = spec.scale ?? 1;
  const w: RefWeights = new Map();
  const add = (name: string, shape: number[], kind: Kind) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = kind === 'matrix' ? (t === 'gpt2' ? shape[0] : shape[1]) : 1;
    const [mean, std] = kind === 'embed' ? [0, 0.5] : kind === 'matrix' ? [0, 1 / Math.sqrt(fanIn)]
      : kind === 'normW' ? [1, 0.1] : [0, 0.1];
    w.set(name, { data: seededNormal(seed, name, n, mean, std * k), shape });
  };
  const layers = spec.numLayers;
  if (isLlamaFamily(t)) {
    const hd = spec.headDim ?? d / spec.numHeads;
    const q = spec.numHeads * hd;
    const kv = (spec.numKvHeads ?? spec.numHeads) * hd;
    const ff = spec.intermediateSize ?? 2 * d;
    const qkvBias = t === 'qwen2' || (t === 'llama' && !!spec.attentionBias);
    const oBias = t === 'llama' && !!spec.attentionBias;
    const mlpBias = t === 'llama' && !!spec.mlpBias;
    add('model.embed_tokens.weight', [spec.vocabSize, d], 'embed');
    for (let i = 0; i < layers; i++) {
      const p = `model.layers.${i}.`;
      add(p + 'input_layernorm.weight', [d], 'normW');
      for (const [n, o] of [['q_proj', q], ['k_proj', kv], ['v_proj', kv]] as const) {
        add(`${p}self_attn.${n}.weight`, [o, d], 'matrix');
        if (qkvBias) add(`${p}self_attn.${n}.bias`, [o], 'bias');
      }
      add(p + 'self_attn.o_proj.weight', [d, q], 'matrix');
      if (oBias) add(p + 'self_attn.o_proj.bias', [d], 'bias');
      add(p + 'post_attention_layernorm.weight', [d], 'normW');
      add(p + 'mlp.gate_proj.weight', [ff, d], 'matrix');
      add(p + 'mlp.up_proj.weight', [ff, d], 'matrix');
      add(p + 'mlp.down_proj.weight', [d, ff], 'matrix');
      if (mlpBias) for (const [n, o] of [['gate_proj', ff], ['up_proj', ff], ['down_proj', d]] as const) add(`${p}mlp.${n}.bias`, [o], 'bias');
    }
    add('model.norm.weight', [d], 'normW');
    if (!spec.tieWordEmbeddings) add('lm_head.weight', [spec.vocabSize, d], 'matrix');
  } else if (t === 'opt') {
    const e = spec.wordEmbedProjDim ?? d;
    const ff = spec.intermediateSize ?? 2 * d;
    const bias = spec.enableBias ?? true;
    const affine = spec.layerNormElementwiseAffine ?? true;
    const ln = (name: string) => { if (affine) { add(name + '.weight', [d], 'normW'); add(name + '.bias', [d], 'normB'); } };
    const lin = (name: string, o: number, i: number) => { add(name + '.weight', [o, i], 'matrix'); if (bias) add(name + '.bias', [o], 'bias'); };
    add('model.decoder.embed_tokens.weight', [spec.vocabSize, e], 'embed');
    add('model.decoder.embed_positions.weight', [(spec.maxPositions ?? 64) + 2, d], 'embed');
    if (e !== d) {
      add('model.decoder.project_in.weight', [d, e], 'matrix');
      add('model.decoder.project_out.weight', [e, d], 'matrix');
    }
    for (let i = 0; i < layers; i++) {
      const p = `model.decoder.layers.${i}.`;
      for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(`${p}self_attn.${n}`, d, d);
      ln(p + 'self_attn_layer_norm');
      lin(p + 'fc1', ff, d);
      lin(p + 'fc2', d, ff);
      ln(p + 'final_layer_norm');
    }
    if (spec.doLayerNormBefore ?? true) ln('model.decoder.final_layer_norm');
  } else {
    const ff = spec.intermediateSize ?? 4 * d;
    const ln = (name: string) => { add(name + '.weight', [d], 'normW'); add(name + '.bias', [d], 'normB'); };
    const conv = (name: string, i: number, o: number) => { add(name + '.weight', [i, o], 'matrix'); add(name + '.bias', [o], 'bias'); };
    add('transformer.wte.weight', [spec.vocabSize, d], 'embed');
    add('transformer.wpe.weight', [spec.maxPositions ?? 64, d], 'embed');
    for (let i = 0; i < layers; i++) {
      const p = `transformer.h.${i}.`;
      ln(p + 'ln_1');
      conv(p + 'attn.c_attn', d, 3 * d);
      conv(p + 'attn.c_proj', d, d);
      ln(p + 'ln_2');
      conv(p + 'mlp.c_fc', d, ff);
      conv(p + 'mlp.c_proj', ff, d);
    }
    ln('transformer.ln_f');
  }
  return w;
}

// ---- dtype rounding and encoding ----

/** float → bfloat16 bits, round to nearest even (as torch does). */
export function f32ToBf16(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function decodeF16(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

export function decodeBf16(h: number): number {
  const u = new Uint32Array([(h & 0xffff) << 16]);
  return new Float32Array(u.buffer)[0];
}

function encode(data: Float64Array, dtype: TinyDType): { bytes: Uint8Array; values: Float64Array } {
  const n = data.length;
  const values = new Float64Array(n);
  if (dtype === 'F32') {
    const f = Float32Array.from(data);
    values.set(f);
    return { bytes: new Uint8Array(f.buffer), values };
  }
  const u = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    u[i] = dtype === 'F16' ? f32ToF16(data[i]) : f32ToBf16(data[i]);
    values[i] = dtype === 'F16' ? decodeF16(u[i]) : decodeBf16(u[i]);
  }
  return { bytes: new Uint8Array(u.buffer), values };
}

function writeJson(file: string, obj: unknown, sortKeys: boolean): void {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const key of Object.keys(v).sort()) o[key] = sorted((v as Record<string, unknown>)[key]);
      return o;
    }
    return v;
  };
  fs.writeFileSync(file, JSON.stringify(sortKeys ? sorted(obj) : obj, null, 2) + '\n');
}

export interface TinyModel {
  dir: string;
  config: Record<string, unknown>;
  /** The stored values as float64 (after rounding to spec.dtype), HF names. */
  weights: RefWeights;
  /** Weight files written, relative to dir. */
  files: string[];
}

/** Write config.json + safetensors (one file, or two shards and an index) into dir (created if needed). */
export function writeTinyModel(dir: string, spec: TinyModelSpec): TinyModel {
  fs.mkdirSync(dir, { recursive: true });
  const config = tinyConfig(spec);
  const raw = tinyWeights(spec);
  spec.edit?.(raw, config);
  const dtype = spec.dtype ?? 'F32';
  const weights: RefWeights = new Map();
  const tensors: Array<[string, TensorToWrite]> = [];
  for (const [name, t] of raw) {
    const { bytes, values } = encode(t.data, dtype);
    weights.set(name, { data: values, shape: [...t.shape] });
    tensors.push([name, { dtype, shape: [...t.shape], data: bytes }]);
  }
  writeJson(path.join(dir, 'config.json'), config, true);
  const meta = { format: 'pt' };
  let files: string[];
  if (!spec.sharded) {
    files = ['model.safetensors'];
    writeSafetensors(path.join(dir, files[0]), Object.fromEntries(tensors), meta);
  } else {
    files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const half = Math.ceil(tensors.length / 2);
    const parts = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    let total = 0;
    parts.forEach((part, i) => {
      writeSafetensors(path.join(dir, files[i]), Object.fromEntries(part), meta);
      for (const [name, t] of part) { weightMap[name] = files[i]; total += t.data.byteLength; }
    });
    writeJson(path.join(dir, 'model.safetensors.index.json'), { metadata: { total_size: total }, weight_map: weightMap }, false);
  }
  return { dir, config, weights, files };
}

// ---- reading back (own parser, not the engine's) ----

/** Tensors of one safetensors file as float64 (F32/F16/BF16/F64), plus dtypes and metadata. */
export function readSafetensorsF64(file: string): { tensors: RefWeights; dtypes: Map<string, string>; metadata: Record<string, string> } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + n;
  const tensors: RefWeights = new Map();
  const dtypes = new Map<string, string>();
  let metadata: Record<string, string> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = h as unknown as Record<string, string>; continue; }
    const [b, e] = h.data_offsets;
    const count = h.shape.reduce((a, x) => a * x, 1);
    const size = ({ F64: 8, F32: 4, F16: 2, BF16: 2 } as Record<string, number | undefined>)[h.dtype];
    if (size === undefined) throw new Error(`${file}: '${name}' has dtype ${h.dtype}`);
    if (e - b !== count * size) throw new Error(`${file}: '${name}' byte range does not match its shape`);
    const data = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const at = base + b + i * size;
      data[i] = h.dtype === 'F64' ? buf.readDoubleLE(at) : h.dtype === 'F32' ? buf.readFloatLE(at)
        : h.dtype === 'F16' ? decodeF16(buf.readUInt16LE(at)) : decodeBf16(buf.readUInt16LE(at));
    }
    tensors.set(name, { data, shape: h.shape });
    dtypes.set(name, h.dtype);
  }
  return { tensors, dtypes, metadata };
}

/** config.json and every tensor of an HF folder (model.safetensors or the shards its index names). */
export function readHfFolder(dir: string): { config: Record<string, unknown>; weights: RefWeights; dtypes: Map<string, string> } {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const index = path.join(dir, 'model.safetensors.index.json');
  let files = ['model.safetensors'];
  let weightMap: Record<string, string> | undefined;
  if (fs.existsSync(index)) {
    weightMap = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
    files = [...new Set(Object.values(weightMap))];
  }
  const weights: RefWeights = new Map();
  const dtypes = new Map<string, string>();
  for (const f of files) {
    const r = readSafetensorsF64(path.join(dir, f));
    for (const [name, t] of r.tensors) {
      if (weights.has(name)) throw new Error(`${dir}: tensor '${name}' is in two files`);
      if (weightMap && weightMap[name] !== f) throw new Error(`${dir}: index puts '${name}' in ${weightMap[name]}, found in ${f}`);
      weights.set(name, t);
      dtypes.set(name, r.dtypes.get(name)!);
    }
  }
  if (weightMap) for (const name of Object.keys(weightMap)) if (!weights.has(name)) throw new Error(`${dir}: '${name}' is in the index but in no file`);
  return { config, weights, dtypes };
}
