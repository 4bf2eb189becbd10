// GPTQ (Frantar et al., 2022) for one linear layer: W [out, in] and the Hessian of its inputs
// H = Σ XᵀX [in, in] (the factor 2/n of the paper cancels: only H⁻¹'s factor and ratios are used,
// and dampening is relative to the mean diagonal).
//
//   dead inputs (H_ii = 0): H_ii ← 1, W[:, i] ← 0
//   static groups: grids of each group of original columns chosen up front from W
//   act-order: columns processed in order of decreasing H_ii (stable), W and H permuted alike
//   H ← H + λ·mean(diag H)·I;  R upper with H = R Rᵀ   (linalg.ts, n³/3 flops in ORT)
//   OBS sweep (obs-sweep.ts) in panels of B = 128 columns (widened to whole groups):
//     for each column i: choose the group's grid when a group starts (current, already-updated
//       weights), q = quant(w), err = (w − q) / U_ii with U = R⁻¹, spread err over the later columns
//   codes go back to the original column order; g_idx[perm[i]] = ⌊i / group⌋ (static: ⌊col / group⌋)
//
// Decision (docs/compression.md): a group's grid is chosen from the weights as updated so far (the
// reference reads W as it was at the start of the block, which equals this when group size divides
// the block size and the group starts a block, as with the default 128/128).

import { inputError } from '../errors';
import { checkQuantizable, numGroups, QuantBits, QuantizedLinear } from '../models/quant/gptq-format';
import { findParams, findParamsT, GridSpec, roundEven } from './quant-grid';
import { LINALG_BLOCK, Linalg } from './linalg';
import { obsSweep } from './obs-sweep';
import { transposeInto } from '../formats/transpose';

export interface GptqOptions {
  bits: QuantBits;
  groupSize: number;
  sym: boolean;
  actOrder?: boolean;
  staticGroups?: boolean;
  /** λ: dampening as a fraction of the mean Hessian diagonal (default 0.01). */
  dampPercent?: number;
  /** Columns per panel of the sweep (default 128; widened to whole groups). */
  blockSize?: number;
  minZero?: 0 | 1;
}

export interface GptqResult {
  quantized: QuantizedLinear;
  /** Σ (w − q)² / U_ii² / 2 — the quantity GPTQ minimizes, as its reference reports it. */
  loss: number;
}

export interface PreparedLayer {
  /** Upper R [K, K] with H_damped = R Rᵀ (processing order, fp32). */
  R: Float32Array;
  /** Processing order: position i holds original column perm[i]. */
  perm: Int32Array;
  /** W0t [K, N]: the weights transposed, in processing order, dead inputs zeroed (fp32). */
  W0t: Float32Array;
  /** R's diagonal blocks inverted (U = R⁻¹ there), by start column: the sweep reuses them. */
  diagInv: Map<number, Float64Array>;
}

/**
 * Dead-input handling, optional permutation, dampening and the Cholesky factor: shared by GPTQ and
 * SparseGPT. W [N, K] row-major is read only; H [K, K] (float64) is modified.
 */
export async function prepareHessian(la: Linalg, W: ArrayLike<number>, H: Float64Array, N: number, K: number,
  o: { dampPercent?: number; actOrder?: boolean }, what: string): Promise<PreparedLayer> {
  const dead = new Uint8Array(K);
  for (let i = 0; i < K; i++) {
    if (!Number.isFinite(H[i * K + i])) throw inputError(`${what}: the calibration activations are not finite (NaN or Inf in the Hessian)`);
    if (H[i * K + i] === 0) { H[i * K + i] = 1; dead[i] = 1; }
  }
  const perm = Int32Array.from({ length: K }, (_, i) => i);
  let Hp = H;
  const W0t = transposeInto(W, N, K, new Float32Array(K * N));   // [K, N], original order
  if (o.actOrder) {
    perm.sort((a, b) => H[b * K + b] - H[a * K + a] || a - b);
    Hp = new Float64Array(K * K);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) Hp[i * K + j] = H[perm[i] * K + perm[j]];
  }
  const Wt = o.actOrder ? new Float32Array(K * N) : W0t;
  for (let i = 0; i < K; i++) {
    if (dead[perm[i]]) Wt.fill(0, i * N, (i + 1) * N);
    else if (Wt !== W0t) Wt.set(W0t.subarray(perm[i] * N, (perm[i] + 1) * N), i * N);
  }
  let mean = 0;
  for (let i = 0; i < K; i++) mean += Hp[i * K + i];
  const damp = (o.dampPercent ?? 0.01) * (mean / K);
  for (let i = 0; i < K; i++) Hp[i * K + i] += damp;
  const diagInv = new Map<number, Float64Array>();
  const R = await la.ulCholesky(Hp, K, `${what}: the damped Hessian`, diagInv);
  return { R, perm, W0t: Wt, diagInv };
}

/** GPTQ-quantize W [out = N, in = K] (row-major) given H = Σ XᵀX [K, K] (float64; modified). */
export async function gptqQuantize(la: Linalg, W0: Float32Array | Float64Array, H: Float64Array, N: number, K: number,
  o: GptqOptions, what = 'layer'): Promise<GptqResult> {
  checkQuantizable(what, K, N, o.bits, o.groupSize, undefined, false);
  const grid: GridSpec = { bits: o.bits, sym: o.sym, minZero: o.minZero };
  const maxq = (1 << o.bits) - 1;
  const gs = o.groupSize === -1 ? K : o.groupSize;
  const G = numGroups(K, o.groupSize);
  const scales = new Float32Array(G * N);
  const zeros = new Int32Array(G * N);
  const staticGroups = !!o.staticGroups && o.groupSize !== -1;
  if (staticGroups) {
    // grids of the original column groups, dead inputs as zeros
    const W = Float64Array.from(W0);
    for (let i = 0; i < K; i++) if (H[i * K + i] === 0) for (let r = 0; r < N; r++) W[r * K + i] = 0;
    for (let g = 0; g < G; g++) {
      findParams(W, N, K, Array.from({ length: gs }, (_, j) => g * gs + j), grid, scales, zeros, g * N, 1, what);
    }
  }
  const { R, perm, W0t, diagInv } = await prepareHessian(la, W0, H, N, K, o, what);
  const codesT = new Uint8Array(K * N);    // [K, N], processing order
  const gIdx = new Int32Array(K);
  if (o.groupSize === -1) findParamsT(W0t, N, 0, K, grid, scales, zeros, 0, what);
  const sync = !staticGroups && o.groupSize !== -1 ? [gs] : [];
  const loss = await obsSweep(la, W0t, R, N, K, o.blockSize ?? LINALG_BLOCK, sync, (i, q, p) => {
    const col = perm[i];
    let g: number;
    if (staticGroups) g = Math.floor(col / gs);
    else {
      g = o.groupSize === -1 ? 0 : Math.floor(i / gs);
      if (o.groupSize !== -1 && i % gs === 0) findParamsT(p.w, N, i - p.start, i - p.start + gs, grid, scales, zeros, g * N, what);
    }
    gIdx[col] = g;
    const go = g * N;
    const wo = (i - p.start) * N;
    const co = i * N;
    const w = p.w;
    for (let r = 0; r < N; r++) {
      const sc = scales[go + r];
      const z = zeros[go + r];
      let c = roundEven(w[wo + r] / sc) + z;
      c = c < 0 ? 0 : c > maxq ? maxq : c;
      codesT[co + r] = c;
      q[r] = Math.fround(sc * (c - z));
    }
  }, diagInv);
  const codes = new Uint8Array(N * K);
  for (let i = 0; i < K; i++) {
    const col = perm[i];
    const co = i * N;
    for (let r = 0; r < N; r++) codes[r * K + col] = codesT[co + r];
  }
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
