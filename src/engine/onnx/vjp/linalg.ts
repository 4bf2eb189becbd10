// VJPs of products: MatMul with broadcast batch dims (gradients summed over the broadcast axes) and
// Gemm with transA/transB/alpha/beta and a broadcast bias.

import type { Value } from '../builder';
import type { Vjp, VjpContext } from './context';

/** Swap the last two axes of a value of rank r. */
function swapLast(c: VjpContext, v: Value, r: number): Value {
  const perm = Array.from({ length: r }, (_, i) => i);
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return c.op1('Transpose', [v], { perm });
}

/** v [..., n] viewed as rows [-1, n]. */
function rows(c: VjpContext, v: Value, last: number | string | null): Value {
  if (typeof last === 'number') return c.g.reshape(v, [-1, last]);
  return c.op1('Reshape', [v, c.g.concat([c.i64([-1]), c.op1('Shape', [v], { start: -1 })], 0)]);
}

// Y = A·B, A [..., M, K], B [..., K, N], Y [batch, M, N]:
// dA = dY·Bᵀ summed to A's batch shape, dB = Aᵀ·dY summed to B's batch shape.
const matmul: Vjp = (c) => {
  const [a, b] = [c.in(0), c.in(1)];
  const ra = c.rank(a);
  const rb = c.rank(b);
  if (ra < 2 || rb < 2) c.fail('1-D operands are not supported');
  const ys = c.shape(c.y[0])!;
  const as = c.shape(a)!;
  const bs = c.shape(b)!;
  const batch = ys.slice(0, -2);
  let da = null;
  let db = null;
  if (c.need[0]) {
    const full = c.g.matmul(c.dy0, swapLast(c, b, rb));                        // [batch, M, K]
    da = c.reduceTo(full, [...batch, as[ra - 2], as[ra - 1]], a);
  }
  if (c.need[1]) {
    if (rb === 2 && ra > 2) {
      // B shared across the batch: fold the batch into rows, one 2-D product Aᵀ·dY.
      db = c.op1('Gemm', [rows(c, a, as[ra - 1]), rows(c, c.dy0, ys[ys.length - 1])], { transA: 1 });   // [K, N]
    } else {
      const full = c.g.matmul(swapLast(c, a, ra), c.dy0);                      // [batch, K, N]
      db = c.reduceTo(full, [...batch, bs[rb - 2], bs[rb - 1]], b);
    }
  }
  return [da, db];
};

// Y = α·A'·B' + β·C, A' = transA ? Aᵀ : A, B' = transB ? Bᵀ : B.
const gemm: Vjp = (c) => {
  const [a, b] = [c.in(0), c.in(1)];
  const ta = c.int('transA', 0);
  const tb = c.int('transB', 0);
  const alpha = c.float('alpha', 1);
  const beta = c.float('beta', 1);
  const dy = c.dy0;
  const out: Array<Value | null> = [null, null, null];
  if (c.need[0]) {
    // dA' = α·dY·B'ᵀ;  transA: dA = (dA')ᵀ = α·B'·dYᵀ
    out[0] = ta
      ? c.op1('Gemm', [b, dy], { transA: tb, transB: 1, alpha: { float: alpha } })
      : c.op1('Gemm', [dy, b], { transA: 0, transB: tb ? 0 : 1, alpha: { float: alpha } });
  }
  if (c.need[1]) {
    // dB' = α·A'ᵀ·dY;  transB: dB = (dB')ᵀ = α·dYᵀ·A'
    out[1] = tb
      ? c.op1('Gemm', [dy, a], { transA: 1, transB: ta, alpha: { float: alpha } })
      : c.op1('Gemm', [a, dy], { transA: ta ? 0 : 1, transB: 0, alpha: { float: alpha } });
  }
  if (c.need[2] && c.x[2]) {
    const dc = c.reduceTo(dy, c.shape(c.y[0]), c.in(2));
    out[2] = beta === 1 ? dc : c.mul(dc, c.scalar(beta, dy));
  }
  return out.slice(0, c.x.length);
};

export const LINALG_VJPS: Record<string, Vjp> = { MatMul: matmul, Gemm: gemm };
