// SparseGPT (Frantar & Alistarh, 2023) for one linear layer, and magnitude pruning as its baseline.
//
// Same OBS sweep as GPTQ (gptq.ts / obs-sweep.ts: dead inputs, dampening, H = R Rᵀ, panels of 128 with
// left-looking updates, U = R⁻¹ only per panel); the value each column takes is 0 where the mask prunes and w elsewhere (or the quantized
// w, when quantizing jointly: a pruned weight's code is its zero point, so it stays exactly 0).
// Masks are chosen by the OBS saliency w² / U_ii²:
//   unstructured p: per block, the exact number of smallest-saliency weights so that the whole layer
//     ends at round(p · out · in) zeros (block b prunes round(p·N·end_b) − round(p·N·start_b));
//   N:M: in each row, for every M consecutive input columns (aligned), the N of smallest saliency,
//     chosen when the sweep reaches the group (after the updates from earlier columns).
// Magnitude pruning: the same counts / patterns by |w|, no update.

import { inputError } from '../errors';
import { checkQuantizable, numGroups, QuantBits, QuantizedLinear, defaultGIdx } from '../models/quant/gptq-format';
import { findParamsT, GridSpec, quantCode } from './quant-grid';
import { LINALG_BLOCK, Linalg } from './linalg';
import { prepareHessian } from './gptq';
import { obsSweep } from './obs-sweep';
import { transposeInto } from '../formats/transpose';

export interface SparsityTarget {
  /** Unstructured: fraction of weights set to zero, in [0, 1). */
  sparsity?: number;
  /** N:M pattern: n zeros in every m consecutive inputs of a row (2:4, 4:8). */
  pattern?: { n: number; m: number };
}

export interface SparseGptOptions extends SparsityTarget {
  dampPercent?: number;
  blockSize?: number;
  /** Joint quantization (SparseGPT paper §3.5): grid per group, as GPTQ. */
  quant?: { bits: QuantBits; groupSize: number; sym: boolean; minZero?: 0 | 1 };
}

export interface SparseGptResult {
  /** Pruned (and, when quantizing, dequantized) weights [N, K], original column order. */
  weights: Float32Array;
  /** Present when quantizing jointly. */
  quantized?: QuantizedLinear;
  /** 1 where pruned [N, K]. */
  mask: Uint8Array;
  loss: number;
}

/** Check a sparsity target against a layer (INPUT errors naming the module). */
export function checkSparsity(t: SparsityTarget, K: number, what: string, blockSize = LINALG_BLOCK): void {
  if ((t.sparsity === undefined) === (t.pattern === undefined)) throw inputError(`${what}: give either a sparsity fraction or an N:M pattern`);
  if (t.sparsity !== undefined && !(t.sparsity >= 0 && t.sparsity < 1)) throw inputError(`${what}: sparsity must be in [0, 1), got ${t.sparsity}`);
  if (t.pattern) {
    const { n, m } = t.pattern;
    if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 1 && m >= 2 && n < m && m <= 30)) throw inputError(`${what}: N:M pattern must have 1 ≤ N < M ≤ 30, got ${n}:${m}`);
    if (K % m !== 0) throw inputError(`${what}: in_features ${K} is not a multiple of M = ${m} for the ${n}:${m} pattern`);
    if (blockSize % m !== 0) throw inputError(`${what}: block size ${blockSize} is not a multiple of M = ${m}`);
  }
}

/** Indices of the k smallest values (ties: lower index first): the k-th smallest by selection, then one pass. */
export function smallest(vals: Float64Array, k: number): Int32Array {
  const out = new Int32Array(k);
  if (k === 0) return out;
  const thr = kthSmallest(Float64Array.from(vals), k - 1);
  let j = 0;
  for (let i = 0; i < vals.length && j < k; i++) if (vals[i] < thr) out[j++] = i;
  for (let i = 0; i < vals.length && j < k; i++) if (vals[i] === thr) out[j++] = i;
  return out;
}

/**
 * The value that a[t] would hold if a (no NaN) were sorted ascending — Hoare's selection, O(n) on
 * average instead of a full sort (a block's saliencies are N·128 values, a layer's N·K). Reorders a.
 */
export function kthSmallest(a: Float64Array, t: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const x = a[lo], y = a[(lo + hi) >> 1], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);   // median of three
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const v = a[i]; a[i] = a[j]; a[j] = v;
        i++;
        j--;
      }
    }
    if (t <= j) hi = j;
    else if (t >= i) lo = i;
    else return pivot;   // j < t < i: a[t] equals the pivot
  }
  return a[t];
}

/** Mark the n smallest of vals[0 … m) in mark[base + j·stride] (small m: repeated minimum, no allocation; ties: lower index). */
function markSmallest(vals: Float64Array, m: number, n: number, mark: Uint8Array, base: number, stride = 1): void {
  let used = 0;
  for (let c = 0; c < n; c++) {
    let best = -1;
    for (let j = 0; j < m; j++) if (!(used & (1 << j)) && (best < 0 || vals[j] < vals[best])) best = j;
    used |= 1 << best;
    mark[base + best * stride] = 1;
  }
}

export async function sparseGpt(la: Linalg, W0: Float32Array | Float64Array, H: Float64Array, N: number, K: number,
  o: SparseGptOptions, what = 'layer'): Promise<SparseGptResult> {
  const B = o.blockSize ?? LINALG_BLOCK;
  checkSparsity(o, K, what, B);
  if (o.quant) checkQuantizable(what, K, N, o.quant.bits, o.quant.groupSize, undefined, false);
  const { R, W0t, diagInv } = await prepareHessian(la, W0, H, N, K, { dampPercent: o.dampPercent }, what);
  // transposed [K, N] while sweeping (row i = input column i); no permutation in SparseGPT
  const maskT = new Uint8Array(K * N);
  const Qt = new Float32Array(K * N);
  const grid: GridSpec | undefined = o.quant && { bits: o.quant.bits, sym: o.quant.sym, minZero: o.quant.minZero };
  const gs = o.quant ? (o.quant.groupSize === -1 ? K : o.quant.groupSize) : K;
  const G = o.quant ? numGroups(K, o.quant.groupSize) : 0;
  const scales = new Float32Array(G * N);
  const zeros = new Int32Array(G * N);
  const codesT = o.quant ? new Uint8Array(K * N) : undefined;
  const maxq = o.quant ? (1 << o.quant.bits) - 1 : 0;
  const total = N * K;
  if (grid && gs === K) findParamsT(W0t, N, 0, K, grid, scales, zeros, 0, what);
  // U_ii = 1 / R_ii; saliency w² / U_ii²
  const uDiag2 = Float64Array.from({ length: K }, (_, i) => (1 / R[i * K + i]) ** 2);
  const sync = [o.sparsity !== undefined ? B : 0, o.pattern?.m ?? 0, grid && gs !== K ? gs : 0];
  const loss = await obsSweep(la, W0t, R, N, K, B, sync, (i, q, p) => {
    const w = p.w;
    const at = (c: number) => (c - p.start) * N;
    if (o.sparsity !== undefined && i % B === 0) {
      // this block's exact share of the layer's zeros, by saliency (s [N, cnt], row-major as the count rule reads it)
      const i2 = Math.min(K, i + B);
      const k = Math.round(o.sparsity * N * i2) - Math.round(o.sparsity * N * i);
      const cnt = i2 - i;
      const s = new Float64Array(N * cnt);
      for (let c = 0; c < cnt; c++) {
        const wo = at(i + c);
        const d = uDiag2[i + c];
        for (let r = 0; r < N; r++) s[r * cnt + c] = (w[wo + r] * w[wo + r]) / d;
      }
      for (const x of smallest(s, k)) maskT[(i + (x % cnt)) * N + Math.floor(x / cnt)] = 1;
    }
    if (o.pattern && i % o.pattern.m === 0) {
      const { n, m } = o.pattern;
      const s = new Float64Array(m);
      for (let r = 0; r < N; r++) {
        for (let j = 0; j < m; j++) s[j] = (w[at(i + j) + r] * w[at(i + j) + r]) / uDiag2[i + j];
        markSmallest(s, m, n, maskT, i * N + r, N);
      }
    }
    if (grid && gs !== K && i % gs === 0) findParamsT(w, N, i - p.start, i - p.start + gs, grid, scales, zeros, Math.floor(i / gs) * N, what);
    const go = Math.floor(i / gs) * N;
    const wo = at(i);
    const io = i * N;
    for (let r = 0; r < N; r++) {
      let v = maskT[io + r] ? 0 : w[wo + r];
      if (codesT) {
        const c = quantCode(v, scales[go + r], zeros[go + r], maxq);
        codesT[io + r] = c;
        v = Math.fround(scales[go + r] * (c - zeros[go + r]));
      }
      q[r] = v;
      Qt[io + r] = v;
    }
  }, diagInv);
  const weights = transposeInto(Qt, K, N, new Float32Array(total));
  const mask = transposeInto(maskT, K, N, new Uint8Array(total));
  if (o.sparsity !== undefined) {
    let z = 0;
    for (let i = 0; i < total; i++) z += mask[i];
    if (z !== Math.round(o.sparsity * total)) throw new Error(`sparseGpt: pruned ${z}, wanted ${Math.round(o.sparsity * total)}`);
  }
  const quantized = codesT && o.quant
    ? { bits: o.quant.bits, groupSize: o.quant.groupSize, inFeatures: K, outFeatures: N, codes: transposeInto(codesT, K, N, new Uint8Array(total)), scales, zeros, gIdx: defaultGIdx(K, o.quant.groupSize) }
    : undefined;
  return { weights, quantized, mask, loss };
}

/** Magnitude pruning with the same counts / patterns (the baseline SparseGPT is compared with). */
export function magnitudePrune(W0: ArrayLike<number>, N: number, K: number, t: SparsityTarget, what = 'layer'): { weights: Float32Array; mask: Uint8Array } {
  checkSparsity(t, K, what);
  const w = Float32Array.from(W0);
  const mask = new Uint8Array(N * K);
  if (t.pattern) {
    const { n, m } = t.pattern;
    const s = new Float64Array(m);
    for (let r = 0; r < N; r++) {
      for (let c = 0; c < K; c += m) {
        for (let j = 0; j < m; j++) s[j] = Math.abs(w[r * K + c + j]);
        markSmallest(s, m, n, mask, r * K + c);
      }
    }
  } else {
    const a = Float64Array.from(w, Math.abs);
    for (const x of smallest(a, Math.round(t.sparsity! * N * K))) mask[x] = 1;
  }
  for (let i = 0; i < w.length; i++) if (mask[i]) w[i] = 0;
  return { weights: w, mask };
}
