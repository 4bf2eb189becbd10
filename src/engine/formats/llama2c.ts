// llama2.c checkpoints (karpathy/llama2.c), float32 only.
//
// Version 0 (legacy, run.c): int32[7] = dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len (a negative vocab_size means an unshared classifier stored at the end), then float32:
//   token_embedding [V,d], rms_att [L,d], wq [L,d,d], wk [L,kv,d], wv [L,kv,d], wo [L,d,d],
//   rms_ffn [L,d], w1 [L,h,d], w2 [L,d,h], w3 [L,h,d], rms_final [d],
//   freq_cis_real [seq_len, hs/2], freq_cis_imag [seq_len, hs/2], (wcls [V,d])
// Version 1 (export.py version1_export): u32 magic 0x616b3432 ("ak42"), int32 version = 1, the 7 params
// (vocab positive), u8 shared_classifier, zero padding to 256 bytes, then float32:
//   rms_att [L,d], rms_ffn [L,d], rms_final [d], token_embedding [V,d], wq, wk, wv, wo, w1, w2, w3,
//   (wcls [V,d]); no freq_cis tables.
// Version 2 (int8 Q8_0) is refused as UNSUPPORTED.
//
// The file size must equal what the header implies, to the byte; otherwise a FORMAT error says
// the expected and the actual size. Matrices are row-major [out, in] (run.c's matmul), like PyTorch.
// wq/wk rows use the interleaved (adjacent pairs) rotary layout; see models/convert.ts.

import * as fs from 'fs';
import * as path from 'path';
import { formatError, unsupported } from '../errors';
import { MODEL_LIMITS, within } from './limits';
import { withOpenFile } from './files';

export const LLAMA2C_MAGIC = 0x616b3432;
const V1_HEADER = 256;
const V0_HEADER = 28;

export interface Llama2cHeader {
  file: string;
  version: 0 | 1;
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;   // always positive here
  seqLen: number;
  sharedClassifier: boolean;
  headSize: number;
  headerBytes: number;
  fileSize: number;
}

/** One run of float32 values in the file; `layer` set for per-layer matrices. */
export interface Llama2cTensor {
  /** llama2.c name: token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag, wcls */
  name: string;
  layer?: number;
  shape: number[];
  offset: number;      // absolute byte offset
  byteLength: number;
}

function readHead(file: string): { buf: Buffer; size: number } {
  return withOpenFile(file, (fd, size) => {
    const buf = Buffer.alloc(Math.min(size, V1_HEADER));
    fs.readSync(fd, buf, 0, buf.length, 0);
    return { buf, size };
  });
}

/** True when the file starts with the llama2.c v1+ magic "ak42". */
export function hasLlama2cMagic(file: string): boolean {
  try {
    const { buf } = readHead(file);
    return buf.length >= 8 && buf.readUInt32LE(0) === LLAMA2C_MAGIC;
  } catch {
    return false;
  }
}

/** Sizes (in floats) of each weight group, in v0 order. */
function groups(h: Llama2cHeader): Array<{ name: string; perLayer: boolean; shape: number[] }> {
  const { dim: d, hiddenDim: hd, nKvHeads, headSize, vocabSize: v, seqLen } = h;
  const kv = nKvHeads * headSize;
  return [
    { name: 'token_embedding', perLayer: false, shape: [v, d] },
    { name: 'rms_att', perLayer: true, shape: [d] },
    { name: 'wq', perLayer: true, shape: [d, d] },
    { name: 'wk', perLayer: true, shape: [kv, d] },
    { name: 'wv', perLayer: true, shape: [kv, d] },
    { name: 'wo', perLayer: true, shape: [d, d] },
    { name: 'rms_ffn', perLayer: true, shape: [d] },
    { name: 'w1', perLayer: true, shape: [hd, d] },
    { name: 'w2', perLayer: true, shape: [d, hd] },
    { name: 'w3', perLayer: true, shape: [hd, d] },
    { name: 'rms_final', perLayer: false, shape: [d] },
    { name: 'freq_cis_real', perLayer: false, shape: [seqLen, headSize / 2] },
    { name: 'freq_cis_imag', perLayer: false, shape: [seqLen, headSize / 2] },
  ];
}

const V1_ORDER = ['rms_att', 'rms_ffn', 'rms_final', 'token_embedding', 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'];

function orderedGroups(h: Llama2cHeader) {
  const g = groups(h);
  const byName = new Map(g.map((x) => [x.name, x]));
  const list = h.version === 0 ? g : V1_ORDER.map((n) => byName.get(n)!);
  if (!h.sharedClassifier) list.push({ name: 'wcls', perLayer: false, shape: [h.vocabSize, h.dim] });
  return list;
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Floats the header implies (may exceed 2^53 for a lying header; then it cannot match anyway). */
function impliedBytes(h: Llama2cHeader): number {
  let n = 0;
  for (const g of orderedGroups(h)) n += count(g.shape) * (g.perLayer ? h.nLayers : 1);
  return h.headerBytes + 4 * n;
}

/** Read and validate a llama2.c header; the file size must match what it implies exactly. */
export function readLlama2cHeader(file: string): Llama2cHeader {
  const abs = path.resolve(file);
  const { buf, size } = readHead(abs);
  let version: 0 | 1 = 0;
  let p = 0;
  if (buf.length >= 8 && buf.readUInt32LE(0) === LLAMA2C_MAGIC) {
    const v = buf.readInt32LE(4);
    if (v === 2) throw unsupported('llama2.c version 2 (int8 Q8_0) checkpoints are not supported; export with --version 1 or 0', abs);
    if (v !== 1) throw formatError(abs, `llama2.c magic "ak42" with unknown version ${v} (expected 1)`);
    if (size < V1_HEADER) throw formatError(abs, `llama2.c v1 header needs ${V1_HEADER} bytes but the file has ${size}`);
    version = 1;
    p = 8;
  } else if (size < V0_HEADER) {
    throw formatError(abs, `llama2.c checkpoint needs a ${V0_HEADER}-byte header but the file has ${size} bytes`);
  }
  const ints = [0, 1, 2, 3, 4, 5, 6].map((i) => buf.readInt32LE(p + 4 * i));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = ints;
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  const bad = ints.map((v, i) => (i === 5 ? v === 0 : v <= 0) ? `${names[i]}=${v}` : '').filter(Boolean);
  if (bad.length) throw formatError(abs, `not a valid llama2.c checkpoint: header has ${bad.join(', ')}`);
  if (version === 1 && rawVocab < 0) throw formatError(abs, `llama2.c v1 header has negative vocab_size ${rawVocab}`);
  if (dim % nHeads !== 0) throw formatError(abs, `llama2.c header: dim ${dim} is not divisible by n_heads ${nHeads}`);
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw formatError(abs, `llama2.c header: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  }
  const headSize = dim / nHeads;
  if (headSize % 2 !== 0) throw formatError(abs, `llama2.c header: head size ${headSize} is odd`);
  let sharedClassifier = rawVocab > 0;
  if (version === 1) {
    const flag = buf.readUInt8(36);
    if (flag > 1) throw formatError(abs, `llama2.c v1 header: shared_classifier flag is ${flag}, not 0 or 1`);
    sharedClassifier = flag === 1;
  }
  const h: Llama2cHeader = {
    file: abs, version, dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(rawVocab), seqLen,
    sharedClassifier, headSize, headerBytes: version === 1 ? V1_HEADER : V0_HEADER, fileSize: size,
  };
  const expected = impliedBytes(h);
  if (expected !== size) {
    const what = `dim ${dim}, hidden ${hiddenDim}, ${nLayers} layers, ${nHeads} heads, ${nKvHeads} kv heads, vocab ${rawVocab}, seq_len ${seqLen}`;
    throw formatError(abs, `llama2.c v${version} header (${what}) implies ${expected} bytes but the file has ${size} bytes`);
  }
  // a header that matches its file can still ask for more than any model has (the file is then huge)
  const L = MODEL_LIMITS;
  [L.hiddenSize, L.intermediateSize, L.numLayers, L.numHeads, L.numKvHeads, L.vocabSize, L.maxPositions]
    .forEach((limit, i) => within(abs, `llama2.c header ${names[i]}`, Math.abs(ints[i]), limit));
  return h;
}

/** Every float32 run in the file, in file order (freq_cis tables included for v0). */
export function llama2cTensors(h: Llama2cHeader): Llama2cTensor[] {
  const out: Llama2cTensor[] = [];
  let off = h.headerBytes;
  for (const g of orderedGroups(h)) {
    const bytes = 4 * count(g.shape);
    if (g.perLayer) {
      for (let l = 0; l < h.nLayers; l++, off += bytes) out.push({ name: g.name, layer: l, shape: g.shape, offset: off, byteLength: bytes });
    } else {
      out.push({ name: g.name, shape: g.shape, offset: off, byteLength: bytes });
      off += bytes;
    }
  }
  return out;
}

/** Read one tensor as float32. */
export function readLlama2cTensor(h: Llama2cHeader, t: Llama2cTensor): Float32Array {
  const fd = fs.openSync(h.file, 'r');
  try {
    const out = new Float32Array(t.byteLength / 4);
    const bytes = new Uint8Array(out.buffer);
    let got = 0;
    while (got < t.byteLength) {
      const r = fs.readSync(fd, bytes, got, t.byteLength - got, t.offset + got);
      if (r <= 0) throw formatError(h.file, `${t.name}: file ended after ${got} of ${t.byteLength} bytes`);
      got += r;
    }
    if (!LITTLE_ENDIAN) {
      const dv = new DataView(out.buffer);
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
