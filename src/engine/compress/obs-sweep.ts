// The block-wise OBS sweep shared by GPTQ and SparseGPT, on the Cholesky factor R of the damped
// Hessian (H = R Rᵀ, R upper; linalg.ts) instead of U = R⁻¹ (H⁻¹ = Uᵀ U, what the GPTQ reference uses).
//
// Layout: weights are transposed, Wt [K, N] row-major (row k = input column k of W [N, K], processing
// order), so every per-column pass reads and writes N contiguous floats.
//
// Identity used: the sweep quantizes column i to q_i and spreads e_i = (w_i − q_i) / U_ii over later
// columns with row i of U, so with E = [e_0 … e_{K−1}], W0 = Q + E U (U upper). Hence, for a panel of
// columns [s, e) once the columns before s are done,
//   W[:, s:e] = W0[:, s:e] − E[:, :s] U[:s, s:e] = W0[:, s:e] + D[:, :s] · R[:s, s:e] · Rdd⁻¹,
// with D = W0 − Q (U[:s, s:e] = −U[:s, :s] R[:s, s:e] Rdd⁻¹ and E[:, :s] U[:s, :s] = D[:, :s]; Rdd = R[s:e, s:e]).
// So the lazy update is "left-looking": each panel is brought up to date just before it is processed,
//   Wt[s:e] = W0t[s:e] + Rdd⁻ᵀ · (R[:s, s:e]ᵀ · Dt[:s])           (one ORT session run, [P, N])
// and the whole inverse U is never formed: only Rdd⁻¹ = U[s:e, s:e] per panel (P³/3 flops, JS).
// Inside a panel the same left-looking order, one level down: a sub-block [a, c) of SWEEP_SUB columns is
// first brought up to date with the panel's earlier sub-blocks in ORT,
//   Wt[a:c] −= U[g:a, a:c]ᵀ · Et[g:a]     (g: where these columns were last brought up to date),
// then runs column by column in JS, each column first brought up to date with the sub-block's earlier
// errors (contiguous passes over its N floats, four error rows at a time; no allocation per column).
//
// Sync points: callbacks (a group's grid, a sparsity block's mask, an N:M group) read columns ahead of
// the current one. For every spacing u in `sync`, panels are widened so that each aligned interval
// [k·u, (k+1)·u) lies in one panel, sub-blocks end at multiples of u, and at column i = k·u the whole
// interval is brought up to date first: its columns then carry every update from the columns before i —
// the same weights the column-by-column algorithm would show (docs/compression.md).

import { Linalg, upperInverseSmall } from './linalg';

/**
 * Columns per in-panel sub-block (the JS column loop's span). 8 measured best of 4 / 8 / 16 / 32 (CPU
 * time, 768×2048 and 2048×768): fewer columns mean more ORT runs (≈ 40–70 µs each), more mean more JS.
 */
export const SWEEP_SUB = 8;

/** The panel being processed: its current weights, row k − start = input column k (N floats). */
export interface SweepPanel {
  w: Float32Array;
  start: number;
}

/**
 * Sweep K columns of W0t [K, N] (processing order, float32; not modified) with R [K, K] (H = R Rᵀ).
 * For each column i, `target(i, q, panel)` fills q [N] with the values column i takes (the column's
 * current values are panel.w[(i − panel.start)·N …]). Returns Σ e² / 2 with e = (w − q) / U_ii.
 * diagInv: inverses of R's diagonal blocks by start column, reused where a panel matches one (ulCholesky).
 */
export async function obsSweep(la: Linalg, W0t: Float32Array, R: Float32Array, N: number, K: number, panelSize: number,
  sync: number[], target: (i: number, q: Float32Array, panel: SweepPanel) => void, diagInv?: Map<number, Float64Array>): Promise<number> {
  const D = new Float32Array(K * N);                 // Dt = (W0 − Q)ᵀ [K, N]
  const q = new Float32Array(N);
  let buf = { w: new Float32Array(0), e: new Float32Array(0), y: new Float32Array(0) };   // panel, its errors, scratch
  let loss = 0;
  for (let s = 0; s < K;) {
    const e = panelEnd(s, K, panelSize, sync);
    const P = e - s;
    if (buf.w.length < P * N) buf = { w: new Float32Array(P * N), e: new Float32Array(P * N), y: new Float32Array(P * N) };
    const wp = buf.w.subarray(0, P * N);             // Wt[s:e] [P, N]
    const ep = buf.e.subarray(0, P * N);             // Et[s:e] [P, N]
    // U[s:e, s:e] = Rdd⁻¹ [P, P]
    let U64 = diagInv?.get(s);
    if (U64?.length !== P * P) {
      const rdd = new Float64Array(P * P);
      for (let i = 0; i < P; i++) for (let j = i; j < P; j++) rdd[i * P + j] = R[(s + i) * K + s + j];
      U64 = P <= 256 ? upperInverseSmall(rdd, P) : await la.upperInverse(rdd, P);
    }
    const U = Float32Array.from(U64);
    if (s === 0) wp.set(W0t.subarray(0, P * N));
    else await la.left(R.subarray(0, s * K), s, K, s, e, D.subarray(0, s * N), N, U, W0t.subarray(s * N, e * N), wp);
    const panel: SweepPanel = { w: wp, start: s };
    const applied = new Int32Array(P).fill(s);       // column s + j carries the panel's errors from columns < applied[j]
    for (let a = s; a < e;) {
      let c = Math.min(e, (Math.floor(a / SWEEP_SUB) + 1) * SWEEP_SUB);
      for (const u of sync) if (u > 0) c = Math.min(c, (Math.floor(a / u) + 1) * u);
      // columns that must be current now: the sub-block, and at a sync point the whole aligned interval
      let f = c;
      for (const u of sync) if (u > 0 && a % u === 0) f = Math.max(f, Math.min(e, a + u));
      // Wt[x:y] −= U[g:a, x:y]ᵀ · Et[g:a] for each run [x, y) of columns last brought up to date at g < a (ORT)
      for (let x = a; x < f;) {
        const g = applied[x - s];
        let y = x + 1;
        while (y < f && applied[y - s] === g) y++;
        if (g < a) {
          const n = (y - x) * N;
          await la.rest(U.subarray((g - s) * P, (a - s) * P), a - g, P, x - s, y - s, ep.subarray((g - s) * N, (a - s) * N), N,
            wp.subarray((x - s) * N, (y - s) * N), buf.y.subarray(0, n));
          wp.set(buf.y.subarray(0, n), (x - s) * N);
          applied.fill(a, x - s, y - s);
        }
        x = y;
      }
      loss += sweepColumns(a, c, s, P, N, U64, wp, ep, W0t, D, q, panel, target);
      a = c;
    }
    s = e;
  }
  return loss / 2;
}

/**
 * Columns [a, c) of the panel [s, s + P), one at a time (synchronous, so the loops stay in registers):
 * bring column i up to date with the sub-block's earlier errors, let `target` choose its values q,
 * record e = (w − q) / U_ii in ep and W0 − q in D. Returns Σ e².
 */
function sweepColumns(a: number, c: number, s: number, P: number, N: number, U64: Float64Array, wp: Float32Array, ep: Float32Array,
  W0t: Float32Array, D: Float32Array, q: Float32Array, panel: SweepPanel,
  target: (i: number, q: Float32Array, panel: SweepPanel) => void): number {
  let loss = 0;
  const eo = (a - s) * N;
  for (let i = a; i < c; i++) {
    const li = i - s;
    const wo = li * N;
    const dOff = i * N;
    // w_i −= Σ_{a≤k<i} U[k, i] e_k, four error rows per pass over w_i
    const m = i - a;
    let k = 0;
    for (; k + 3 < m; k += 4) {
      const u0 = U64[(a - s + k) * P + li], u1 = U64[(a - s + k + 1) * P + li];
      const u2 = U64[(a - s + k + 2) * P + li], u3 = U64[(a - s + k + 3) * P + li];
      const o0 = eo + k * N, o1 = o0 + N, o2 = o1 + N, o3 = o2 + N;
      for (let r = 0; r < N; r++) wp[wo + r] -= u0 * ep[o0 + r] + u1 * ep[o1 + r] + u2 * ep[o2 + r] + u3 * ep[o3 + r];
    }
    for (; k < m; k++) {
      const u = U64[(a - s + k) * P + li];
      const o = eo + k * N;
      for (let r = 0; r < N; r++) wp[wo + r] -= u * ep[o + r];
    }
    target(i, q, panel);
    const rii = 1 / U64[li * P + li];           // R_ii: e = (w − q) / U_ii
    for (let r = 0; r < N; r++) {
      const qr = q[r];
      const ev = (wp[wo + r] - qr) * rii;
      loss += ev * ev;
      ep[wo + r] = ev;
      D[dOff + r] = W0t[dOff + r] - qr;
      wp[wo + r] = qr;
    }
  }
  return loss;
}

/** End of the panel starting at s: s + size, widened to a multiple of every sync spacing (≤ K). */
function panelEnd(s: number, K: number, size: number, sync: number[]): number {
  let e = Math.min(K, s + size);
  for (let moved = true; moved && e < K;) {
    moved = false;
    for (const u of sync) {
      if (u > 0 && e % u !== 0) { e = Math.min(K, Math.ceil(e / u) * u); moved = true; }
    }
  }
  return e;
}
