// The uniform quantization grid GPTQ, SparseGPT and RTN share (GPTQ's Quantizer with per-channel
// weights, no MSE grid search): per output row over a set of input columns,
//   xmin = min(0, min w), xmax = max(0, max w); sym: xmax = max(|xmin|, xmax), xmin = −xmax;
//   both 0 → [−1, 1]; scale = (xmax − xmin) / maxq; zero = 2^(bits−1) (sym) or round(−xmin / scale);
//   code = clamp(round(w / scale) + zero, 0, maxq);  ŵ = scale · (code − zero).
// Decisions (docs/compression.md): scales are rounded to fp16 when chosen (the file stores fp16, so the
// codes are computed against the scale the loader will see and export → import is exact); rounding is
// half-to-even as torch.round; with `minZero` 1 (the v1 "gptq" layout stores zero − 1, so cannot hold
// 0) an asymmetric row whose zero would round to 0 uses zero 1 and scale xmax / (maxq − 1) instead.

import { f16ToF32, f32ToF16 } from '../formats/dtypes';
import { inputError } from '../errors';
import type { QuantBits } from '../models/quant/gptq-format';

export interface GridSpec {
  bits: QuantBits;
  sym: boolean;
  /** Smallest zero point allowed: 1 for the v1 layout (default), 0 for gptq_v2. */
  minZero?: 0 | 1;
}

/** Round half to even, as torch.round. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const F16_MIN = 2 ** -24;
const F16_MAX = 65504;

/** Nearest fp16 value ≥ the smallest subnormal; scales too big for fp16 are an INPUT error. */
export function toF16Scale(s: number, what: string): number {
  if (!(s <= F16_MAX)) throw inputError(`${what}: a quantization scale of ${s} does not fit fp16 (weights larger than ${F16_MAX} per step)`);
  const h = f16ToF32(f32ToF16(s));
  return h > 0 ? h : F16_MIN;
}

/**
 * Grid for each of `rows` rows over columns cols[0 … n) of a row-major matrix w [rows, stride]
 * (cols: column indices, so act-order and arbitrary groups use the same code).
 * Writes scale[r] and zero[r] at outOffset + r·outStride.
 */
export function findParams(w: ArrayLike<number>, rows: number, stride: number, cols: ArrayLike<number>, spec: GridSpec,
  scale: Float32Array | Float64Array, zero: Int32Array, outOffset = 0, outStride = 1, what = 'layer'): void {
  for (let r = 0; r < rows; r++) {
    let xmin = 0;
    let xmax = 0;
    const base = r * stride;
    for (let j = 0; j < cols.length; j++) {
      const v = w[base + cols[j]];
      if (v < xmin) xmin = v;
      if (v > xmax) xmax = v;
    }
    setGrid(xmin, xmax, spec, scale, zero, outOffset + r * outStride, what);
  }
}

/**
 * The same grid for a transposed (column-major) weight: wt [K, N] row-major holds column k of W [N, K]
 * as row k, and the group is columns k0 … k1 − 1 (the layout the OBS sweep works in: each pass over a
 * column reads N contiguous values). Writes scale[outOffset + r] and zero[outOffset + r] for r < N.
 */
export function findParamsT(wt: Float32Array | Float64Array, N: number, k0: number, k1: number, spec: GridSpec,
  scale: Float32Array | Float64Array, zero: Int32Array, outOffset = 0, what = 'layer'): void {
  const lo = new Float64Array(N);   // min(0, w) per output row
  const hi = new Float64Array(N);   // max(0, w)
  for (let k = k0; k < k1; k++) {
    const row = k * N;
    for (let r = 0; r < N; r++) {
      const v = wt[row + r];
      if (v < lo[r]) lo[r] = v;
      if (v > hi[r]) hi[r] = v;
    }
  }
  for (let r = 0; r < N; r++) setGrid(lo[r], hi[r], spec, scale, zero, outOffset + r, what);
}

/** Scale and zero point from a row's range [xmin ≤ 0, xmax ≥ 0] (the rules at the top of this file). */
function setGrid(xmin: number, xmax: number, spec: GridSpec, scale: Float32Array | Float64Array, zero: Int32Array, at: number, what: string): void {
  const maxq = (1 << spec.bits) - 1;
  if (spec.sym) {
    xmax = Math.max(-xmin, xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin === 0 && xmax === 0) { xmin = -1; xmax = 1; }
  let s = toF16Scale((xmax - xmin) / maxq, what);
  let z: number;
  if (spec.sym) {
    z = (maxq + 1) / 2;
  } else {
    z = Math.min(maxq, Math.max(0, roundEven(-xmin / s)));
    if (z < (spec.minZero ?? 1)) {
      s = toF16Scale(xmax / (maxq - 1), what);
      z = 1;
    }
  }
  scale[at] = s;
  zero[at] = z;
}

/** The code of one value on a grid. */
export function quantCode(v: number, s: number, z: number, maxq: number): number {
  const q = roundEven(v / s) + z;
  return q < 0 ? 0 : q > maxq ? maxq : q;
}

/** The dequantized value of a code (one float32 rounding, as the runtime computes it). */
export const dequantValue = (q: number, s: number, z: number): number => Math.fround(s * (q - z));
