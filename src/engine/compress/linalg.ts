// Dense linear algebra for GPTQ / SparseGPT with the O(n³) work in ORT (fp32 Gemm sessions built once,
// linalg-graphs.ts, fed row ranges of JS arrays as views); everything sequential or small (b × b
// diagonal blocks, bookkeeping) runs in JS in float64.
//
// ulCholesky(H) = R, upper triangular with H = R Rᵀ (a Cholesky of H with rows and columns reversed).
// The OBS sweep (obs-sweep.ts) needs nothing else: U = R⁻¹ is the upper factor with H⁻¹ = Uᵀ U that
// GPTQ's reference computes as cholesky(cholesky_inverse(cholesky(H)), upper=True), but the sweep only
// uses U's diagonal blocks, which are the inverses of R's. Left-looking and blocked from the bottom-right:
// for the block of rows/columns [s, e),
//   Z = H[0:e, s:e] − R[0:e, e:n] · R[s:e, e:n]ᵀ        (one ORT run, [e, b]: n³/3 flops in all)
//   Rdd Rddᵀ = Z[s:e]                                     (b × b, JS float64)
//   R[0:s, s:e] = Z[0:s] · Rdd⁻ᵀ                          (ORT)
// Only the upper triangle is ever formed (the right-looking version updated all of H[0:s, 0:s]: twice
// the flops). hinvFactor (U itself) is kept for tests and tools: upperInverse(R), blocked the same way.

import * as ort from 'onnxruntime-node';
import { inputError } from '../errors';
import { LinalgGraph, linalgSession } from './linalg-graphs';

export const LINALG_BLOCK = 128;

const f32 = (a: Float32Array, rows: number, cols: number) => new ort.Tensor('float32', a, [rows, cols]);
const i64 = (v: number) => new ort.Tensor('int64', BigInt64Array.of(BigInt(v)), [1]);

export class Linalg {
  private constructor(private readonly s: Record<LinalgGraph, ort.InferenceSession>) {}

  static async create(threads?: number): Promise<Linalg> {
    const kinds: LinalgGraph[] = ['gemm', 'gemmT', 'cholZ', 'panelT', 'left', 'rest'];
    const sessions = await Promise.all(kinds.map((k) => linalgSession(k, threads)));
    return new Linalg(Object.fromEntries(kinds.map((k, i) => [k, sessions[i]])) as Record<LinalgGraph, ort.InferenceSession>);
  }

  /** A [m, k] · Bᵀ with B [n, k] → [m, n] (fp32). */
  async mulT(a: Float32Array, m: number, k: number, b: Float32Array, n: number): Promise<Float32Array> {
    if (m === 0 || n === 0) return new Float32Array(m * n);
    const r = await this.s.gemmT.run({ a: f32(a, m, k), b: f32(b, n, k) });
    return r.y.data as Float32Array;
  }

  /** A [m, k] · B [k, n] → [m, n] (fp32). */
  async mul(a: Float32Array, m: number, k: number, b: Float32Array, n: number): Promise<Float32Array> {
    if (m === 0 || n === 0) return new Float32Array(m * n);
    const r = await this.s.gemm.run({ a: f32(a, m, k), b: f32(b, k, n) });
    return r.y.data as Float32Array;
  }

  /** H[:, h0:h1] − A[:, c0:c1] · B[:, c0:c1]ᵀ (float64) for row-major A [m, lda], B [n, ldb] (fp32), H [m, ldh] (float64). */
  async cholZ(a: Float32Array, m: number, lda: number, b: Float32Array, n: number, ldb: number, c0: number, c1: number,
    h: Float64Array, ldh: number, h0: number, h1: number): Promise<Float64Array> {
    const r = await this.s.cholZ.run({ a: f32(a, m, lda), b: f32(b, n, ldb), c0: i64(c0), c1: i64(c1),
      h: new ort.Tensor('float64', h, [m, ldh]), h0: i64(h0), h1: i64(h1) });
    return r.y.data as Float64Array;
  }

  /** float(Z) · Mᵀ for Z [s, b] (float64), M [b, b] (fp32) → [s, b]. */
  async panelT(z: Float64Array, s: number, b: number, m: Float32Array): Promise<Float32Array> {
    const r = await this.s.panelT.run({ z: new ort.Tensor('float64', z, [s, b]), m: f32(m, b, b) });
    return r.y.data as Float32Array;
  }

  /**
   * out = Mᵀ · (A[:, c0:c1]ᵀ · D) + W0, written into `out` [p, n] (p = c1 − c0).
   * A [s, lda], D [s, n], M [p, p], W0 [p, n]: row-major views.
   */
  async left(a: Float32Array, s: number, lda: number, c0: number, c1: number, d: Float32Array, n: number,
    m: Float32Array, w0: Float32Array, out: Float32Array): Promise<void> {
    const p = c1 - c0;
    await this.s.left.run({ a: f32(a, s, lda), c0: i64(c0), c1: i64(c1), d: f32(d, s, n), m: f32(m, p, p), w0: f32(w0, p, n) },
      { y: f32(out, p, n) });
  }

  /**
   * out = W − A[:, c0:c1]ᵀ · E, written into `out` [c1 − c0, n]. A [t, lda], E [t, n], W [c1 − c0, n]:
   * row-major views (out must not overlap W).
   */
  async rest(a: Float32Array, t: number, lda: number, c0: number, c1: number, e: Float32Array, n: number,
    w: Float32Array, out: Float32Array): Promise<void> {
    const r = c1 - c0;
    await this.s.rest.run({ a: f32(a, t, lda), c0: i64(c0), c1: i64(c1), e: f32(e, t, n), w: f32(w, r, n) }, { y: f32(out, r, n) });
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.s)) await s.release();
  }

  /**
   * U upper triangular [n, n] (row-major, float64) with H⁻¹ = Uᵀ U, for a symmetric positive definite
   * H [n, n] (float64, row-major; not modified). Not positive definite → INPUT error naming `what`.
   */
  async hinvFactor(H: Float64Array, n: number, what = 'Hessian'): Promise<Float64Array> {
    return this.upperInverse(await this.ulCholesky(H, n, what), n);
  }

  /**
   * R upper [n, n] (fp32, row-major) with H = R Rᵀ; H (float64, row-major) is read only. When `diagInv`
   * is given, it receives each diagonal block's inverse R[s:e, s:e]⁻¹ (float64 [b, b]) under key s.
   */
  async ulCholesky(H: Float64Array, n: number, what: string, diagInv?: Map<number, Float64Array>): Promise<Float32Array> {
    const R = new Float32Array(n * n);
    const B = LINALG_BLOCK;
    for (let e = n; e > 0; e -= B) {
      const s = Math.max(0, e - B);
      const b = e - s;
      // Z = H[0:e, s:e] − R[0:e, e:n] · R[s:e, e:n]ᵀ   [e, b], float64
      let Z: Float64Array;
      if (e < n) Z = await this.cholZ(R.subarray(0, e * n), e, n, R.subarray(s * n, e * n), b, n, e, n, H.subarray(0, e * n), n, s, e);
      else {
        Z = new Float64Array(e * b);
        for (let i = 0; i < e; i++) Z.set(H.subarray(i * n + s, i * n + e), i * b);
      }
      // diagonal block: Rdd Rddᵀ = Z[s:e] (upper), float64
      const rdd = new Float64Array(b * b);
      for (let j = b - 1; j >= 0; j--) {
        let d = Z[(s + j) * b + j];
        for (let k = j + 1; k < b; k++) d -= rdd[j * b + k] * rdd[j * b + k];
        if (!(d > 0)) throw inputError(`${what} is not positive definite (pivot ${s + j} is ${d}); more calibration data or a larger dampening may help`);
        const rjj = Math.sqrt(d);
        rdd[j * b + j] = rjj;
        for (let i = 0; i < j; i++) {
          let v = Z[(s + i) * b + j];
          for (let k = j + 1; k < b; k++) v -= rdd[i * b + k] * rdd[j * b + k];
          rdd[i * b + j] = v / rjj;
        }
      }
      for (let i = 0; i < b; i++) for (let j = i; j < b; j++) R[(s + i) * n + s + j] = rdd[i * b + j];
      if (s === 0 && !diagInv) break;
      const inv = upperInverseSmall(rdd, b);
      diagInv?.set(s, inv);
      if (s === 0) break;
      // panel: R[0:s, s:e] = Z[0:s] · Rdd⁻ᵀ  (ORT)
      const panel = await this.panelT(Z.subarray(0, s * b), s, b, Float32Array.from(inv));   // [s, b]
      for (let i = 0; i < s; i++) R.set(panel.subarray(i * b, (i + 1) * b), i * n + s);
    }
    return R;
  }

  /** R⁻¹ for upper-triangular R [n, n] (row-major) → float64, blocked: diagonal blocks in JS, products in ORT. */
  async upperInverse(R: ArrayLike<number>, n: number): Promise<Float64Array> {
    const U = new Float64Array(n * n);
    const B = LINALG_BLOCK;
    const starts: number[] = [];
    for (let s = 0; s < n; s += B) starts.push(s);
    for (let bi = starts.length - 1; bi >= 0; bi--) {
      const s = starts[bi];
      const e = Math.min(n, s + B);
      const b = e - s;
      // Uii = Rii⁻¹ (upper), column by column
      for (let j = s; j < e; j++) {
        U[j * n + j] = 1 / R[j * n + j];
        for (let i = j - 1; i >= s; i--) {
          let v = 0;
          for (let k = i + 1; k <= j; k++) v += R[i * n + k] * U[k * n + j];
          U[i * n + j] = -v / R[i * n + i];
        }
      }
      const rest = n - e;
      if (rest === 0) continue;
      // T = R[s:e, e:n] · U[e:n, e:n]  (ORT), then U[s:e, e:n] = −Uii · T
      const a = new Float32Array(b * rest);
      for (let i = 0; i < b; i++) for (let k = 0; k < rest; k++) a[i * rest + k] = R[(s + i) * n + e + k];
      const u = new Float32Array(rest * rest);
      for (let i = 0; i < rest; i++) for (let k = i; k < rest; k++) u[i * rest + k] = U[(e + i) * n + e + k];
      const t = await this.mul(a, b, rest, u, rest);                                     // [b, rest]
      const uii = new Float32Array(b * b);
      for (let i = 0; i < b; i++) for (let j = i; j < b; j++) uii[i * b + j] = U[(s + i) * n + s + j];
      const v = await this.mul(uii, b, b, t, rest);                                         // [b, rest]
      for (let i = 0; i < b; i++) for (let k = 0; k < rest; k++) U[(s + i) * n + e + k] = -v[i * rest + k];
    }
    return U;
  }
}

/** R⁻¹ for a small upper-triangular R [b, b] (row-major) → float64, row by row from the bottom (contiguous axpys). */
export function upperInverseSmall(R: ArrayLike<number>, b: number): Float64Array {
  const U = new Float64Array(b * b);
  const acc = new Float64Array(b);
  for (let i = b - 1; i >= 0; i--) {
    // U[i, j] = −(Σ_{i<k≤j} R[i, k] U[k, j]) / R[i, i]  (j > i),  U[i, i] = 1 / R[i, i]
    acc.fill(0, i + 1);
    for (let k = i + 1; k < b; k++) {
      const rik = R[i * b + k];
      if (rik === 0) continue;
      const uk = k * b;
      for (let j = k; j < b; j++) acc[j] += rik * U[uk + j];
    }
    const rii = R[i * b + i];
    U[i * b + i] = 1 / rii;
    for (let j = i + 1; j < b; j++) U[i * b + j] = -acc[j] / rii;
  }
  return U;
}
