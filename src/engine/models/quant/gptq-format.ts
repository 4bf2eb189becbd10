// The GPTQ checkpoint layout as AutoGPTQ and GPTQModel write it, per quantized linear layer
// (module path `m`, W [out, in] as nn.Linear stores it; GPT-2's Conv1D weight is transposed first):
//
//   m.qweight  int32 [in·bits/32, out]    codes along the input dim, packed low bits first into a
//                                         little-endian bit stream per output column: code k of
//                                         column o sits at bits [k·bits, (k+1)·bits) of that column's
//                                         stream. 2/4/8-bit codes never straddle a word; 3-bit codes
//                                         do (code 10 of every 32 spans words 0 and 1, code 21 words
//                                         1 and 2) — AutoGPTQ's explicit 3-bit branch is exactly this.
//   m.qzeros   int32 [groups, out·bits/32] zero points packed the same way along the output dim.
//                                         Format "gptq" (v1) stores zero − 1 (so the loader adds 1);
//                                         "gptq_v2" (GPTQModel) stores the zero itself.
//                                         What we write: v1 zeros 1 … 2^bits − 1, v2 zeros 0 … 2^bits − 1
//                                         (storedZeroRange). A v1 zero of 2^bits (stored 2^bits − 1) fits
//                                         the bits but the readers disagree on it: AutoGPTQ's two CUDA
//                                         layers and GPTQModel's v1→v2 converter (which adds 1 to each
//                                         packed field, carrying into the next) give three different weights.
//   m.scales   fp16  [groups, out]
//   m.g_idx    int32 [in]                 the group of each input column (act-order permutes it)
//   m.bias     as the float model had it
//
// W[o, k] = scales[g, o] · (code[k, o] − zero[g, o]) with g = g_idx[k]; groups = ceil(in / group_size)
// (1 for group_size −1). Shapes must make the packing integral: in·bits and out·bits multiples of 32,
// and a group size that divides in (all groups full, as the runtime's block kernels need).

import { formatError, inputError, internalError } from '../../errors';
import { f16ToF32, f32ToF16 } from '../../formats/dtypes';

export type QuantBits = 2 | 3 | 4 | 8;
export const QUANT_BITS: readonly QuantBits[] = [2, 3, 4, 8];
export type CheckpointFormat = 'gptq' | 'gptq_v2';

/** A quantized linear layer in memory (what quantizers produce and the writer/loader exchange). */
export interface QuantizedLinear {
  bits: QuantBits;
  /** Columns per group along the input dim; −1: one group for the whole row (per-channel). */
  groupSize: number;
  inFeatures: number;
  outFeatures: number;
  /** Codes [out, in] row-major (the layout of W), each in 0 … 2^bits − 1. */
  codes: Uint8Array;
  /** Scales [groups, out], fp16-representable (the file stores fp16). */
  scales: Float32Array;
  /** Zero points [groups, out]: integers; our quantizers keep them in storedZeroRange (v1 files read may give 2^bits). */
  zeros: Int32Array;
  /** Group of each input column [in]. */
  gIdx: Int32Array;
}

/** The four tensors of one module as they sit in the file (little-endian views). */
export interface GptqTensors {
  qweight: Int32Array;   // [in·bits/32, out]
  qzeros: Int32Array;    // [groups, out·bits/32]
  scales: Uint16Array;   // fp16 bits [groups, out]
  gIdx: Int32Array;      // [in]
}

export const numGroups = (inFeatures: number, groupSize: number): number =>
  groupSize === -1 ? 1 : Math.ceil(inFeatures / groupSize);

/** g_idx of the plain (not act-order) layout: column k is in group ⌊k / groupSize⌋. */
export function defaultGIdx(inFeatures: number, groupSize: number): Int32Array {
  const g = new Int32Array(inFeatures);
  if (groupSize !== -1) for (let k = 0; k < inFeatures; k++) g[k] = Math.floor(k / groupSize);
  return g;
}

const wordsFor = (n: number, bits: number) => (n * bits) / 32;

/**
 * The zero points we write in each layout: the range every reader (AutoGPTQ, GPTQModel, transformers)
 * turns into the same weights. v1 cannot store 0 (it stores zero − 1) and 2^bits is read three ways
 * (header); v2 stores 0 … 2^bits − 1 as is. The quantizers respect it (quant-grid.ts minZero; the
 * largest zero they choose is 2^bits − 1), so a zero outside it reaching the packer is a bug.
 */
export function storedZeroRange(bits: QuantBits, format: CheckpointFormat): { min: number; max: number } {
  const maxq = (1 << bits) - 1;
  return format === 'gptq' ? { min: 1, max: maxq } : { min: 0, max: maxq };
}

/**
 * Why a layer of this shape cannot be quantized with these settings, or undefined when it can.
 * `packing` (default true) adds the rules of the file layout (whole 32-bit words); quantizing in
 * memory (for a dense fake-quantized model) needs only valid bits and a group size dividing in.
 */
export function whyNotQuantizable(inFeatures: number, outFeatures: number, bits: number, groupSize: number, packing = true): string | undefined {
  if (!QUANT_BITS.includes(bits as QuantBits)) return `bits must be one of ${QUANT_BITS.join(', ')}, got ${bits}`;
  if (!(groupSize === -1 || (Number.isInteger(groupSize) && groupSize >= 1))) return `group size must be −1 or a positive integer, got ${groupSize}`;
  if (groupSize !== -1 && inFeatures % groupSize !== 0) {
    return `group size ${groupSize} does not divide in_features ${inFeatures}`;
  }
  if (!packing) return undefined;
  if ((inFeatures * bits) % 32 !== 0) return `in_features ${inFeatures} × ${bits} bits is not a whole number of 32-bit words (qweight rows)`;
  if ((outFeatures * bits) % 32 !== 0) return `out_features ${outFeatures} × ${bits} bits is not a whole number of 32-bit words (qzeros columns)`;
  return undefined;
}

/** Throw an INPUT error naming the module when its shape does not fit the settings. */
export function checkQuantizable(module: string, inFeatures: number, outFeatures: number, bits: number, groupSize: number, file?: string, packing = true): void {
  const why = whyNotQuantizable(inFeatures, outFeatures, bits, groupSize, packing);
  if (why) throw inputError(`cannot quantize '${module}' [out ${outFeatures}, in ${inFeatures}]: ${why}`, file);
}

// ---- bit streams ------------------------------------------------------------------------------

/** Write value v (bits wide) at bit position p of a stream whose word w lives at words[base + w·stride]. */
function putBits(words: Uint32Array, base: number, stride: number, p: number, bits: number, v: number): void {
  const w = p >>> 5;
  const s = p & 31;
  words[base + w * stride] |= (v << s) >>> 0;
  if (s + bits > 32) words[base + (w + 1) * stride] |= v >>> (32 - s);
}

function getBits(words: Uint32Array, base: number, stride: number, p: number, bits: number): number {
  const w = p >>> 5;
  const s = p & 31;
  const mask = (1 << bits) - 1;
  let v = words[base + w * stride] >>> s;
  if (s + bits > 32) v |= words[base + (w + 1) * stride] << (32 - s);
  return v & mask;
}

// ---- pack / unpack ----------------------------------------------------------------------------

/** Pack a quantized layer into the GPTQ tensors (format v1 unless told otherwise). */
export function packGptq(q: QuantizedLinear, format: CheckpointFormat = 'gptq', module = 'layer'): GptqTensors {
  const { bits, inFeatures: K, outFeatures: N } = q;
  checkQuantizable(module, K, N, bits, q.groupSize);
  const G = numGroups(K, q.groupSize);
  const maxq = (1 << bits) - 1;
  if (q.codes.length !== N * K || q.scales.length !== G * N || q.zeros.length !== G * N || q.gIdx.length !== K) {
    throw new Error(`packGptq: '${module}' arrays do not match [out ${N}, in ${K}] with ${G} groups`);
  }
  const qweight = new Uint32Array(wordsFor(K, bits) * N);
  for (let o = 0; o < N; o++) {
    const row = o * K;
    for (let k = 0; k < K; k++) {
      const c = q.codes[row + k];
      if (c > maxq) throw new Error(`packGptq: '${module}' code ${c} at [${o}, ${k}] exceeds ${maxq}`);
      putBits(qweight, o, N, k * bits, bits, c);
    }
  }
  const zw = wordsFor(N, bits);
  const qzeros = new Uint32Array(G * zw);
  const zr = storedZeroRange(bits, format);
  for (let g = 0; g < G; g++) {
    for (let o = 0; o < N; o++) {
      const z = q.zeros[g * N + o];
      if (!(Number.isInteger(z) && z >= zr.min && z <= zr.max)) {
        throw internalError(`packGptq: '${module}': zero point ${z} (group ${g}, column ${o}) is outside ${zr.min} … ${zr.max}, ` +
          `the ${format} zero points every GPTQ reader agrees on`);
      }
      putBits(qzeros, g * zw, 1, o * bits, bits, format === 'gptq' ? z - 1 : z);
    }
  }
  const scales = new Uint16Array(G * N);
  for (let i = 0; i < scales.length; i++) scales[i] = f32ToF16(q.scales[i]);
  for (let k = 0; k < K; k++) {
    if (!(q.gIdx[k] >= 0 && q.gIdx[k] < G)) throw new Error(`packGptq: '${module}' g_idx[${k}] = ${q.gIdx[k]} outside 0…${G - 1}`);
  }
  return { qweight: new Int32Array(qweight.buffer), qzeros: new Int32Array(qzeros.buffer), scales, gIdx: Int32Array.from(q.gIdx) };
}

export interface UnpackSpec {
  bits: QuantBits;
  groupSize: number;
  inFeatures: number;
  outFeatures: number;
  format: CheckpointFormat;
  /** For error messages: the file and module the tensors came from. */
  file: string;
  module: string;
  /** Shapes as stored (checked against the spec). */
  shapes: { qweight: number[]; qzeros: number[]; scales: number[]; gIdx?: number[] };
}

/**
 * Unpack the GPTQ tensors of one module. Every disagreement between the tensors and the config
 * (shapes, group count, g_idx range, non-finite scales) is a FORMAT error naming file and tensor.
 * A missing g_idx (some old checkpoints) means the plain layout.
 */
export function unpackGptq(t: { qweight: Int32Array; qzeros: Int32Array; scales: Uint16Array; gIdx?: Int32Array }, s: UnpackSpec): QuantizedLinear {
  const { bits, inFeatures: K, outFeatures: N, file, module } = s;
  const bad = (msg: string) => formatError(file, `'${module}': ${msg}`);
  const shape = (x: number[]) => `[${x.join(', ')}]`;
  if ((K * bits) % 32 || (N * bits) % 32) throw bad(`[out ${N}, in ${K}] cannot be packed at ${bits} bits (in·bits and out·bits must be multiples of 32)`);
  const G = s.shapes.scales[0];
  const wantQw = [wordsFor(K, bits), N];
  if (shape(s.shapes.qweight) !== shape(wantQw)) throw bad(`qweight has shape ${shape(s.shapes.qweight)}, expected ${shape(wantQw)} for ${bits}-bit [out ${N}, in ${K}]`);
  if (s.shapes.scales.length !== 2 || s.shapes.scales[1] !== N || !(G >= 1)) throw bad(`scales has shape ${shape(s.shapes.scales)}, expected [groups, ${N}]`);
  const wantG = numGroups(K, s.groupSize);
  if (G !== wantG) throw bad(`scales has ${G} groups but group_size ${s.groupSize} with in_features ${K} gives ${wantG}`);
  const wantQz = [G, wordsFor(N, bits)];
  if (shape(s.shapes.qzeros) !== shape(wantQz)) throw bad(`qzeros has shape ${shape(s.shapes.qzeros)}, expected ${shape(wantQz)}`);
  if (s.shapes.gIdx && shape(s.shapes.gIdx) !== shape([K])) throw bad(`g_idx has shape ${shape(s.shapes.gIdx)}, expected [${K}]`);

  const qw = new Uint32Array(t.qweight.buffer, t.qweight.byteOffset, t.qweight.length);
  const codes = new Uint8Array(N * K);
  for (let o = 0; o < N; o++) {
    const row = o * K;
    for (let k = 0; k < K; k++) codes[row + k] = getBits(qw, o, N, k * bits, bits);
  }
  const zw = wordsFor(N, bits);
  const qz = new Uint32Array(t.qzeros.buffer, t.qzeros.byteOffset, t.qzeros.length);
  const zeros = new Int32Array(G * N);
  const offset = s.format === 'gptq' ? 1 : 0;
  for (let g = 0; g < G; g++) for (let o = 0; o < N; o++) zeros[g * N + o] = getBits(qz, g * zw, 1, o * bits, bits) + offset;
  const scales = new Float32Array(G * N);
  for (let i = 0; i < scales.length; i++) {
    scales[i] = f16ToF32(t.scales[i]);
    if (!Number.isFinite(scales[i])) throw bad(`scales[${Math.floor(i / N)}, ${i % N}] is ${scales[i]}`);
  }
  const gIdx = t.gIdx ? Int32Array.from(t.gIdx) : defaultGIdx(K, s.groupSize);
  for (let k = 0; k < K; k++) if (!(gIdx[k] >= 0 && gIdx[k] < G)) throw bad(`g_idx[${k}] = ${gIdx[k]} is outside 0…${G - 1}`);
  return { bits, groupSize: s.groupSize, inFeatures: K, outFeatures: N, codes, scales, zeros, gIdx };
}

/** W [out, in] float32: scales[g, o] · (code − zero[g, o]), g = g_idx[k] (one rounding, as ORT computes it). */
export function dequantize(q: QuantizedLinear): Float32Array {
  const { inFeatures: K, outFeatures: N } = q;
  const w = new Float32Array(N * K);
  for (let o = 0; o < N; o++) {
    for (let k = 0; k < K; k++) {
      const gi = q.gIdx[k] * N + o;
      w[o * K + k] = q.scales[gi] * (q.codes[o * K + k] - q.zeros[gi]);
    }
  }
  return w;
}

/** Does g_idx follow the plain layout (column k in group ⌊k / groupSize⌋)? */
export function isPlainGIdx(q: Pick<QuantizedLinear, 'gIdx' | 'groupSize' | 'inFeatures'>): boolean {
  const K = q.inFeatures;
  for (let k = 0; k < K; k++) if (q.gIdx[k] !== (q.groupSize === -1 ? 0 : Math.floor(k / q.groupSize))) return false;
  return true;
}
