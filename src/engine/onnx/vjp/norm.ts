// VJPs of normalizing and reducing ops: Softmax, LogSoftmax, RMSNormalization, LayerNormalization
// (statistics recomputed in the backward graph from x), ReduceSum / ReduceMean, and RotaryEmbedding
// (a rotation: its transpose is the rotation by −θ, i.e. the same op with the sine table negated).

import type { Value } from '../builder';
import type { Vjp, VjpContext } from './context';

// y = softmax(x): dx = y ⊙ (dy − Σ dy⊙y)
const softmax: Vjp = (c) => {
  if (!c.need[0]) return [null];
  const y = c.y[0];
  const axis = c.int('axis', -1);
  const s = c.reduceSum(c.mul(c.dy0, y), [axis], true);
  return [c.mul(y, c.sub(c.dy0, s))];
};

// y = log softmax(x): dx = dy − exp(y) ⊙ Σ dy
const logSoftmax: Vjp = (c) => {
  if (!c.need[0]) return [null];
  const axis = c.int('axis', -1);
  return [c.sub(c.dy0, c.mul(c.op1('Exp', [c.y[0]]), c.reduceSum(c.dy0, [axis], true)))];
};

/** Axes normalized by a norm op with `axis`: [axis, rank). */
function normAxes(c: VjpContext, x: Value): number[] {
  const r = c.rank(x);
  const a = c.axis(c.int('axis', -1), x);
  return Array.from({ length: r - a }, (_, i) => a + i);
}

// y = x·r·w, r = 1/√(mean(x²) + ε), x̂ = x·r:
// dw = Σ dy⊙x̂ (over broadcast axes), g = dy⊙w, dx = r·(g − x̂·mean(g⊙x̂))
const rmsNorm: Vjp = (c) => {
  const [x, w] = [c.in(0), c.in(1)];
  const axes = normAxes(c, x);
  const eps = c.scalar(c.float('epsilon', 1e-5), x);
  const r = c.op1('Reciprocal', [c.op1('Sqrt', [c.add(c.reduceMean(c.mul(x, x), axes, true), eps)])]);
  const xhat = c.mul(x, r);
  const dy = c.dy0;
  const dw = c.need[1] ? c.reduceTo(c.mul(dy, xhat), c.shape(c.y[0]), w) : null;
  let dx = null;
  if (c.need[0]) {
    const g = c.mul(dy, w);
    dx = c.mul(r, c.sub(g, c.mul(xhat, c.reduceMean(c.mul(g, xhat), axes, true))));
  }
  return [dx, dw];
};

// y = x̂·w + b, x̂ = (x − μ)·r, r = 1/√(var + ε):
// dw = Σ dy⊙x̂, db = Σ dy, g = dy⊙w, dx = r·(g − mean(g) − x̂·mean(g⊙x̂))
const layerNorm: Vjp = (c) => {
  if (c.dy.slice(1).some((d) => d)) c.fail('gradients through the Mean / InvStdDev outputs are not supported');
  const [x, w] = [c.in(0), c.in(1)];
  const axes = normAxes(c, x);
  const eps = c.scalar(c.float('epsilon', 1e-5), x);
  const xc = c.sub(x, c.reduceMean(x, axes, true));
  const r = c.op1('Reciprocal', [c.op1('Sqrt', [c.add(c.reduceMean(c.mul(xc, xc), axes, true), eps)])]);
  const xhat = c.mul(xc, r);
  const dy = c.dy0;
  const ys = c.shape(c.y[0]);
  const dw = c.need[1] ? c.reduceTo(c.mul(dy, xhat), ys, w) : null;
  const db = c.need[2] && c.x[2] ? c.reduceTo(dy, ys, c.in(2)) : null;
  let dx = null;
  if (c.need[0]) {
    const g = c.mul(dy, w);
    const inner = c.sub(c.sub(g, c.reduceMean(g, axes, true)), c.mul(xhat, c.reduceMean(c.mul(g, xhat), axes, true)));
    dx = c.mul(r, inner);
  }
  return [dx, dw, db].slice(0, c.x.length);
};

/** Axes of a Reduce* node (attribute before opset 13/18, input after), or 'all'/'none'. */
function reduceAxes(c: VjpContext): number[] | 'all' | 'none' {
  const attr = c.ints('axes');
  const axes = attr ?? (c.x[1] ? c.constInts(c.x[1]) : []);
  if (!axes) c.fail('axes must be constant');
  if (axes.length === 0) return c.int('noop_with_empty_axes', 0) ? 'none' : 'all';
  return axes.map((a) => c.axis(a, c.in(0)));
}

/** dy of a reduction broadcast back to x's shape. */
function unreduce(c: VjpContext, axes: number[] | 'all'): Value {
  const x = c.in(0);
  let d = c.dy0;
  if (!c.int('keepdims', 1) && axes !== 'all') d = c.op1('Unsqueeze', [d, c.i64([...axes].sort((p, q) => p - q))]);
  return c.op1('Expand', [d, c.shapeOf(x)]);
}

const reduceSum: Vjp = (c) => {
  if (!c.need[0]) return c.x.map(() => null);
  const axes = reduceAxes(c);
  return [axes === 'none' ? c.dy0 : unreduce(c, axes), null].slice(0, c.x.length);
};

const reduceMean: Vjp = (c) => {
  if (!c.need[0]) return c.x.map(() => null);
  const axes = reduceAxes(c);
  if (axes === 'none') return [c.dy0, null].slice(0, c.x.length);
  const x = c.in(0);
  const xs = c.shape(x);
  const picked = axes === 'all' ? xs : xs?.filter((_, i) => axes.includes(i));
  let count: Value;
  if (picked && picked.every((d) => typeof d === 'number')) count = c.scalar((picked as number[]).reduce((p, q) => p * q, 1), x);
  else count = c.op1('Cast', [c.div(c.op1('Size', [x]), c.op1('Size', [c.y[0]]))], { to: c.info.elemOf(x.name)! });
  return [c.div(unreduce(c, axes), count), null].slice(0, c.x.length);
};

// RotaryEmbedding (opset 23): y = R(θ_pos)·x per rotated pair; dx = R(−θ_pos)·dy (cos unchanged, sin negated).
const rotary: Vjp = (c) => {
  if (c.need[1] || c.need[2]) c.fail('gradients of the cos/sin tables are not supported');
  if (!c.need[0]) return c.x.map(() => null);
  const ins = [c.dy0, c.in(1), c.neg(c.in(2)), ...c.x.slice(3)];
  return [c.op1('RotaryEmbedding', ins, c.attrs()), null, null, null].slice(0, c.x.length);
};

export const NORM_VJPS: Record<string, Vjp> = {
  Softmax: softmax, LogSoftmax: logSoftmax, RMSNormalization: rmsNorm, LayerNormalization: layerNorm,
  ReduceSum: reduceSum, ReduceMean: reduceMean, RotaryEmbedding: rotary,
};
