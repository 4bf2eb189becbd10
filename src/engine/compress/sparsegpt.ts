// SparseGPT (Frantar & Alistarh, 2023) for one linear layer, and magnitude pruning as its baseline.
//
// Same OBS sweep as GPTQ (gptq.ts: dead inputs, dampening, U with H⁻¹ = Uᵀ U, blocks of 128 with lazy
// updates); the value each column takes is 0 where the mask prunes and w elsewhere (or the quantized
// w, when quantizing jointly: a pruned weight's code is its zero point, so it stays exactly 0).
// Masks are chosen by the OBS saliency w² / U_ii²:
//   unstructured p: per block, the exact number of smallest-saliency weights so that the whole layer
//     ends at round(p · out · in) zeros (block b prunes round(p·N·end_b) − round(p·N·start_b));
//   N:M: in each row, for every M consecutive input columns (aligned), the N of smallest saliency,
//     chosen when the sweep reaches the group (after the updates from earlier columns).
// Magnitude pruning: the same counts / patterns by |w|, no update.

import { inputError } from '../errors';
import { checkQuantizable, numGroups, QuantBits, QuantizedLinear, defaultGIdx } from './gptq-format';
import { findParams, GridSpec, quantCode } from './quant-grid';
import { LINALG_BLOCK, Linalg } from './linalg';
import { obsSweep, prepareHessian } from './gptq';

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

/** Indices of the k smallest values (ties: lower index first), via a native numeric sort of the values. */
export function smallest(vals: Float64Array, k: number): Int32Array {
  const out = new Int32Array(k);
  if (k === 0) return out;
  const thr = Float64Array.from(vals).sort()[k - 1];
  let j = 0;
  for (let i = 0; i < vals.length && j < k; i++) if (vals[i] < thr) out[j++] = i;
  for (let i = 0; i < vals.length && j < k; i++) if (vals[i] === thr) out[j++] = i;
  return out;
}

/** Mark the n smallest of vals[0 … m) in `mark` (small m: repeated minimum, no allocation; ties: lower index). */
function markSmallest(vals: Float64Array, m: number, n: number, mark: Uint8Array, base: number): void {
  let used = 0;
  for (let c = 0; c < n; c++) {
    let best = -1;
    for (let j = 0; j < m; j++) if (!(used & (1 << j)) && (best < 0 || vals[j] < vals[best])) best = j;
    used |= 1 << best;
    mark[base + best] = 1;
  }
}

export async function sparseGpt(la: Linalg, W0: Float32Array | Float64Array, H: Float64Array, N: number, K: number,
  o: SparseGptOptions, what = 'layer'): Promise<SparseGptResult> {
  const B = o.blockSize ?? LINALG_BLOCK;
  checkSparsity(o, K, what, B);
  if (o.quant) checkQuantizable(what, K, N, o.quant.bits, o.quant.groupSize, undefined, false);
  const W = Float64Array.from(W0);
  const { U, W: Wp } = await prepareHessian(la, W, H, N, K, { dampPercent: o.dampPercent }, what);
  const mask = new Uint8Array(N * K);
  const grid: GridSpec | undefined = o.quant && { bits: o.quant.bits, sym: o.quant.sym, minZero: o.quant.minZero };
  const gs = o.quant ? (o.quant.groupSize === -1 ? K : o.quant.groupSize) : K;
  const G = o.quant ? numGroups(K, o.quant.groupSize) : 0;
  const scales = new Float32Array(G * N);
  const zeros = new Int32Array(G * N);
  const codes = o.quant ? new Uint8Array(N * K) : undefined;
  const maxq = o.quant ? (1 << o.quant.bits) - 1 : 0;
  const total = N * K;
  const saliency = (r: number, c: number) => (Wp[r * K + c] * Wp[r * K + c]) / (U[c * K + c] * U[c * K + c]);
  const loss = await obsSweep(la, Wp, U, N, K, B, (i, q) => {
    if (o.pattern && i % o.pattern.m === 0) {
      const { n, m } = o.pattern;
      const s = new Float64Array(m);
      for (let r = 0; r < N; r++) {
        for (let j = 0; j < m; j++) s[j] = saliency(r, i + j);
        markSmallest(s, m, n, mask, r * K + i);
      }
    }
    if (grid && i % gs === 0) findParams(Wp, N, K, Array.from({ length: gs }, (_, j) => i + j), grid, scales, zeros, Math.floor(i / gs) * N, 1, what);
    const g = Math.floor(i / gs);
    for (let r = 0; r < N; r++) {
      let v = mask[r * K + i] ? 0 : Wp[r * K + i];
      if (codes) {
        const c = quantCode(v, scales[g * N + r], zeros[g * N + r], maxq);
        codes[r * K + i] = c;
        v = Math.fround(scales[g * N + r] * (c - zeros[g * N + r]));
      }
      q[r] = v;
    }
  }, (i1, i2) => {
    if (o.sparsity === undefined) return;
    const k = Math.round(o.sparsity * N * i2) - Math.round(o.sparsity * N * i1);
    const cnt = i2 - i1;
    const s = new Float64Array(N * cnt);
    for (let r = 0; r < N; r++) for (let c = 0; c < cnt; c++) s[r * cnt + c] = saliency(r, i1 + c);
    for (const x of smallest(s, k)) mask[Math.floor(x / cnt) * K + i1 + (x % cnt)] = 1;
  });
  const weights = Float32Array.from(Wp);   // no permutation in SparseGPT: processing order = column order
  if (o.sparsity !== undefined) {
    let z = 0;
    for (let i = 0; i < total; i++) z += mask[i];
    if (z !== Math.round(o.sparsity * total)) throw new Error(`sparseGpt: pruned ${z}, wanted ${Math.round(o.sparsity * total)}`);
  }
  const quantized = codes && o.quant
    ? { bits: o.quant.bits, groupSize: o.quant.groupSize, inFeatures: K, outFeatures: N, codes, scales, zeros, gIdx: defaultGIdx(K, o.quant.groupSize) }
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
