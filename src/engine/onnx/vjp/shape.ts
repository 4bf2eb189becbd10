// VJPs of data-movement ops: Reshape-likes (gradient reshaped back), Transpose (inverse
// permutation), Expand (summed back), Concat ↔ Split, Slice (zero-padded back), Gather
// (scatter-add into zeros: the embedding gradient) and GatherElements (ScatterElements with add).

import type { Value } from '../builder';
import type { Grad, Vjp, VjpContext } from './context';

// Reshape, Flatten, Squeeze, Unsqueeze: the gradient is dy viewed with x's shape.
const reshapeBack: Vjp = (c) => [c.need[0] ? c.op1('Reshape', [c.dy0, c.shapeOf(c.in(0))]) : null, ...c.x.slice(1).map(() => null as Grad)];

const transpose: Vjp = (c) => {
  if (!c.need[0]) return [null];
  const r = c.rank(c.in(0));
  const perm = c.ints('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  const inv = new Array<number>(r);
  perm.forEach((p, i) => { inv[p] = i; });
  return [c.op1('Transpose', [c.dy0], { perm: inv })];
};

const expand: Vjp = (c) => [c.need[0] ? c.reduceTo(c.dy0, c.shape(c.y[0]), c.in(0)) : null, null];

/** int64 [1] holding x's size along `axis` (a constant when known statically). */
function sizeAlong(c: VjpContext, x: Value, axis: number): Value {
  const d = c.shape(x)?.[axis];
  if (typeof d === 'number') return c.i64([d]);
  return c.op1('Shape', [x], { start: axis, end: axis + 1 });
}

// Concat: split dy back into the inputs' extents along the axis.
const concat: Vjp = (c) => {
  const xs = c.x.map((v) => v!);
  const axis = c.axis(c.int('axis', 0), xs[0]);
  if (xs.length === 1) return [c.need[0] ? c.dy0 : null];
  const sizes = c.g.concat(xs.map((x) => sizeAlong(c, x, axis)), 0);
  const parts = c.g.node('Split', [c.dy0, sizes], { axis }, { outputs: xs.length });
  return parts.map((p, i) => (c.need[i] ? p : null));
};

// Split: concatenate the output gradients (zeros where an output has none).
const split: Vjp = (c) => {
  if (!c.need[0]) return [null, null];
  const axis = c.axis(c.int('axis', 0), c.in(0));
  const parts = c.y.map((y, i) => c.dy[i] ?? c.zerosLike(y));
  return [c.g.concat(parts, axis), null];
};

// Slice (steps 1): pad dy with zeros back to x's extent on the sliced axes.
const slice: Vjp = (c) => {
  if (!c.need[0]) return c.x.map(() => null);
  const [x, starts, ends] = [c.in(0), c.in(1), c.in(2)];
  const steps = c.x[4] ? c.constInts(c.x[4]) : undefined;
  if (c.x[4] && (!steps || steps.some((s) => s !== 1))) c.fail('only steps of 1 are supported');
  const g = c.g;
  const axes = c.x[3] ?? g.op('Range', [c.g.constant('int64', [], [0]), g.op('Size', [starts]), c.g.constant('int64', [], [1])]);
  const dims = g.op('Gather', [c.shapeOf(x), axes], { axis: 0 });                           // [k]
  const zero = g.constant('int64', [], [0]);
  const norm = (v: Value) => {
    const wrapped = g.op('Where', [g.op('Less', [v, zero]), g.add(v, dims), v]);
    return g.op('Min', [g.op('Max', [wrapped, zero]), dims]);
  };
  const s = norm(starts);
  const e = g.op('Max', [norm(ends), s]);
  const pads = g.concat([s, g.sub(dims, e)], 0);                                            // [2k]
  return [g.op('Pad', [c.dy0, pads, null, axes]), null, null, null, null].slice(0, c.x.length);
};

/** Indices with negative entries wrapped by `dim` (int64 scalar or broadcastable). */
function wrapIndices(c: VjpContext, idx: Value, dim: Value): Value {
  const g = c.g;
  const i64 = g.op('Cast', [idx], { to: 7 });
  return g.op('Where', [g.op('Less', [i64, g.constant('int64', [], [0])]), g.add(i64, dim), i64]);
}

// Gather(data, idx, axis): scatter-add dy into zeros shaped like data (embedding gradient).
const gather: Vjp = (c) => {
  if (!c.need[0]) return [null, null];
  const [data, idx] = [c.in(0), c.in(1)];
  const r = c.rank(data);
  const q = c.rank(idx);
  const axis = c.axis(c.int('axis', 0), data);
  const g = c.g;
  const dim = g.op('Reshape', [sizeAlong(c, data, axis), g.ints([])]);
  const ind = g.op('Unsqueeze', [wrapIndices(c, idx, dim), g.ints([-1])]);                   // [..idx, 1]
  if (axis === 0) return [g.op('ScatterND', [c.zerosLike(data), ind, c.dy0], { reduction: 'add' }), null];
  // dy is [pre(axis), idx(q), post]: bring the index dims to the front, scatter into [D_axis, pre, post], move D_axis back.
  const toFront = [...Array.from({ length: q }, (_, i) => axis + i), ...Array.from({ length: axis }, (_, i) => i),
    ...Array.from({ length: r - axis - 1 }, (_, i) => axis + q + i)];
  const dyT = g.op('Transpose', [c.dy0], { perm: toFront });
  const dataPerm = [axis, ...Array.from({ length: r }, (_, i) => i).filter((i) => i !== axis)];
  const zerosT = g.op('Transpose', [c.zerosLike(data)], { perm: dataPerm });
  const sc = g.op('ScatterND', [zerosT, ind, dyT], { reduction: 'add' });
  const inv = new Array<number>(r);
  dataPerm.forEach((p, i) => { inv[p] = i; });
  return [g.op('Transpose', [sc], { perm: inv }), null];
};

const gatherElements: Vjp = (c) => {
  if (!c.need[0]) return [null, null];
  const [data, idx] = [c.in(0), c.in(1)];
  const axis = c.axis(c.int('axis', 0), data);
  const dim = c.g.op('Reshape', [sizeAlong(c, data, axis), c.g.ints([])]);
  return [c.op1('ScatterElements', [c.zerosLike(data), wrapIndices(c, idx, dim), c.dy0], { axis, reduction: 'add' }), null];
};

export const SHAPE_VJPS: Record<string, Vjp> = {
  Reshape: reshapeBack, Flatten: reshapeBack, Squeeze: reshapeBack, Unsqueeze: reshapeBack,
  Transpose: transpose, Expand: expand, Concat: concat, Split: split, Slice: slice,
  Gather: gather, GatherElements: gatherElements,
};
