// GGUF (v2/v3, little-endian) reader and dequantizer, written from the format description.
//
// Layout: "GGUF" u32 version, u64 tensor_count, u64 kv_count, then kv_count × {string key, u32 type,
// value}, then tensor_count × {string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset},
// padding to `general.alignment` (default 32), then the data section; tensor offsets are relative
// to it and multiples of the alignment. Strings are u64 length + UTF-8 bytes.
// ggml dims: ne[0] is the fastest axis, so `shape` (PyTorch order) is ne reversed: a matrix with
// ne = [in, out] is row-major [out, in].
//
// Every count and length read from the file is checked against the bytes that remain before
// anything is allocated for it, so a lying header gives a FORMAT error, never a huge allocation.
// The header is read through a small buffered cursor: the data section is never read here.

import * as fs from 'fs';
import * as path from 'path';
import { formatError, unsupported } from '../errors';
import { FILE_LIMITS, within } from './limits';
import { f16ToF32 } from './dtypes';
import { withOpenFile } from './files';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** ggml tensor types: name, elements per block, bytes per block. */
export const GGML_TYPES: Record<number, { name: string; block: number; bytes: number }> = {
  0: { name: 'F32', block: 1, bytes: 4 }, 1: { name: 'F16', block: 1, bytes: 2 },
  2: { name: 'Q4_0', block: 32, bytes: 18 }, 3: { name: 'Q4_1', block: 32, bytes: 20 },
  6: { name: 'Q5_0', block: 32, bytes: 22 }, 7: { name: 'Q5_1', block: 32, bytes: 24 },
  8: { name: 'Q8_0', block: 32, bytes: 34 }, 9: { name: 'Q8_1', block: 32, bytes: 36 },
  10: { name: 'Q2_K', block: 256, bytes: 84 }, 11: { name: 'Q3_K', block: 256, bytes: 110 },
  12: { name: 'Q4_K', block: 256, bytes: 144 }, 13: { name: 'Q5_K', block: 256, bytes: 176 },
  14: { name: 'Q6_K', block: 256, bytes: 210 }, 15: { name: 'Q8_K', block: 256, bytes: 292 },
  16: { name: 'IQ2_XXS', block: 256, bytes: 66 }, 17: { name: 'IQ2_XS', block: 256, bytes: 74 },
  18: { name: 'IQ3_XXS', block: 256, bytes: 98 }, 19: { name: 'IQ1_S', block: 256, bytes: 50 },
  20: { name: 'IQ4_NL', block: 32, bytes: 18 }, 21: { name: 'IQ3_S', block: 256, bytes: 110 },
  22: { name: 'IQ2_S', block: 256, bytes: 82 }, 23: { name: 'IQ4_XS', block: 256, bytes: 136 },
  24: { name: 'I8', block: 1, bytes: 1 }, 25: { name: 'I16', block: 1, bytes: 2 },
  26: { name: 'I32', block: 1, bytes: 4 }, 27: { name: 'I64', block: 1, bytes: 8 },
  28: { name: 'F64', block: 1, bytes: 8 }, 29: { name: 'IQ1_M', block: 256, bytes: 56 },
  30: { name: 'BF16', block: 1, bytes: 2 },
};

/** Types dequantize() handles. */
export const DEQUANTIZABLE = ['F32', 'F16', 'BF16', 'F64', 'Q8_0', 'Q4_0', 'Q4_1'];

export interface GgufTensorInfo {
  name: string;
  ggmlType: number;
  typeName: string;
  /** ggml order: ne[0] fastest. */
  ne: number[];
  /** PyTorch order (ne reversed). */
  shape: number[];
  numel: number;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  file: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
}

const MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const MAX_DEPTH = 8;
const CHUNK = 1 << 20;
/** Fixed byte sizes of metadata value types (strings and arrays are variable). */
const VALUE_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  constructor(private readonly fd: number, readonly size: number, private readonly file: string) {}

  need(n: number, what: string): void {
    if (!(n <= this.size - this.pos)) {
      throw formatError(this.file, `${what} at byte ${this.pos} needs ${n} bytes but only ${this.size - this.pos} remain (truncated or corrupt header)`);
    }
  }

  /** Make [pos, pos+n) available in the buffer; returns the index of pos in it. */
  private at(n: number, what: string): number {
    this.need(n, what);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, CHUNK), this.size - this.pos);
      this.buf = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const r = fs.readSync(this.fd, this.buf, got, len - got, this.pos + got);
        if (r <= 0) throw formatError(this.file, `file ended at byte ${this.pos + got} while reading ${what}`);
        got += r;
      }
      this.bufStart = this.pos;
    }
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }

  // (at() may replace the buffer, so it must run before `this.buf` is read.)
  u8(w: string) { const i = this.at(1, w); return this.buf.readUInt8(i); }
  i8(w: string) { const i = this.at(1, w); return this.buf.readInt8(i); }
  u16(w: string) { const i = this.at(2, w); return this.buf.readUInt16LE(i); }
  i16(w: string) { const i = this.at(2, w); return this.buf.readInt16LE(i); }
  u32(w: string) { const i = this.at(4, w); return this.buf.readUInt32LE(i); }
  i32(w: string) { const i = this.at(4, w); return this.buf.readInt32LE(i); }
  f32(w: string) { const i = this.at(4, w); return this.buf.readFloatLE(i); }
  f64(w: string) { const i = this.at(8, w); return this.buf.readDoubleLE(i); }
  u64big(w: string) { const i = this.at(8, w); return this.buf.readBigUInt64LE(i); }
  i64big(w: string) { const i = this.at(8, w); return this.buf.readBigInt64LE(i); }

  /** A u64 used as a count/length/offset: must be a safe integer. */
  u64(w: string): number {
    const v = this.u64big(w);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(this.file, `${w} is ${v}, beyond any file size`);
    return Number(v);
  }

  str(w: string): string {
    const n = this.u64(`${w} length`);
    within(this.file, `${w} length`, n, FILE_LIMITS.ggufString, { inBytes: true });
    const i = this.at(n, w);
    return this.buf.toString('utf8', i, i + n);
  }
}

/** The shortest decimal that rounds to the same float32 (1e-5, not 0.000009999999747378752). */
function shortestF32(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  for (let p = 1; p <= 9; p++) {
    const c = Number(v.toPrecision(p));
    if (Math.fround(c) === v) return c;
  }
  return v;
}

const asNum = (v: bigint) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function readValue(c: Cursor, type: number, key: string, depth: number, file: string): GgufValue {
  switch (type) {
    case 0: return c.u8(key);
    case 1: return c.i8(key);
    case 2: return c.u16(key);
    case 3: return c.i16(key);
    case 4: return c.u32(key);
    case 5: return c.i32(key);
    case 6: return shortestF32(c.f32(key));
    case 7: {
      const b = c.u8(key);
      if (b > 1) throw formatError(file, `metadata '${key}': bool value ${b} is neither 0 nor 1`);
      return b === 1;
    }
    case 8: return c.str(`metadata '${key}' string`);
    case 9: {
      if (depth >= MAX_DEPTH) throw formatError(file, `metadata '${key}': arrays nested deeper than ${MAX_DEPTH}`);
      const et = c.u32(`metadata '${key}' array type`);
      if (et !== 8 && et !== 9 && VALUE_SIZE[et] === undefined) {
        throw formatError(file, `metadata '${key}': unknown array element type ${et}`);
      }
      const n = c.u64(`metadata '${key}' array length`);
      const minSize = et === 8 ? 8 : et === 9 ? 12 : VALUE_SIZE[et];
      c.need(n * minSize, `metadata '${key}' array of ${n} elements`);
      within(file, `metadata '${key}': array length`, n, FILE_LIMITS.ggufArray);
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, et, key, depth + 1, file);
      return out;
    }
    case 10: return asNum(c.u64big(key));
    case 11: return asNum(c.i64big(key));
    case 12: return c.f64(key);
    default: throw formatError(file, `metadata '${key}': unknown value type ${type}`);
  }
}

/** True if the file starts with the GGUF magic. */
export function isGguf(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(4);
    return fs.readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32LE(0) === MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Parse and validate a GGUF file's header, metadata and tensor table (not the tensor data). */
export function readGguf(file: string): GgufFile {
  const abs = path.resolve(file);
  return withOpenFile(abs, (fd, size) => {
    const c = new Cursor(fd, size, abs);
    c.need(24, 'GGUF header');
    if (c.u32('magic') !== MAGIC) throw formatError(abs, 'not a GGUF file (magic is not "GGUF")');
    const version = c.u32('version');
    if (version !== 2 && version !== 3) {
      const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
      if (swapped === 2 || swapped === 3) throw unsupported('big-endian GGUF files are not supported', abs);
      if (version === 1) throw unsupported('GGUF version 1 is obsolete; re-convert the model with a current llama.cpp', abs);
      throw formatError(abs, `unknown GGUF version ${version} (expected 2 or 3)`);
    }
    const nTensors = c.u64('tensor count');
    const nKv = c.u64('metadata count');
    c.need(nKv * 13, `${nKv} metadata entries`);
    within(abs, 'metadata count', nKv, FILE_LIMITS.ggufMetadata);
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.str(`metadata key #${i}`);
      if (metadata.has(key)) throw formatError(abs, `metadata key '${key}' appears twice`);
      const type = c.u32(`metadata '${key}' type`);
      metadata.set(key, readValue(c, type, key, 0, abs));
    }
    c.need(nTensors * 24, `${nTensors} tensor descriptions`);
    within(abs, 'tensor count', nTensors, FILE_LIMITS.ggufTensors);
    const infos: Array<Omit<GgufTensorInfo, 'offset'> & { rel: number }> = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = c.str(`tensor #${i} name`);
      if (names.has(name)) throw formatError(abs, `tensor '${name}' appears twice`);
      names.add(name);
      const nd = c.u32(`tensor '${name}' dimension count`);
      if (nd < 1 || nd > 4) throw formatError(abs, `tensor '${name}' has ${nd} dimensions (ggml allows 1 to 4)`);
      const ne: number[] = [];
      let numel = 1;
      for (let k = 0; k < nd; k++) {
        const d = c.u64(`tensor '${name}' dimension ${k}`);
        ne.push(d);
        numel *= d;
        if (numel > Number.MAX_SAFE_INTEGER) throw formatError(abs, `tensor '${name}' dimensions [${ne}] are impossibly large`);
      }
      const ggmlType = c.u32(`tensor '${name}' type`);
      const t = GGML_TYPES[ggmlType];
      if (!t) throw formatError(abs, `tensor '${name}' has unknown ggml type ${ggmlType}`);
      if (ne[0] % t.block !== 0) {
        throw formatError(abs, `tensor '${name}': row length ${ne[0]} is not a multiple of the ${t.name} block size ${t.block}`);
      }
      const rel = c.u64(`tensor '${name}' offset`);
      infos.push({ name, ggmlType, typeName: t.name, ne, shape: [...ne].reverse(), numel, byteLength: (numel / t.block) * t.bytes, rel });
    }
    let alignment = 32;
    if (metadata.has('general.alignment')) {
      const a = metadata.get('general.alignment');
      if (typeof a !== 'number' || !Number.isInteger(a) || a < 1 || a > 1 << 20 || (a & (a - 1)) !== 0) {
        throw formatError(abs, `general.alignment ${String(a)} is not a power of two`);
      }
      alignment = a;
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    const dataLen = size - dataOffset;
    const tensors = new Map<string, GgufTensorInfo>();
    const spans: Array<[number, number, string]> = [];
    for (const t of infos) {
      if (t.rel % alignment !== 0) throw formatError(abs, `tensor '${t.name}' offset ${t.rel} is not a multiple of the alignment ${alignment}`);
      if (t.rel + t.byteLength > dataLen) {
        throw formatError(abs, `tensor '${t.name}' (${t.typeName} [${t.ne}], ${t.byteLength} bytes at data offset ${t.rel}) ends beyond the end of the file (data section holds ${Math.max(0, dataLen)} bytes; truncated?)`);
      }
      spans.push([t.rel, t.rel + t.byteLength, t.name]);
      const { rel, ...rest } = t;
      tensors.set(t.name, { ...rest, offset: dataOffset + rel });
    }
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i][0] < spans[i - 1][1]) throw formatError(abs, `tensors '${spans[i - 1][2]}' and '${spans[i][2]}' overlap`);
    }
    return { file: abs, version, alignment, metadata, tensors, dataOffset, fileSize: size };
  });
}

let F16_TABLE: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) F16_TABLE[i] = f16ToF32(i);
  }
  return F16_TABLE;
}

/** Dequantize `numel` elements of ggml type `type` from raw little-endian bytes. */
export function dequantize(type: number, bytes: Uint8Array, numel: number, file = '<memory>', name = 'tensor'): Float32Array {
  const t = GGML_TYPES[type];
  if (!t) throw formatError(file, `tensor '${name}' has unknown ggml type ${type}`);
  const need = (numel / t.block) * t.bytes;
  if (numel % t.block !== 0 || bytes.byteLength < need) {
    throw formatError(file, `tensor '${name}': ${bytes.byteLength} bytes cannot hold ${numel} ${t.name} values`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(numel);
  const h = t.block > 1 || t.name === 'F16' ? f16Table() : undefined;
  switch (t.name) {
    case 'F32': for (let i = 0; i < numel; i++) out[i] = dv.getFloat32(4 * i, true); break;
    case 'F64': for (let i = 0; i < numel; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'F16': for (let i = 0; i < numel; i++) out[i] = h![dv.getUint16(2 * i, true)]; break;
    case 'BF16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < numel; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      break;
    }
    case 'Q8_0':
      for (let b = 0, o = 0; o < numel; b += 34, o += 32) {
        const d = h![dv.getUint16(b, true)];
        for (let j = 0; j < 32; j++) out[o + j] = d * dv.getInt8(b + 2 + j);
      }
      break;
    case 'Q4_0':
      for (let b = 0, o = 0; o < numel; b += 18, o += 32) {
        const d = h![dv.getUint16(b, true)];
        for (let j = 0; j < 16; j++) {
          const q = bytes[b + 2 + j];
          out[o + j] = d * ((q & 0x0f) - 8);
          out[o + j + 16] = d * ((q >> 4) - 8);
        }
      }
      break;
    case 'Q4_1':
      for (let b = 0, o = 0; o < numel; b += 20, o += 32) {
        const d = h![dv.getUint16(b, true)];
        const m = h![dv.getUint16(b + 2, true)];
        for (let j = 0; j < 16; j++) {
          const q = bytes[b + 4 + j];
          out[o + j] = d * (q & 0x0f) + m;
          out[o + j + 16] = d * (q >> 4) + m;
        }
      }
      break;
    default:
      throw unsupported(`tensor '${name}' has type ${t.name}; IDP Lab dequantizes ${DEQUANTIZABLE.join(', ')}`, file);
  }
  return out;
}

/** Read one tensor's raw bytes. */
export function readGgufTensorBytes(g: GgufFile, t: GgufTensorInfo): Buffer {
  const fd = fs.openSync(g.file, 'r');
  try {
    const buf = Buffer.alloc(t.byteLength);
    let got = 0;
    while (got < t.byteLength) {
      const r = fs.readSync(fd, buf, got, t.byteLength - got, t.offset + got);
      if (r <= 0) throw formatError(g.file, `tensor '${t.name}': file ended after ${got} of ${t.byteLength} bytes`);
      got += r;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** Read and dequantize one tensor to float32 (flat, PyTorch row-major order = ggml order). */
export function readGgufTensorF32(g: GgufFile, t: GgufTensorInfo): Float32Array {
  if (!DEQUANTIZABLE.includes(t.typeName)) {
    throw unsupported(`tensor '${t.name}' has type ${t.typeName}; IDP Lab dequantizes ${DEQUANTIZABLE.join(', ')}`, g.file);
  }
  return dequantize(t.ggmlType, readGgufTensorBytes(g, t), t.numel, g.file, t.name);
}

// ---- typed metadata access (errors name the key) ----

export function ggufNumber(g: GgufFile, key: string): number | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw formatError(g.file, `metadata '${key}' should be a number, got ${typeof v === 'object' ? 'an array' : typeof v}`);
  return v;
}

export function ggufString(g: GgufFile, key: string): string | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw formatError(g.file, `metadata '${key}' should be a string`);
  return v;
}

export function ggufStringArray(g: GgufFile, key: string): string[] | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw formatError(g.file, `metadata '${key}' should be an array of strings`);
  return v as string[];
}

export function ggufNumberArray(g: GgufFile, key: string): number[] | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw formatError(g.file, `metadata '${key}' should be an array of numbers`);
  return v as number[];
}
