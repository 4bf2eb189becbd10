// A small streaming GGUF v3 writer for tests and benchmarks (not shipped).
//
// writeGguf() writes the header, metadata and tensor table, then asks each tensor for its data one
// at a time (a Float32Array or a function returning one), encodes it (F32, F16, Q8_0 or Q4_0) and
// appends it, so a ~100M-parameter model never has to be in memory at once. It returns where each
// header field landed, so tests can corrupt exactly one field.
// writeLlamaGguf() lays out a Llama in llama.cpp's naming and rotary layout from HF-named weights.

import * as fs from 'fs';
import { f32ToF16 } from '../../src/engine/formats/dtypes';

export type ScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'str' | 'u64' | 'i64' | 'f64';
export type GgufMeta =
  | { type: ScalarType; value: number | bigint | boolean | string }
  | { type: 'arr'; elem: ScalarType; values: Array<number | bigint | boolean | string> }
  | { type: 'arr'; elem: 'arr'; values: GgufMeta[] };

const TYPE_ID: Record<ScalarType | 'arr', number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12,
};

/** Metadata value constructors. */
export const gv = {
  u32: (value: number): GgufMeta => ({ type: 'u32', value }),
  i32: (value: number): GgufMeta => ({ type: 'i32', value }),
  u64: (value: number | bigint): GgufMeta => ({ type: 'u64', value }),
  f32: (value: number): GgufMeta => ({ type: 'f32', value }),
  f64: (value: number): GgufMeta => ({ type: 'f64', value }),
  bool: (value: boolean): GgufMeta => ({ type: 'bool', value }),
  str: (value: string): GgufMeta => ({ type: 'str', value }),
  arr: (elem: ScalarType, values: Array<number | bigint | boolean | string>): GgufMeta => ({ type: 'arr', elem, values }),
  nested: (values: GgufMeta[]): GgufMeta => ({ type: 'arr', elem: 'arr', values }),
};

export type TensorType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';
const GGML_ID: Record<TensorType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 };
const BLOCK: Record<TensorType, [number, number]> = { F32: [1, 4], F16: [1, 2], Q4_0: [32, 18], Q8_0: [32, 34] };

export interface GgufTensorSpec {
  name: string;
  /** PyTorch order (outermost first); written as ne = shape reversed. */
  shape: number[];
  type: TensorType;
  data: Float32Array | (() => Float32Array);
}

/** A tensor given as raw bytes of any ggml type id (to test unknown or unsupported types). */
export interface GgufRawTensorSpec { name: string; shape: number[]; ggmlType: number; raw: Uint8Array }

export interface GgufLayout {
  tensorCountPos: number;
  kvCountPos: number;
  /** Position of each metadata key's type field (the value follows it). */
  kvTypePos: Map<string, number>;
  /** Per tensor: positions of n_dims, ne[0], type and offset fields. */
  tensorFields: Map<string, { nDims: number; ne: number; type: number; offset: number }>;
  dataOffset: number;
  tensorOffsets: Map<string, number>;
  size: number;
}

class Sink {
  private buf = Buffer.alloc(1 << 20);
  private used = 0;
  pos = 0;
  constructor(private readonly fd: number) {}
  write(b: Uint8Array): void {
    if (this.used + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) {
      let o = 0;
      while (o < b.length) o += fs.writeSync(this.fd, b, o, b.length - o);
    } else {
      this.buf.set(b, this.used);
      this.used += b.length;
    }
    this.pos += b.length;
  }
  flush(): void {
    let o = 0;
    while (o < this.used) o += fs.writeSync(this.fd, this.buf, o, this.used - o);
    this.used = 0;
  }
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.write(b); }
  u64(v: number | bigint) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.write(b); }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.write(b); }
}

function writeScalar(s: Sink, t: ScalarType, v: number | bigint | boolean | string): void {
  const b = Buffer.alloc(8);
  switch (t) {
    case 'u8': b.writeUInt8(v as number); return s.write(b.subarray(0, 1));
    case 'i8': b.writeInt8(v as number); return s.write(b.subarray(0, 1));
    case 'u16': b.writeUInt16LE(v as number); return s.write(b.subarray(0, 2));
    case 'i16': b.writeInt16LE(v as number); return s.write(b.subarray(0, 2));
    case 'u32': b.writeUInt32LE(v as number); return s.write(b.subarray(0, 4));
    case 'i32': b.writeInt32LE(v as number); return s.write(b.subarray(0, 4));
    case 'f32': b.writeFloatLE(v as number); return s.write(b.subarray(0, 4));
    case 'bool': b.writeUInt8(v ? 1 : 0); return s.write(b.subarray(0, 1));
    case 'u64': b.writeBigUInt64LE(BigInt(v as number)); return s.write(b);
    case 'i64': b.writeBigInt64LE(BigInt(v as number)); return s.write(b);
    case 'f64': b.writeDoubleLE(v as number); return s.write(b);
    case 'str': return s.str(v as string);
  }
}

function writeValue(s: Sink, m: GgufMeta): void {
  if (m.type !== 'arr') return writeScalar(s, m.type, m.value);
  s.u32(TYPE_ID[m.elem]);
  s.u64(m.values.length);
  for (const v of m.values) {
    if (m.elem === 'arr') {
      const inner = v as GgufMeta;
      if (inner.type !== 'arr') throw new Error('nested array elements must be arrays');
      writeValue(s, inner);
    } else {
      writeScalar(s, m.elem, v as number);
    }
  }
}

/** ggml's Q8_0: per 32 values d = max|x|/127 (stored as f16), q = round(x/d). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % 32) throw new Error('Q8_0 needs a multiple of 32 values');
  const out = new Uint8Array((x.length / 32) * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    dv.setUint16(b * 34, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.round(x[b * 32 + j] * id));
  }
  return out;
}

/** ggml's Q4_0: per 32 values d = max/-8 (max = the value of largest magnitude), q = clamp(x/d + 8.5). */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  if (x.length % 32) throw new Error('Q4_0 needs a multiple of 32 values');
  const out = new Uint8Array((x.length / 32) * 18);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let max = 0;
    for (let j = 0; j < 32; j++) if (Math.abs(x[b * 32 + j]) > Math.abs(max)) max = x[b * 32 + j];
    const d = max / -8;
    const id = d ? 1 / d : 0;
    dv.setUint16(b * 18, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(x[b * 32 + j] * id + 8.5));
      const hi = Math.min(15, Math.trunc(x[b * 32 + j + 16] * id + 8.5));
      out[b * 18 + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}

export function encodeTensor(type: TensorType, x: Float32Array): Uint8Array {
  switch (type) {
    case 'F32': return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    case 'F16': {
      const u = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) u[i] = f32ToF16(x[i]);
      return new Uint8Array(u.buffer);
    }
    case 'Q8_0': return quantizeQ8_0(x);
    case 'Q4_0': return quantizeQ4_0(x);
  }
}

/** Write a GGUF v3 (or v2) file. Metadata keys are written in the given order. */
export function writeGguf(
  file: string,
  metadata: Array<[string, GgufMeta]>,
  tensors: Array<GgufTensorSpec | GgufRawTensorSpec>,
  opts: { alignment?: number; version?: number } = {},
): GgufLayout {
  const align = opts.alignment ?? 32;
  const fd = fs.openSync(file, 'w');
  const s = new Sink(fd);
  const layout: GgufLayout = {
    tensorCountPos: 8, kvCountPos: 16, kvTypePos: new Map(), tensorFields: new Map(), dataOffset: 0, tensorOffsets: new Map(), size: 0,
  };
  try {
    s.write(Buffer.from('GGUF', 'latin1'));
    s.u32(opts.version ?? 3);
    s.u64(tensors.length);
    s.u64(metadata.length);
    for (const [k, v] of metadata) {
      s.str(k);
      layout.kvTypePos.set(k, s.pos);
      s.u32(TYPE_ID[v.type]);
      writeValue(s, v);
    }
    const sizes = tensors.map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if ('raw' in t) return t.raw.length;
      const [blk, bytes] = BLOCK[t.type];
      if (t.shape[t.shape.length - 1] % blk) throw new Error(`${t.name}: row length not a multiple of ${blk}`);
      return (n / blk) * bytes;
    });
    let rel = 0;
    tensors.forEach((t, i) => {
      s.str(t.name);
      const f = { nDims: s.pos, ne: 0, type: 0, offset: 0 };
      s.u32(t.shape.length);
      f.ne = s.pos;
      for (const d of [...t.shape].reverse()) s.u64(d);
      f.type = s.pos;
      s.u32('raw' in t ? t.ggmlType : GGML_ID[t.type]);
      f.offset = s.pos;
      s.u64(rel);
      layout.tensorFields.set(t.name, f);
      layout.tensorOffsets.set(t.name, rel);
      rel += Math.ceil(sizes[i] / align) * align;
    });
    const pad = (n: number) => s.write(new Uint8Array((align - (n % align)) % align));
    pad(s.pos);
    layout.dataOffset = s.pos;
    tensors.forEach((t, i) => {
      let bytes: Uint8Array;
      if ('raw' in t) bytes = t.raw;
      else {
        const x = typeof t.data === 'function' ? t.data() : t.data;
        if (x.length !== t.shape.reduce((a, b) => a * b, 1)) throw new Error(`${t.name}: ${x.length} values for shape [${t.shape}]`);
        bytes = encodeTensor(t.type, x);
      }
      s.write(bytes);
      if (i < tensors.length - 1) pad(bytes.length);
    });
    s.flush();
    layout.size = s.pos;
  } finally {
    fs.closeSync(fd);
  }
  return layout;
}

export interface LlamaGgufSpec {
  vocab: number; hidden: number; layers: number; heads: number; kvHeads: number; ffn: number;
  context?: number; eps?: number; theta?: number;
  /** Write output.weight (untied classifier). */
  untied?: boolean;
  /** Vocabulary to embed (SentencePiece-style); omitted → no tokenizer metadata. */
  tokens?: string[];
}

const GGUF_OF: Record<string, string> = {
  input_layernorm: 'attn_norm', 'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output', post_attention_layernorm: 'ffn_norm', 'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
};

/**
 * Write a Llama GGUF in llama.cpp's naming and (interleaved) rotary layout. `weight(hfName, shape)`
 * supplies each tensor in HF layout, on demand. Matrices use `type`; norms stay F32.
 */
export function writeLlamaGguf(file: string, spec: LlamaGgufSpec, weight: (hfName: string, shape: number[]) => Float32Array, type: TensorType = 'F32'): GgufLayout {
  const hd = spec.hidden / spec.heads;
  const md: Array<[string, GgufMeta]> = [
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str('test-llama')],
    ['llama.context_length', gv.u32(spec.context ?? 256)],
    ['llama.embedding_length', gv.u32(spec.hidden)],
    ['llama.feed_forward_length', gv.u32(spec.ffn)],
    ['llama.block_count', gv.u32(spec.layers)],
    ['llama.attention.head_count', gv.u32(spec.heads)],
    ['llama.attention.head_count_kv', gv.u32(spec.kvHeads)],
    ['llama.rope.dimension_count', gv.u32(hd)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(spec.eps ?? 1e-5)],
    ['llama.rope.freq_base', gv.f32(spec.theta ?? 10000)],
    ['general.alignment', gv.u32(32)],
  ];
  if (spec.tokens) {
    md.push(['tokenizer.ggml.model', gv.str('llama')]);
    md.push(['tokenizer.ggml.tokens', gv.arr('str', spec.tokens)]);
    md.push(['tokenizer.ggml.scores', gv.arr('f32', spec.tokens.map((_, i) => -i))]);
    md.push(['tokenizer.ggml.bos_token_id', gv.u32(1)]);
    md.push(['tokenizer.ggml.eos_token_id', gv.u32(2)]);
  }
  const d = spec.hidden;
  const kv = spec.kvHeads * hd;
  const t: GgufTensorSpec[] = [];
  const add = (gname: string, hfName: string, shape: number[], perm?: number) => t.push({
    name: gname, shape, type: shape.length === 1 ? 'F32' : type,
    data: () => {
      const w = weight(hfName, shape);
      return perm ? toGgufRotaryRows(w, perm, hd, shape[1]) : w;
    },
  });
  add('token_embd.weight', 'model.embed_tokens.weight', [spec.vocab, d]);
  add('output_norm.weight', 'model.norm.weight', [d]);
  if (spec.untied) add('output.weight', 'lm_head.weight', [spec.vocab, d]);
  const shapes: Record<string, number[]> = {
    input_layernorm: [d], 'self_attn.q_proj': [d, d], 'self_attn.k_proj': [kv, d], 'self_attn.v_proj': [kv, d],
    'self_attn.o_proj': [d, d], post_attention_layernorm: [d], 'mlp.gate_proj': [spec.ffn, d],
    'mlp.up_proj': [spec.ffn, d], 'mlp.down_proj': [d, spec.ffn],
  };
  for (let l = 0; l < spec.layers; l++) {
    for (const [hfPart, gPart] of Object.entries(GGUF_OF)) {
      const perm = hfPart === 'self_attn.q_proj' ? spec.heads : hfPart === 'self_attn.k_proj' ? spec.kvHeads : undefined;
      add(`blk.${l}.${gPart}.weight`, `model.layers.${l}.${hfPart}.weight`, shapes[hfPart], perm);
    }
  }
  return writeGguf(file, md, t);
}

/**
 * The row order convert_hf_to_gguf.py writes for q/k, restated independently of the engine's convert.ts as the
 * published numpy expression: w.reshape(heads, 2, headDim / 2, cols).swapaxes(1, 2).reshape(heads * headDim, cols).
 * [heads*headDim, cols] in HF order (rotary halves) -> the same shape in GGUF order (rotary pairs interleaved).
 */
export function toGgufRotaryRows(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const dims = [heads, 2, headDim / 2, cols]; // source axes (h, j, i, c)
  const strides = [2 * (headDim / 2) * cols, (headDim / 2) * cols, cols, 1];
  const out = new Float32Array(w.length);
  let o = 0;
  // iterate the swapped shape (h, i, j, c) in row-major order, reading the source through its strides
  for (let h = 0; h < dims[0]; h++) for (let i = 0; i < dims[2]; i++) for (let j = 0; j < dims[1]; j++) {
    for (let c = 0; c < dims[3]; c++) out[o++] = w[h * strides[0] + j * strides[1] + i * strides[2] + c * strides[3]];
  }
  return out;
}
