// Tiny random HF-layout checkpoints for the loader tests (models/load.ts): config.json +
// safetensors (single file, or shards with an index), in F32, F16 or BF16. Tensor names and shapes come from expectedWeights();
// the tests check those lists independently.

import * as fs from 'fs';
import * as path from 'path';
import { f32ToF16, f16ToF32, bf16ToF32 } from '../../src/engine/formats/dtypes';
import { TensorToWrite, writeSafetensors } from '../../src/engine/formats/safetensors';
import { parseHfConfig } from '../../src/engine/models/hf-config';
import { expectedWeights } from '../../src/engine/models/weights';
import { IdpError, IdpErrorCode } from '../../src/engine/errors';
import { mulberry32 } from './prng';

/** Deterministic PRNG (mulberry32): uniform in [0, 1). */
export const prng = mulberry32;

export function randomF32(n: number, rand: () => number, scale = 0.5): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rand() * 2 - 1) * scale;
  return x;
}

export type TinyKind = 'llama' | 'mistral' | 'qwen2' | 'opt' | 'opt350' | 'gpt2';

/** A small but structurally complete config.json for each family. */
export function tinyConfig(kind: TinyKind): Record<string, unknown> {
  switch (kind) {
    case 'llama': return {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 48, hidden_size: 32, intermediate_size: 40,
      num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5,
      tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
    };
    case 'mistral': return {
      architectures: ['MistralForCausalLM'], model_type: 'mistral', vocab_size: 48, hidden_size: 32, intermediate_size: 40,
      num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 1, max_position_embeddings: 64, sliding_window: 4096,
    };
    case 'qwen2': return {
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 48, hidden_size: 32, intermediate_size: 40,
      num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, rope_theta: 1000000,
      tie_word_embeddings: true, rms_norm_eps: 1e-6,
    };
    case 'opt': return {
      architectures: ['OPTForCausalLM'], model_type: 'opt', vocab_size: 48, hidden_size: 32, ffn_dim: 64, num_hidden_layers: 2,
      num_attention_heads: 4, max_position_embeddings: 16, do_layer_norm_before: true, word_embed_proj_dim: 32,
      activation_function: 'relu', enable_bias: true,
    };
    case 'opt350': return {
      architectures: ['OPTForCausalLM'], model_type: 'opt', vocab_size: 48, hidden_size: 32, ffn_dim: 64, num_hidden_layers: 2,
      num_attention_heads: 4, max_position_embeddings: 16, do_layer_norm_before: false, word_embed_proj_dim: 16,
    };
    case 'gpt2': return {
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 48, n_embd: 32, n_layer: 2, n_head: 4,
      n_positions: 16, n_ctx: 16, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5,
    };
  }
}

export interface TinyHfOptions {
  dtype?: 'F32' | 'F16' | 'BF16';
  /** >1: write that many shards and model.safetensors.index.json. */
  shards?: number;
  /** Write several *.safetensors without an index (needs shards > 1). */
  noIndex?: boolean;
  /** GPT-2: names without "transformer." plus the attn.bias / attn.masked_bias buffers, like the hub file. */
  hubGpt2Names?: boolean;
  seed?: number;
  /** Drop these canonical names from the files. */
  omit?: string[];
  /** Replace these shapes (canonical name → shape), to test shape checks. */
  reshape?: Record<string, number[]>;
}

function toBytes(x: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): { data: ArrayBufferView; stored: Float32Array } {
  if (dtype === 'F32') return { data: x, stored: x };
  const u = new Uint16Array(x.length);
  const stored = new Float32Array(x.length);
  const f = new Float32Array(1);
  const fu = new Uint32Array(f.buffer);
  for (let i = 0; i < x.length; i++) {
    if (dtype === 'F16') {
      u[i] = f32ToF16(x[i]);
      stored[i] = f16ToF32(u[i]);
    } else {
      f[0] = x[i];
      u[i] = fu[0] >>> 16; // truncation is a valid BF16 value
      stored[i] = bf16ToF32(u[i]);
    }
  }
  return { data: u, stored };
}

/**
 * Write a tiny random HF model into `dir` (created). Returns the stored values (after dtype
 * rounding) by canonical name.
 */
export function writeTinyHf(dir: string, config: Record<string, unknown>, opts: TinyHfOptions = {}): Map<string, Float32Array> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const cfg = parseHfConfig(config, path.join(dir, 'config.json'));
  const rand = prng(opts.seed ?? 1234);
  const dtype = opts.dtype ?? 'F32';
  const values = new Map<string, Float32Array>();
  const files: Array<Record<string, TensorToWrite>> = [];
  const nShards = Math.max(1, opts.shards ?? 1);
  for (let i = 0; i < nShards; i++) files.push({});
  let k = 0;
  for (const [name, expShape] of expectedWeights(cfg)) {
    if (opts.omit?.includes(name)) continue;
    const shape = opts.reshape?.[name] ?? expShape;
    const { data, stored } = toBytes(randomF32(shape.reduce((a, b) => a * b, 1), rand), dtype);
    values.set(name, stored);
    const fileName = opts.hubGpt2Names ? name.replace(/^transformer\./, '') : name;
    files[k++ % nShards][fileName] = { dtype, shape, data };
  }
  if (opts.hubGpt2Names) {
    const n = cfg.maxPositions;
    const mask = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) mask[i * n + j] = 1;
    for (let l = 0; l < cfg.numLayers; l++) {
      files[l % nShards][`h.${l}.attn.bias`] = { dtype: 'F32', shape: [1, 1, n, n], data: mask };
      files[l % nShards][`h.${l}.attn.masked_bias`] = { dtype: 'F32', shape: [], data: new Float32Array([-1e4]) };
    }
  }
  if (nShards === 1) {
    writeSafetensors(path.join(dir, 'model.safetensors'), files[0], { format: 'pt' });
  } else {
    const weightMap: Record<string, string> = {};
    files.forEach((f, i) => {
      const fn = `model-${String(i + 1).padStart(5, '0')}-of-${String(nShards).padStart(5, '0')}.safetensors`;
      writeSafetensors(path.join(dir, fn), f, { format: 'pt' });
      for (const n of Object.keys(f)) weightMap[n] = fn;
    });
    if (!opts.noIndex) {
      fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
    }
  }
  return values;
}

/**
 * Run `fn` (sync or async) and require an IdpError with this code whose message names `file`
 * (and matches `pattern` when given). Returns the error.
 */
export async function expectIdpError(fn: () => unknown, code: IdpErrorCode, file?: string, pattern?: RegExp): Promise<IdpError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected an IdpError ${code}, but nothing was thrown`);
  if (!(err instanceof IdpError)) throw new Error(`expected an IdpError ${code}, got ${(err as Error)?.stack ?? String(err)}`);
  if (err.code !== code) throw new Error(`expected IdpError ${code}, got ${err.code}: ${err.message}`);
  if (file !== undefined && !err.message.includes(file)) throw new Error(`error message does not name ${file}: ${err.message}`);
  if (pattern && !pattern.test(err.message)) throw new Error(`error message does not match ${pattern}: ${err.message}`);
  return err;
}
