// safetensors: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data section.
// Offsets are relative to the data section, which starts at 8 + N.
//
// The reader validates everything a lying header could break (lengths, offsets inside the file,
// byte counts matching dtype × shape, no overlaps) so that a graph never references bytes that
// are not there. Tensors are never read here unless asked: the graph builder points ONNX external
// data at [absOffset, absOffset + byteLength) and ORT memory-maps the file.

import * as fs from 'fs';
import * as path from 'path';
import { DType, DTYPE_BYTES, isDType, numel, f16ToF32, bf16ToF32 } from './dtypes';
import { formatError } from '../errors';
import { FILE_LIMITS, within } from './limits';
import { withOpenFile } from './files';

export interface TensorRef {
  name: string;
  dtype: DType;
  shape: number[];
  file: string;        // absolute path of the file holding the bytes
  offset: number;      // absolute byte offset in `file`
  byteLength: number;
}

export interface SafetensorsHeader {
  file: string;
  metadata: Record<string, string>;
  tensors: Map<string, TensorRef>;
}

export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const abs = path.resolve(file);
  return withOpenFile(abs, (fd, size) => {
    if (size < 8) throw formatError(abs, `safetensors file is ${size} bytes, shorter than its 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    within(abs, 'safetensors header length', n, FILE_LIMITS.safetensorsHeader, { inBytes: true });
    if (n < 2 || 8 + n > size) {
      throw formatError(abs, `safetensors header length ${n} does not fit a file of ${size} bytes`);
    }
    const jsonBuf = Buffer.alloc(n);
    fs.readSync(fd, jsonBuf, 0, n, 8);
    let header: unknown;
    try {
      header = JSON.parse(jsonBuf.toString('utf8'));
    } catch (e) {
      throw formatError(abs, `safetensors header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw formatError(abs, 'safetensors header is not a JSON object');
    }
    const dataStart = 8 + n;
    const dataLen = size - dataStart;
    const tensors = new Map<string, TensorRef>();
    let metadata: Record<string, string> = {};
    const spans: Array<[number, number, string]> = [];
    for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof t !== 'object' || t === null) throw formatError(abs, `tensor '${name}': entry is not an object`);
      if (typeof t.dtype !== 'string' || !isDType(t.dtype)) {
        throw formatError(abs, `tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)}`);
      }
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw formatError(abs, `tensor '${name}': shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
      }
      const off = t.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
        throw formatError(abs, `tensor '${name}': data_offsets ${JSON.stringify(off)} are invalid`);
      }
      const [b, e] = off as [number, number];
      const want = numel(t.shape as number[]) * DTYPE_BYTES[t.dtype];
      if (e - b !== want) {
        throw formatError(abs, `tensor '${name}': ${e - b} bytes in data_offsets but dtype ${t.dtype} × shape [${t.shape}] needs ${want}`);
      }
      if (e > dataLen) {
        throw formatError(abs, `tensor '${name}': data ends at byte ${e} of the data section but the file holds only ${dataLen} (truncated?)`);
      }
      spans.push([b, e, name]);
      tensors.set(name, { name, dtype: t.dtype, shape: t.shape as number[], file: abs, offset: dataStart + b, byteLength: e - b });
    }
    spans.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i][0] < spans[i - 1][1]) throw formatError(abs, `tensors '${spans[i - 1][2]}' and '${spans[i][2]}' overlap`);
    }
    return { file: abs, metadata, tensors };
  });
}

/** Read a tensor's bytes (for conversion, tests and small tensors; large weights stay memory-mapped by ORT). */
export function readTensorBytes(ref: TensorRef): Buffer {
  const fd = fs.openSync(ref.file, 'r');
  try {
    const buf = Buffer.alloc(ref.byteLength);
    const got = fs.readSync(fd, buf, 0, ref.byteLength, ref.offset);
    if (got !== ref.byteLength) throw formatError(ref.file, `tensor '${ref.name}': file ended after ${got} of ${ref.byteLength} bytes`);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** Read a floating-point tensor as float32 values (F32, F16, BF16, F64). */
export function readTensorF32(ref: TensorRef): Float32Array {
  const buf = readTensorBytes(ref);
  const n = numel(ref.shape);
  const out = new Float32Array(n);
  switch (ref.dtype) {
    case 'F32': for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(4 * i); break;
    case 'F64': for (let i = 0; i < n; i++) out[i] = buf.readDoubleLE(8 * i); break;
    case 'F16': for (let i = 0; i < n; i++) out[i] = f16ToF32(buf.readUInt16LE(2 * i)); break;
    case 'BF16': for (let i = 0; i < n; i++) out[i] = bf16ToF32(buf.readUInt16LE(2 * i)); break;
    default: throw formatError(ref.file, `tensor '${ref.name}' has dtype ${ref.dtype}, not a float type`);
  }
  return out;
}

export interface TensorToWrite {
  dtype: DType;
  shape: number[];
  data: ArrayBufferView;   // raw little-endian bytes of exactly numel × dtype size
}

/**
 * Write a safetensors file atomically (temp file + rename). Data offsets are aligned to 8 bytes
 * by padding the JSON header with spaces, as the reference writer does.
 */
export function writeSafetensors(file: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let pos = 0;
  for (const name of names) {
    const t = tensors[name];
    const want = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== want) throw new Error(`writeSafetensors: '${name}' has ${t.data.byteLength} bytes, dtype × shape needs ${want}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + want] };
    pos += want;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const hlen = Buffer.alloc(8);
  hlen.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, hlen);
    fs.writeSync(fd, Buffer.from(json, 'utf8'));
    for (const name of names) {
      const d = tensors[name].data;
      fs.writeSync(fd, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
