// A random-weight Llama of a chosen size, written in two formats for the decode benchmark:
//   <cache>/random-llama-<key>/hf/{config.json, model.safetensors}   (F32, HF rotate_half layout)
//   <cache>/random-llama-<key>/model-f32.gguf                        (F32, llama.cpp layout)
// <cache> is $IDP_CACHE/bench or ~/.cache/idp-lab/bench; <key> hashes the spec and WRITER_VERSION,
// so a rerun with the same spec reuses the files. The folder is written under a temporary name and
// renamed into place: a folder that exists is complete.
//
// Weights are a deterministic function of (spec.seed, tensor name): each tensor has its own PRNG
// stream, so the GGUF is written one tensor at a time (regenerating each tensor) and only the
// safetensors write (writeSafetensors takes every tensor at once) holds the whole model, once.
//
// GGUF specifics: ggml dims are the PyTorch shape reversed; wq/wk rows use llama.cpp's interleaved
// rotary layout, per head gguf_row[h*hd + 2*i + j] = hf_row[h*hd + j*(hd/2) + i]; the vocabulary is
// a synthetic SentencePiece-style one (<unk>, <s>, </s>, 256 byte tokens, then unique pieces) so
// that llama.cpp's vocab loader accepts it.
//
// ensureRandomLlamaQ4_0() adds model-q4_0.gguf beside them: every matrix in ggml's Q4_0 (the reference
// quantizer, as llama.cpp's `llama-quantize --pure` writes it; norms F32), for the 4-bit decode rows.
// ensureRandomLlamaQ4_K_M() adds model-q4_k_m.gguf: llama.cpp's Q4_K_M mix of types (Q6_K for the
// output / tied embedding, and for attn_v and ffn_down in the layers llama.cpp's use_more_bits picks —
// the first and last eighth and every third between; Q4_K elsewhere), written by the round-to-nearest
// K-quant writer src/engine/formats/ggml-quantize.ts (not llama.cpp's scale search: same layout, somewhat
// higher error). ensureRandomLlamaGguf(spec, type, { f32: false }) writes only the quantized GGUF (the
// ~1B row: no F32 model on disk or in memory; one tensor generated at a time).
//
// Run directly (node out/bench/write-random-llama.js) to write the default model and print its paths.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeSafetensors, TensorToWrite } from '../src/engine/formats/safetensors';
import { llamaConfigJson } from '../src/engine/models/hf-config';
import { permuteRotaryRows } from '../src/engine/models/convert';
import type { ModelConfig } from '../src/engine/models/config';
import { quantizeQ4_0 } from '../test/helpers/gguf-writer';
import { quantizeQ4_K, quantizeQ6_K } from '../src/engine/formats/ggml-quantize';

/** Bump when the written files change: old cache entries are then ignored. */
export const WRITER_VERSION = 2;

export interface RandomLlamaSpec {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  context: number;
  tied: boolean;
  seed: number;
  /** Uniform init with this standard deviation for linear weights. */
  std: number;
  /** Standard deviation of the token embedding (also the head when tied). */
  embedStd: number;
  ropeTheta: number;
  eps: number;
}

/**
 * ~100M parameters: 12 layers of 768 with GQA (12 q / 4 kv heads), SwiGLU 2048, 32k vocab, tied head.
 * std 0.04 / embedStd 0.02: with smaller linear weights greedy decoding of a random model collapses
 * into one repeated token, which would make the cross-engine agreement check weak.
 */
export const DEFAULT_SPEC: RandomLlamaSpec = {
  hidden: 768, layers: 12, heads: 12, kvHeads: 4, intermediate: 2048, vocab: 32000, context: 2048,
  tied: true, seed: 1234, std: 0.04, embedStd: 0.02, ropeTheta: 10000, eps: 1e-5,
};

export interface RandomLlama {
  spec: RandomLlamaSpec;
  dir: string;
  hfDir: string;
  gguf: string;
  parameters: number;
  /** Bytes of F32 weights (what both engines hold). */
  weightBytes: number;
  /** True when this call wrote the files (false: cache hit). */
  written: boolean;
}

export function benchCacheDir(): string {
  if (process.env.IDP_CACHE) return path.join(path.resolve(process.env.IDP_CACHE), 'bench');
  return path.join(os.homedir(), '.cache', 'idp-lab', 'bench');
}

export function specKey(spec: RandomLlamaSpec): string {
  return crypto.createHash('sha256').update(JSON.stringify({ v: WRITER_VERSION, ...spec })).digest('hex').slice(0, 16);
}

export function specConfig(s: RandomLlamaSpec): ModelConfig {
  return {
    arch: 'llama', hfArchitecture: 'LlamaForCausalLM', modelType: 'llama',
    vocabSize: s.vocab, hiddenSize: s.hidden, numLayers: s.layers, numHeads: s.heads, numKvHeads: s.kvHeads,
    headDim: s.hidden / s.heads, intermediateSize: s.intermediate, maxPositions: s.context, normEps: s.eps,
    activation: 'silu', tieWordEmbeddings: s.tied, bosTokenId: 1, eosTokenId: 2, ropeTheta: s.ropeTheta,
    attentionBias: false, oProjBias: false, mlpBias: false,
  };
}

interface TensorSpec {
  hf: string;
  gguf: string;
  shape: number[];         // PyTorch order [out, in]
  kind: 'embed' | 'linear' | 'norm';
  /** Rotary heads for wq/wk (rows permuted to the interleaved layout in the GGUF). */
  rotaryHeads?: number;
}

export function tensorSpecs(s: RandomLlamaSpec): TensorSpec[] {
  if (s.hidden % s.heads !== 0 || (s.hidden / s.heads) % 2 !== 0 || s.heads % s.kvHeads !== 0) {
    throw new Error(`random llama spec: hidden ${s.hidden}, heads ${s.heads}, kv heads ${s.kvHeads} do not form even heads`);
  }
  const hd = s.hidden / s.heads;
  const d = s.hidden;
  const t: TensorSpec[] = [{ hf: 'model.embed_tokens.weight', gguf: 'token_embd.weight', shape: [s.vocab, d], kind: 'embed' }];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}.`;
    const b = `blk.${i}.`;
    t.push(
      { hf: `${p}input_layernorm.weight`, gguf: `${b}attn_norm.weight`, shape: [d], kind: 'norm' },
      { hf: `${p}self_attn.q_proj.weight`, gguf: `${b}attn_q.weight`, shape: [s.heads * hd, d], kind: 'linear', rotaryHeads: s.heads },
      { hf: `${p}self_attn.k_proj.weight`, gguf: `${b}attn_k.weight`, shape: [s.kvHeads * hd, d], kind: 'linear', rotaryHeads: s.kvHeads },
      { hf: `${p}self_attn.v_proj.weight`, gguf: `${b}attn_v.weight`, shape: [s.kvHeads * hd, d], kind: 'linear' },
      { hf: `${p}self_attn.o_proj.weight`, gguf: `${b}attn_output.weight`, shape: [d, s.heads * hd], kind: 'linear' },
      { hf: `${p}post_attention_layernorm.weight`, gguf: `${b}ffn_norm.weight`, shape: [d], kind: 'norm' },
      { hf: `${p}mlp.gate_proj.weight`, gguf: `${b}ffn_gate.weight`, shape: [s.intermediate, d], kind: 'linear' },
      { hf: `${p}mlp.up_proj.weight`, gguf: `${b}ffn_up.weight`, shape: [s.intermediate, d], kind: 'linear' },
      { hf: `${p}mlp.down_proj.weight`, gguf: `${b}ffn_down.weight`, shape: [d, s.intermediate], kind: 'linear' },
    );
  }
  t.push({ hf: 'model.norm.weight', gguf: 'output_norm.weight', shape: [d], kind: 'norm' });
  if (!s.tied) t.push({ hf: 'lm_head.weight', gguf: 'output.weight', shape: [s.vocab, d], kind: 'linear' });
  return t;
}

export function parameterCountOf(s: RandomLlamaSpec): number {
  return tensorSpecs(s).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** A tensor's values in HF layout: uniform noise of the kind's std (norms: 1 ± 0.1). */
function generate(s: RandomLlamaSpec, t: TensorSpec): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  // xorshift128 seeded from sha256(seed, name): one independent stream per tensor.
  const h = crypto.createHash('sha256').update(`${s.seed}:${t.hf}`).digest();
  let a = h.readUInt32LE(0) | 1, b = h.readUInt32LE(4), c = h.readUInt32LE(8), d = h.readUInt32LE(12);
  const [center, half] = t.kind === 'norm' ? [1, 0.1] : [0, (t.kind === 'embed' ? s.embedStd : s.std) * Math.sqrt(3)];
  const scale = (2 * half) / 4294967296;
  for (let i = 0; i < n; i++) {
    const x = a ^ (a << 11);
    a = b; b = c; c = d;
    d = (d ^ (d >>> 19) ^ (x ^ (x >>> 8))) >>> 0;
    out[i] = center - half + d * scale;
  }
  return out;
}

function ggufLayout(s: RandomLlamaSpec, t: TensorSpec, w: Float32Array): Float32Array {
  if (!t.rotaryHeads) return w;
  return permuteRotaryRows(w, t.rotaryHeads, s.hidden / s.heads, t.shape[1], 'interleaved');
}

// ---------------------------------------------------------------------------------------------
// GGUF v3 writing (only what this file needs: scalars, strings, arrays of them; F32 tensors)

const GGUF_ALIGN = 32;
type Kv = ['u32', number] | ['f32', number] | ['str', string] | ['bool', boolean] | ['str[]', string[]] | ['f32[]', number[]] | ['i32[]', number[]];
const T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9;

class ByteWriter {
  private chunks: Buffer[] = [];
  length = 0;
  private push(b: Buffer): void { this.chunks.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v: number): void { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v: number): void { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  u8(v: number): void { this.push(Buffer.from([v])); }
  str(v: string): void { const b = Buffer.from(v, 'utf8'); this.u64(b.length); this.push(b); }
  pad(align: number): void { const r = this.length % align; if (r) this.push(Buffer.alloc(align - r)); }
  bytes(): Buffer { return Buffer.concat(this.chunks); }
}

function writeKv(w: ByteWriter, key: string, v: Kv): void {
  w.str(key);
  switch (v[0]) {
    case 'u32': w.u32(T_U32); w.u32(v[1]); break;
    case 'f32': w.u32(T_F32); w.f32(v[1]); break;
    case 'str': w.u32(T_STR); w.str(v[1]); break;
    case 'bool': w.u32(T_BOOL); w.u8(v[1] ? 1 : 0); break;
    case 'str[]': w.u32(T_ARR); w.u32(T_STR); w.u64(v[1].length); v[1].forEach((x) => w.str(x)); break;
    case 'f32[]': w.u32(T_ARR); w.u32(T_F32); w.u64(v[1].length); v[1].forEach((x) => w.f32(x)); break;
    case 'i32[]': w.u32(T_ARR); w.u32(T_I32); w.u64(v[1].length); v[1].forEach((x) => w.i32(x)); break;
  }
}

/**
 * Synthetic SentencePiece vocabulary: <unk> <s> </s>, <0x00>…<0xFF>, '▁' and the printable ASCII
 * characters (so any ASCII text round-trips through the tokenizer), then unique filler pieces.
 */
export function syntheticVocab(n: number): { tokens: string[]; scores: number[]; types: number[] } {
  if (n < 259 + 1) throw new Error(`random llama spec: vocab ${n} is smaller than the 259 special and byte tokens + 1`);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];  // unknown, control, control
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
  for (const c of ['\u2581', ...Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))]) {
    if (tokens.length < n) { tokens.push(c); types.push(1); }
  }
  for (let i = tokens.length; i < n; i++) { tokens.push(`\u2581t${i.toString(36)}`); types.push(1); }
  const scores = tokens.map((_, i) => (i < 259 ? 0 : -i));
  return { tokens, scores, types };
}

/**
 * Write an F32 llama GGUF of shape `s` whose tensors (HF layout, PyTorch shape) come from `data`; the
 * vocabulary is the synthetic one above (callers that bring their own tokenizer feed llama.cpp token ids).
 */
export type GgufWeightType = 'F32' | 'Q4_0' | 'Q4_K_M';
type TensorType = 'F32' | 'Q4_0' | 'Q4_K' | 'Q6_K';
const GGML: Record<TensorType, { id: number; qk: number; bytes: number; encode: (x: Float32Array) => Uint8Array }> = {
  F32: { id: 0, qk: 1, bytes: 4, encode: (f) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength) },
  Q4_0: { id: 2, qk: 32, bytes: 18, encode: quantizeQ4_0 },
  Q4_K: { id: 12, qk: 256, bytes: 144, encode: quantizeQ4_K },
  Q6_K: { id: 14, qk: 256, bytes: 210, encode: quantizeQ6_K },
};
/** llama.cpp's general.file_type (llama_ftype): ALL_F32, MOSTLY_Q4_0, MOSTLY_Q4_K_M. */
const FILE_TYPE: Record<GgufWeightType, number> = { F32: 0, Q4_0: 2, Q4_K_M: 15 };

/** llama.cpp's use_more_bits(i, n): the first and last eighth of the layers, and every third between. */
const useMoreBits = (i: number, n: number) => i < n / 8 || i >= (7 * n) / 8 || (i - Math.floor(n / 8)) % 3 === 2;

/** The ggml type of one tensor in a file of `type` (Q4_K_M: llama.cpp's mix for a llama). */
function tensorType(s: RandomLlamaSpec, t: TensorSpec, type: GgufWeightType): TensorType {
  if (type === 'F32' || t.shape.length !== 2) return 'F32';
  if (type === 'Q4_0') return 'Q4_0';
  if (t.gguf === 'output.weight' || (s.tied && t.gguf === 'token_embd.weight')) return 'Q6_K';
  const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(t.gguf);
  return m && useMoreBits(Number(m[1]), s.layers) ? 'Q6_K' : 'Q4_K';
}

export function writeLlamaGguf(file: string, s: RandomLlamaSpec, data: (hfName: string, shape: number[]) => Float32Array, name = 'idp-lab random llama', type: GgufWeightType = 'F32'): void {
  const specs = tensorSpecs(s);
  const hd = s.hidden / s.heads;
  const vocab = syntheticVocab(s.vocab);
  const kvs: Array<[string, Kv]> = [
    ['general.architecture', ['str', 'llama']],
    ['general.name', ['str', name]],
    ['general.alignment', ['u32', GGUF_ALIGN]],
    ['general.file_type', ['u32', FILE_TYPE[type]]],
    ['llama.context_length', ['u32', s.context]],
    ['llama.embedding_length', ['u32', s.hidden]],
    ['llama.block_count', ['u32', s.layers]],
    ['llama.feed_forward_length', ['u32', s.intermediate]],
    ['llama.rope.dimension_count', ['u32', hd]],
    ['llama.rope.freq_base', ['f32', s.ropeTheta]],
    ['llama.attention.head_count', ['u32', s.heads]],
    ['llama.attention.head_count_kv', ['u32', s.kvHeads]],
    ['llama.attention.layer_norm_rms_epsilon', ['f32', s.eps]],
    ['llama.vocab_size', ['u32', s.vocab]],
    ['tokenizer.ggml.model', ['str', 'llama']],
    ['tokenizer.ggml.tokens', ['str[]', vocab.tokens]],
    ['tokenizer.ggml.scores', ['f32[]', vocab.scores]],
    ['tokenizer.ggml.token_type', ['i32[]', vocab.types]],
    ['tokenizer.ggml.unknown_token_id', ['u32', 0]],
    ['tokenizer.ggml.bos_token_id', ['u32', 1]],
    ['tokenizer.ggml.eos_token_id', ['u32', 2]],
    ['tokenizer.ggml.add_bos_token', ['bool', true]],
    ['tokenizer.ggml.add_eos_token', ['bool', false]],
  ];
  const w = new ByteWriter();
  w.u32(0x46554747); // "GGUF"
  w.u32(3);
  w.u64(specs.length);
  w.u64(kvs.length);
  for (const [k, v] of kvs) writeKv(w, k, v);
  const types = specs.map((t) => GGML[tensorType(s, t, type)]);
  let offset = 0;
  for (const [i, t] of specs.entries()) {
    w.str(t.gguf);
    w.u32(t.shape.length);
    for (const dim of [...t.shape].reverse()) w.u64(dim);
    w.u32(types[i].id);
    w.u64(offset);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n % types[i].qk) throw new Error(`random llama spec: ${t.gguf} [${t.shape}] is not whole ${type} blocks`);
    const bytes = (n / types[i].qk) * types[i].bytes;
    offset += Math.ceil(bytes / GGUF_ALIGN) * GGUF_ALIGN;
  }
  w.pad(GGUF_ALIGN);
  const fd = fs.openSync(file, 'w');
  try {
    writeAll(fd, w.bytes());
    for (const [i, t] of specs.entries()) {
      const x = types[i].encode(ggufLayout(s, t, data(t.hf, t.shape)));
      writeAll(fd, x);
      const r = x.byteLength % GGUF_ALIGN;
      if (r) writeAll(fd, new Uint8Array(GGUF_ALIGN - r));
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}

function writeHf(dir: string, s: RandomLlamaSpec): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors: Record<string, TensorToWrite> = {};
  for (const t of tensorSpecs(s)) tensors[t.hf] = { dtype: 'F32', shape: t.shape, data: generate(s, t) };
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt', written_by: 'idp-lab bench/write-random-llama' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(llamaConfigJson(specConfig(s)), null, 2) + '\n');
}

/** Write (or reuse from the cache) the random Llama of `spec` in both formats. */
export function ensureRandomLlama(spec: RandomLlamaSpec = DEFAULT_SPEC, cacheDir = benchCacheDir()): RandomLlama {
  const dir = path.join(path.resolve(cacheDir), `random-llama-${specKey(spec)}`);
  const parameters = parameterCountOf(spec);
  const result = { spec, dir, hfDir: path.join(dir, 'hf'), gguf: path.join(dir, 'model-f32.gguf'), parameters, weightBytes: 4 * parameters };
  if (fs.existsSync(path.join(result.hfDir, 'model.safetensors')) && fs.existsSync(result.gguf)) return { ...result, written: false };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(dir), `.tmp-${path.basename(dir)}-`));
  try {
    writeLlamaGguf(path.join(tmp, 'model-f32.gguf'), spec, (name) => generate(spec, tensorSpecs(spec).find((t) => t.hf === name)!));
    writeHf(path.join(tmp, 'hf'), spec);
    fs.writeFileSync(path.join(tmp, 'spec.json'), JSON.stringify({ writerVersion: WRITER_VERSION, parameters, ...spec }, null, 2) + '\n');
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      if (!fs.existsSync(result.gguf)) throw e;   // another process finished first: keep theirs
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { ...result, written: true };
}

const GGUF_FILE: Record<Exclude<GgufWeightType, 'F32'>, string> = { Q4_0: 'model-q4_0.gguf', Q4_K_M: 'model-q4_k_m.gguf' };

/**
 * The random Llama of `spec` as a quantized GGUF in its cache folder, written once. With `f32` (the
 * default) the F32 formats are ensured first (ensureRandomLlama); without, only this file is written,
 * one tensor generated and quantized at a time (peak memory: the largest tensor in F32, twice for q/k).
 */
export function ensureRandomLlamaGguf(spec: RandomLlamaSpec, type: Exclude<GgufWeightType, 'F32'>, opts: { f32?: boolean; cacheDir?: string } = {}): { file: string; written: boolean; parameters: number } {
  const cacheDir = opts.cacheDir ?? benchCacheDir();
  const dir = opts.f32 === false ? path.join(path.resolve(cacheDir), `random-llama-${specKey(spec)}`) : ensureRandomLlama(spec, cacheDir).dir;
  const file = path.join(dir, GGUF_FILE[type]);
  const parameters = parameterCountOf(spec);
  if (fs.existsSync(file)) return { file, written: false, parameters };
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeLlamaGguf(tmp, spec, (name) => generate(spec, tensorSpecs(spec).find((t) => t.hf === name)!), `idp-lab random llama (${type})`, type);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return { file, written: true, parameters };
}

/** The random Llama of `spec` as a Q4_0 GGUF (model-q4_0.gguf in its cache folder), written once. */
export function ensureRandomLlamaQ4_0(spec: RandomLlamaSpec = DEFAULT_SPEC, cacheDir = benchCacheDir()): { file: string; written: boolean } {
  return ensureRandomLlamaGguf(spec, 'Q4_0', { cacheDir });
}

/** The random Llama of `spec` as a Q4_K_M-like GGUF (model-q4_k_m.gguf in its cache folder), written once. */
export function ensureRandomLlamaQ4_K_M(spec: RandomLlamaSpec = DEFAULT_SPEC, cacheDir = benchCacheDir()): { file: string; written: boolean } {
  return ensureRandomLlamaGguf(spec, 'Q4_K_M', { cacheDir });
}

/**
 * ~1.2B parameters in the shape of Llama-3.2-1B: 16 layers of 2048, 32 q / 8 kv heads (head 64), SwiGLU
 * 8192, 128256-entry vocabulary, tied head. Only written quantized (ensureRandomLlamaGguf, f32: false).
 */
export const LLAMA_1B_SPEC: RandomLlamaSpec = {
  hidden: 2048, layers: 16, heads: 32, kvHeads: 8, intermediate: 8192, vocab: 128256, context: 2048,
  tied: true, seed: 1234, std: 0.04, embedStd: 0.02, ropeTheta: 500000, eps: 1e-5,
};

if (require.main === module) {
  const t0 = Date.now();
  const m = ensureRandomLlama();
  console.log(JSON.stringify({ ...m, seconds: (Date.now() - t0) / 1000, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }, null, 2));
}
