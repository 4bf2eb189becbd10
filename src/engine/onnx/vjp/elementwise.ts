// VJPs of elementwise ops: broadcasting arithmetic (gradients summed back to each input's shape),
// unary math, activations (Sigmoid, Tanh, Relu, Erf, exact and tanh Gelu), Where, Cast, Identity.

import type { Value } from '../builder';
import type { Grad, Vjp, VjpContext } from './context';

/** Output shape of the node (= the broadcast shape of its inputs). */
const outShape = (c: VjpContext) => c.shape(c.y[0]);

const add: Vjp = (c) => {
  const d = c.dy0;
  return [c.need[0] ? c.reduceTo(d, outShape(c), c.in(0)) : null, c.need[1] ? c.reduceTo(d, outShape(c), c.in(1)) : null];
};

const sub: Vjp = (c) => {
  const d = c.dy0;
  return [c.need[0] ? c.reduceTo(d, outShape(c), c.in(0)) : null, c.need[1] ? c.reduceTo(c.neg(d), outShape(c), c.in(1)) : null];
};

// y = a·b: da = dy·b, db = dy·a
const mul: Vjp = (c) => {
  const [a, b] = [c.in(0), c.in(1)];
  const d = c.dy0;
  return [c.need[0] ? c.reduceTo(c.mul(d, b), outShape(c), a) : null, c.need[1] ? c.reduceTo(c.mul(d, a), outShape(c), b) : null];
};

// y = a / b: da = dy / b, db = −dy·y / b
const div: Vjp = (c) => {
  const [a, b] = [c.in(0), c.in(1)];
  const d = c.dy0;
  const da = c.need[0] ? c.reduceTo(c.div(d, b), outShape(c), a) : null;
  const db = c.need[1] ? c.reduceTo(c.neg(c.div(c.mul(d, c.y[0]), b)), outShape(c), b) : null;
  return [da, db];
};

// y = a^p: da = dy·p·a^(p−1) (the exponent gets no gradient)
const pow: Vjp = (c) => {
  if (c.need[1]) c.fail('gradient with respect to the exponent is not supported');
  const [a, p] = [c.in(0), c.in(1)];
  const ea = c.info.elemOf(a.name)!;
  const pf = c.info.elemOf(p.name) === ea ? p : c.op1('Cast', [p], { to: ea });
  const local = c.mul(pf, c.op1('Pow', [a, c.sub(pf, c.scalar(1, a))]));
  return [c.reduceTo(c.mul(c.dy0, local), outShape(c), a), null];
};

const unary = (f: (c: VjpContext, x: Value, y: Value, d: Value) => Value): Vjp => (c) => [c.need[0] ? f(c, c.in(0), c.y[0], c.dy0) : null];

const neg = unary((c, _x, _y, d) => c.neg(d));
const exp = unary((c, _x, y, d) => c.mul(d, y));
const log = unary((c, x, _y, d) => c.div(d, x));
const sqrt = unary((c, _x, y, d) => c.div(c.mul(d, c.scalar(0.5, y)), y));
const reciprocal = unary((c, _x, y, d) => c.neg(c.mul(d, c.mul(y, y))));
const abs = unary((c, x, _y, d) => c.mul(d, c.op1('Sign', [x])));
// σ' = y(1 − y)
const sigmoid = unary((c, _x, y, d) => c.mul(d, c.mul(y, c.sub(c.scalar(1, y), y))));
// tanh' = 1 − y²
const tanh = unary((c, _x, y, d) => c.mul(d, c.sub(c.scalar(1, y), c.mul(y, y))));
// relu' = [x > 0]
const relu = unary((c, x, _y, d) => c.op1('Where', [c.op1('Greater', [x, c.scalar(0, x)]), d, c.scalar(0, d)]));
// erf'(x) = 2/√π · exp(−x²)
const erf = unary((c, x, _y, d) => c.mul(d, c.mul(c.scalar(2 / Math.sqrt(Math.PI), x), c.op1('Exp', [c.neg(c.mul(x, x))]))));

/**
 * Gelu. Exact: y = x·Φ(x) → y' = Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = exp(−x²/2)/√(2π).
 * tanh: y = ½x(1 + t), t = tanh(u), u = √(2/π)(x + 0.044715x³)
 *       → y' = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²).
 */
const gelu = unary((c, x, _y, d) => {
  const k = (v: number) => c.scalar(v, x);
  const x2 = c.mul(x, x);
  if (c.str('approximate', 'none') === 'tanh') {
    const s = Math.sqrt(2 / Math.PI);
    const u = c.mul(c.mul(k(s), x), c.add(k(1), c.mul(k(0.044715), x2)));
    const t = c.op1('Tanh', [u]);
    const du = c.mul(k(s), c.add(k(1), c.mul(k(3 * 0.044715), x2)));
    const a = c.mul(k(0.5), c.add(k(1), t));
    const b = c.mul(c.mul(c.mul(k(0.5), x), c.sub(k(1), c.mul(t, t))), du);
    return c.mul(d, c.add(a, b));
  }
  const cdf = c.mul(k(0.5), c.add(k(1), c.op1('Erf', [c.mul(x, k(Math.SQRT1_2))])));
  const pdf = c.mul(k(1 / Math.sqrt(2 * Math.PI)), c.op1('Exp', [c.mul(x2, k(-0.5))]));
  return c.mul(d, c.add(cdf, c.mul(x, pdf)));
});

// Where(cond, a, b): da = dy where cond, db = dy elsewhere
const where: Vjp = (c) => {
  const [cond, a, b] = [c.in(0), c.in(1), c.in(2)];
  const d = c.dy0;
  const zero = c.scalar(0, d);
  return [null,
    c.need[1] ? c.reduceTo(c.op1('Where', [cond, d, zero]), outShape(c), a) : null,
    c.need[2] ? c.reduceTo(c.op1('Where', [cond, zero, d]), outShape(c), b) : null];
};

// Max/Min of two inputs: the gradient goes to the chosen one (ties: the first).
const maxMin = (pick: 'GreaterOrEqual' | 'LessOrEqual'): Vjp => (c) => {
  if (c.x.length !== 2) c.fail('only two inputs are supported');
  const [a, b] = [c.in(0), c.in(1)];
  const d = c.dy0;
  const zero = c.scalar(0, d);
  const first = c.op1(pick, [a, b]);
  return [c.need[0] ? c.reduceTo(c.op1('Where', [first, d, zero]), outShape(c), a) : null,
    c.need[1] ? c.reduceTo(c.op1('Where', [first, zero, d]), outShape(c), b) : null];
};

const identity: Vjp = (c) => [c.need[0] ? c.dy0 : null];

const cast: Vjp = (c) => {
  if (!c.need[0]) return [null];
  const to = c.info.elemOf(c.in(0).name);
  if (to === undefined) return c.fail('unknown source type');
  return [to === c.info.elemOf(c.y[0].name) ? c.dy0 : c.op1('Cast', [c.dy0], { to })];
};

const noGrad: Vjp = (c) => c.x.map(() => null as Grad);

export const ELEMENTWISE_VJPS: Record<string, Vjp> = {
  Add: add, Sub: sub, Mul: mul, Div: div, Pow: pow, Neg: neg, Exp: exp, Log: log, Sqrt: sqrt, Reciprocal: reciprocal, Abs: abs,
  Sigmoid: sigmoid, Tanh: tanh, Relu: relu, Erf: erf, Gelu: gelu, Where: where,
  Max: maxMin('GreaterOrEqual'), Min: maxMin('LessOrEqual'), Identity: identity, Cast: cast,
  // piecewise constant or integer-valued: zero gradient
  Floor: noGrad, Ceil: noGrad, Round: noGrad, Sign: noGrad,
};
