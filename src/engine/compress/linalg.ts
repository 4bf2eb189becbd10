// Dense linear algebra for GPTQ / SparseGPT with the O(n³) work in ORT: one dynamic-shape session
// computes Y = A · Bᵀ (or A · B) in fp32; everything sequential or small (b × b diagonal blocks,
// bookkeeping, subtractions) runs in JS in float64.
//
// hinvFactor(H) returns U, the upper-triangular factor with H⁻¹ = Uᵀ U — what GPTQ computes as
// cholesky(cholesky_inverse(cholesky(H)), upper=True) — in two blocked passes instead of three:
//   1. H = R Rᵀ with R upper triangular ("UL" Cholesky, a Cholesky of H with rows and columns reversed),
//      blocked from the bottom-right: R22 from the last diagonal block, R12 = H12 R22⁻ᵀ, then
//      H11 ← H11 − R12 R12ᵀ (the ORT product), and on up.
//   2. U = R⁻¹ (upper), since H⁻¹ = R⁻ᵀ R⁻¹ = Uᵀ U: blocked from the bottom, Uii = Rii⁻¹ and
//      U[i, i+1:] = −Uii · (R[i, i+1:] · U[i+1:, i+1:]) (the ORT product).

import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder';
import { inputError } from '../errors';

export const LINALG_BLOCK = 128;

export class Linalg {
  private constructor(private readonly abT: ort.InferenceSession, private readonly ab: ort.InferenceSession) {}

  static async create(threads?: number): Promise<Linalg> {
    const make = async (transB: boolean) => {
      const g = new GraphBuilder('/');
      const a = g.input('a', 'float', ['m', 'k']);
      const b = g.input('b', 'float', transB ? ['n', 'k'] : ['k', 'n']);
      g.output(g.op('Gemm', [a, b], transB ? { transB: 1 } : {}), 'y', 'float', ['m', 'n']);
      const opts: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3, graphOptimizationLevel: 'all' };
      if (threads) { opts.intraOpNumThreads = threads; opts.interOpNumThreads = 1; }
      return ort.InferenceSession.create(g.toModelProto(), opts);
    };
    return new Linalg(await make(true), await make(false));
  }

  /** A [m, k] · Bᵀ with B [n, k] → [m, n] (fp32). */
  async mulT(a: Float32Array, m: number, k: number, b: Float32Array, n: number): Promise<Float32Array> {
    if (m === 0 || n === 0) return new Float32Array(m * n);
    const r = await this.abT.run({ a: new ort.Tensor('float32', a, [m, k]), b: new ort.Tensor('float32', b, [n, k]) });
    return r.y.data as Float32Array;
  }

  /** A [m, k] · B [k, n] → [m, n] (fp32). */
  async mul(a: Float32Array, m: number, k: number, b: Float32Array, n: number): Promise<Float32Array> {
    if (m === 0 || n === 0) return new Float32Array(m * n);
    const r = await this.ab.run({ a: new ort.Tensor('float32', a, [m, k]), b: new ort.Tensor('float32', b, [k, n]) });
    return r.y.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.abT.release();
    await this.ab.release();
  }

  /**
   * U upper triangular [n, n] (row-major, float64) with H⁻¹ = Uᵀ U, for a symmetric positive definite
   * H [n, n] (float64, row-major; overwritten). Not positive definite → INPUT error naming `what`.
   */
  async hinvFactor(H: Float64Array, n: number, what = 'Hessian'): Promise<Float64Array> {
    const R = await this.ulCholesky(H, n, what);
    return this.upperInverse(R, n);
  }

  /** H = R Rᵀ, R upper (float64). H is overwritten (its upper-left part is updated in place). */
  async ulCholesky(H: Float64Array, n: number, what: string): Promise<Float64Array> {
    const R = new Float64Array(n * n);
    const B = LINALG_BLOCK;
    for (let e = n; e > 0; e -= B) {
      const s = Math.max(0, e - B);
      const b = e - s;
      // diagonal block: Rdd Rddᵀ = H[s:e, s:e] (upper), in JS
      for (let j = e - 1; j >= s; j--) {
        let d = H[j * n + j];
        for (let k = j + 1; k < e; k++) d -= R[j * n + k] * R[j * n + k];
        if (!(d > 0)) throw inputError(`${what} is not positive definite (pivot ${j} is ${d}); more calibration data or a larger dampening may help`);
        const rjj = Math.sqrt(d);
        R[j * n + j] = rjj;
        for (let i = s; i < j; i++) {
          let v = H[i * n + j];
          for (let k = j + 1; k < e; k++) v -= R[i * n + k] * R[j * n + k];
          R[i * n + j] = v / rjj;
        }
      }
      if (s === 0) break;
      // panel: R[0:s, s:e] = H[0:s, s:e] · Rdd⁻ᵀ  (ORT; Rdd⁻¹ by back-substitution in JS)
      const rinv = new Float32Array(b * b);
      for (let j = b - 1; j >= 0; j--) {
        rinv[j * b + j] = 1 / R[(s + j) * n + s + j];
        for (let i = j - 1; i >= 0; i--) {
          let v = 0;
          for (let k = i + 1; k <= j; k++) v += R[(s + i) * n + s + k] * rinv[k * b + j];
          rinv[i * b + j] = -v / R[(s + i) * n + s + i];
        }
      }
      const hp = new Float32Array(s * b);
      for (let i = 0; i < s; i++) for (let j = 0; j < b; j++) hp[i * b + j] = H[i * n + s + j];
      const panel = await this.mulT(hp, s, b, rinv, b);                                    // [s, b]
      for (let i = 0; i < s; i++) for (let j = 0; j < b; j++) R[i * n + s + j] = panel[i * b + j];
      // trailing update: H[0:s, 0:s] −= panel · panelᵀ  (ORT)
      const p = await this.mulT(panel, s, b, panel, s);
      for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) H[i * n + j] -= p[i * s + j];
    }
    return R;
  }

  /** R⁻¹ for upper-triangular R (float64). */
  async upperInverse(R: Float64Array, n: number): Promise<Float64Array> {
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
