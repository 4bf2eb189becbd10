// GPTQ (Frantar et al., 2022) for one linear layer: W [out, in] and the Hessian of its inputs
// H = Σ XᵀX [in, in] (the factor 2/n of the paper cancels: only H⁻¹'s factor and ratios are used,
// and dampening is relative to the mean diagonal).
//
//   dead inputs (H_ii = 0): H_ii ← 1, W[:, i] ← 0
//   static groups: grids of each group of original columns chosen up front from W
//   act-order: columns processed in order of decreasing H_ii (stable), W and H permuted alike
//   H ← H + λ·mean(diag H)·I;  U = upper factor with H⁻¹ = Uᵀ U   (linalg.ts, O(n³) in ORT)
//   for each block of B = 128 columns:
//     for each column i: choose the group's grid when a group starts (current, already-updated
//       weights), q = quant(w), err = (w − q) / U_ii, update the rest of the block
//       W[:, i+1:e] −= err ⊗ U[i, i+1:e] (JS), remember err
//     lazy batch update of the later columns: W[:, e:] −= Err · U[block, e:] (ORT)
//   codes go back to the original column order; g_idx[perm[i]] = ⌊i / group⌋ (static: ⌊col / group⌋)
//
// Decision (docs/compression.md): a group's grid is chosen from the weights as updated so far (the
// reference reads W as it was at the start of the block, which equals this when group size divides
// the block size and the group starts a block, as with the default 128/128).

import { inputError } from '../errors';
import { checkQuantizable, numGroups, QuantBits, QuantizedLinear } from './gptq-format';
import { findParams, GridSpec, quantCode } from './quant-grid';
import { LINALG_BLOCK, Linalg } from './linalg';

export interface GptqOptions {
  bits: QuantBits;
  groupSize: number;
  sym: boolean;
  actOrder?: boolean;
  staticGroups?: boolean;
  /** λ: dampening as a fraction of the mean Hessian diagonal (default 0.01). */
  dampPercent?: number;
  /** Columns per lazy-batch block (default 128). */
  blockSize?: number;
  minZero?: 0 | 1;
}

export interface GptqResult {
  quantized: QuantizedLinear;
  /** Σ (w − q)² / U_ii² / 2 — the quantity GPTQ minimizes, as its reference reports it. */
  loss: number;
}

/** Dead-input handling, optional permutation, dampening: shared by GPTQ and SparseGPT. Returns U and the order. */
export async function prepareHessian(la: Linalg, W: Float64Array, H: Float64Array, N: number, K: number,
  o: { dampPercent?: number; actOrder?: boolean }, what: string): Promise<{ U: Float64Array; perm: Int32Array; W: Float64Array }> {
  for (let i = 0; i < K; i++) {
    if (!Number.isFinite(H[i * K + i])) throw inputError(`${what}: the calibration activations are not finite (NaN or Inf in the Hessian)`);
    if (H[i * K + i] === 0) {
      H[i * K + i] = 1;
      for (let r = 0; r < N; r++) W[r * K + i] = 0;
    }
  }
  const perm = Int32Array.from({ length: K }, (_, i) => i);
  let Wp = W;
  let Hp = H;
  if (o.actOrder) {
    perm.sort((a, b) => H[b * K + b] - H[a * K + a] || a - b);
    Wp = new Float64Array(N * K);
    for (let r = 0; r < N; r++) for (let i = 0; i < K; i++) Wp[r * K + i] = W[r * K + perm[i]];
    Hp = new Float64Array(K * K);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) Hp[i * K + j] = H[perm[i] * K + perm[j]];
  }
  let mean = 0;
  for (let i = 0; i < K; i++) mean += Hp[i * K + i];
  const damp = (o.dampPercent ?? 0.01) * (mean / K);
  for (let i = 0; i < K; i++) Hp[i * K + i] += damp;
  const U = await la.hinvFactor(Hp, K, `${what}: the damped Hessian`);
  return { U, perm, W: Wp };
}

/**
 * Block-wise OBS sweep shared by GPTQ and SparseGPT: for each column i (processing order) call
 * `target(i, block)` to fill q[r] (the value column i takes in each row), then propagate the error.
 * W [N, K] float64 in processing order is updated in place.
 */
export async function obsSweep(la: Linalg, W: Float64Array, U: Float64Array, N: number, K: number, blockSize: number,
  target: (i: number, q: Float64Array) => void, onBlock?: (i1: number, i2: number) => void): Promise<number> {
  const q = new Float64Array(N);
  let loss = 0;
  for (let i1 = 0; i1 < K; i1 += blockSize) {
    const i2 = Math.min(K, i1 + blockSize);
    const cnt = i2 - i1;
    onBlock?.(i1, i2);
    const err = new Float32Array(N * cnt);   // Err1 [N, cnt]
    for (let i = i1; i < i2; i++) {
      target(i, q);
      const d = U[i * K + i];
      const urow = i * K;
      for (let r = 0; r < N; r++) {
        const row = r * K;
        const e = (W[row + i] - q[r]) / d;
        loss += (e * e) / 2;
        W[row + i] = q[r];
        for (let j = i + 1; j < i2; j++) W[row + j] -= e * U[urow + j];
        err[r * cnt + (i - i1)] = e;
      }
    }
    const rest = K - i2;
    if (rest === 0) continue;
    const ub = new Float32Array(cnt * rest);
    for (let i = 0; i < cnt; i++) for (let j = 0; j < rest; j++) ub[i * rest + j] = U[(i1 + i) * K + i2 + j];
    const p = await la.mul(err, N, cnt, ub, rest);                                           // [N, rest]
    for (let r = 0; r < N; r++) for (let j = 0; j < rest; j++) W[r * K + i2 + j] -= p[r * rest + j];
  }
  return loss;
}

/** GPTQ-quantize W [out = N, in = K] (row-major) given H = Σ XᵀX [K, K] (float64; both are modified). */
export async function gptqQuantize(la: Linalg, W0: Float32Array | Float64Array, H: Float64Array, N: number, K: number,
  o: GptqOptions, what = 'layer'): Promise<GptqResult> {
  checkQuantizable(what, K, N, o.bits, o.groupSize, undefined, false);
  const grid: GridSpec = { bits: o.bits, sym: o.sym, minZero: o.minZero };
  const maxq = (1 << o.bits) - 1;
  const gs = o.groupSize === -1 ? K : o.groupSize;
  const G = numGroups(K, o.groupSize);
  const W = Float64Array.from(W0);
  const scales = new Float32Array(G * N);
  const zeros = new Int32Array(G * N);
  const staticGroups = !!o.staticGroups && o.groupSize !== -1;
  if (staticGroups) {
    for (let i = 0; i < K; i++) if (H[i * K + i] === 0) for (let r = 0; r < N; r++) W[r * K + i] = 0;
    for (let g = 0; g < G; g++) {
      findParams(W, N, K, Array.from({ length: gs }, (_, j) => g * gs + j), grid, scales, zeros, g * N, 1, what);
    }
  }
  const prep = await prepareHessian(la, W, H, N, K, o, what);
  const { U, perm } = prep;
  const Wp = prep.W;
  const codes = new Uint8Array(N * K);
  const gIdx = new Int32Array(K);
  let curScale = new Float32Array(N);
  let curZero = new Int32Array(N);
  if (o.groupSize === -1) findParams(Wp, N, K, Array.from({ length: K }, (_, j) => j), grid, scales, zeros, 0, 1, what);
  const loss = await obsSweep(la, Wp, U, N, K, o.blockSize ?? LINALG_BLOCK, (i, q) => {
    const col = perm[i];
    let g: number;
    if (staticGroups) g = Math.floor(col / gs);
    else {
      g = o.groupSize === -1 ? 0 : Math.floor(i / gs);
      if (o.groupSize !== -1 && i % gs === 0) {
        findParams(Wp, N, K, Array.from({ length: gs }, (_, j) => i + j), grid, scales, zeros, g * N, 1, what);
      }
    }
    gIdx[col] = g;
    curScale = scales.subarray(g * N, (g + 1) * N);
    curZero = zeros.subarray(g * N, (g + 1) * N);
    for (let r = 0; r < N; r++) {
      const c = quantCode(Wp[r * K + i], curScale[r], curZero[r], maxq);
      codes[r * K + col] = c;
      q[r] = Math.fround(curScale[r] * (c - curZero[r]));
    }
  });
  return { quantized: { bits: o.bits, groupSize: o.groupSize, inFeatures: K, outFeatures: N, codes, scales, zeros, gIdx }, loss };
}

/** ‖ΔW X‖²_F = Σ_r Δ_r H Δ_rᵀ for ΔW = A − B [N, K] and H = Σ XᵀX (the reconstruction error on the calibration set). */
export async function reconstructionError(la: Linalg, A: ArrayLike<number>, B: ArrayLike<number>, H: Float64Array, N: number, K: number): Promise<number> {
  const d = new Float32Array(N * K);
  for (let i = 0; i < d.length; i++) d[i] = A[i] - B[i];
  const h = Float32Array.from(H);
  const dh = await la.mul(d, N, K, h, K);                                                   // ΔW·H [N, K]
  let s = 0;
  for (let i = 0; i < d.length; i++) s += dh[i] * d[i];
  return Math.max(0, s);
}
