// What a vector-Jacobian product sees: the forward node, its inputs/outputs, the gradients of its
// outputs, which input gradients are wanted, and helpers that emit typed backward nodes.
//
// A VJP returns one entry per node input: the gradient Value, or null/undefined (not wanted, or
// not differentiable). It must only emit nodes; it never changes the forward graph.

import type { GraphBuilder, Value } from '../builder';
import { onnx, ElemType, ElemTypeName } from '../proto';
import { Dim, dimEq, GraphInfo, Shape } from '../infer';
import { unsupported } from '../../errors';

export type Grad = Value | null | undefined;
export type Vjp = (c: VjpContext) => Grad[];

const ELEM_NAME = new Map<number, ElemTypeName>(Object.entries(ElemType).map(([k, v]) => [v, k as ElemTypeName]));

export class VjpContext {
  /** Forward inputs (null where the slot is empty). */
  readonly x: Array<Value | null>;
  /** Forward outputs. */
  readonly y: Value[];

  constructor(readonly g: GraphBuilder, readonly node: onnx.INodeProto, readonly info: GraphInfo,
    /** Gradient of each output (null when nothing downstream needs it). */
    readonly dy: Array<Value | null>,
    /** need[i]: the gradient of input i is wanted. */
    readonly need: boolean[]) {
    this.x = (node.input ?? []).map((n) => (n ? { name: n } : null));
    this.y = (node.output ?? []).map((n) => ({ name: n }));
  }

  get op(): string {
    return this.node.opType!;
  }

  /** Input i, which must be present. */
  in(i: number): Value {
    const v = this.x[i];
    if (!v) this.fail(`input ${i} is missing`);
    return v;
  }

  /** Gradient of output i, which must be present (VJPs of single-output ops). */
  get dy0(): Value {
    const d = this.dy[0];
    if (!d) this.fail('no output gradient');
    return d;
  }

  fail(problem: string): never {
    throw unsupported(`autodiff: ${this.op} node '${this.node.name}': ${problem}`);
  }

  // ---- attributes ----

  private attr(name: string): onnx.IAttributeProto | undefined {
    return this.node.attribute?.find((a) => a.name === name);
  }
  int(name: string, def: number): number {
    const a = this.attr(name);
    return a?.i !== undefined && a.i !== null ? Number(a.i) : def;
  }
  ints(name: string): number[] | undefined {
    const a = this.attr(name);
    return a?.ints ? a.ints.map(Number) : undefined;
  }
  float(name: string, def: number): number {
    const a = this.attr(name);
    return a?.f !== undefined && a.f !== null ? a.f : def;
  }
  str(name: string, def: string): string {
    const a = this.attr(name);
    return a?.s ? Buffer.from(a.s).toString('utf8') : def;
  }
  /** Forward attributes to copy onto a backward node of the same op. */
  attrs(): Record<string, number | string | number[] | { float: number }> {
    const out: Record<string, number | string | number[] | { float: number }> = {};
    for (const a of this.node.attribute ?? []) {
      if (a.type === 2) out[a.name!] = Number(a.i);
      else if (a.type === 1) out[a.name!] = { float: a.f! };
      else if (a.type === 3) out[a.name!] = Buffer.from(a.s!).toString('utf8');
      else if (a.type === 7) out[a.name!] = a.ints!.map(Number);
      else this.fail(`cannot copy attribute ${a.name}`);
    }
    return out;
  }

  // ---- types and shapes ----

  elemName(v: Value): ElemTypeName {
    const e = this.info.elemOf(v.name);
    const n = e === undefined ? undefined : ELEM_NAME.get(e);
    if (!n) this.fail(`unknown element type of '${v.name}'`);
    return n;
  }
  shape(v: Value): Shape | undefined {
    return this.info.shapeOf(v.name);
  }
  rank(v: Value): number {
    const s = this.shape(v);
    if (!s) this.fail(`rank of '${v.name}' is unknown (no shape rule for its producer)`);
    return s.length;
  }
  /** Normalized axis for a value of known rank. */
  axis(a: number, v: Value): number {
    return a < 0 ? a + this.rank(v) : a;
  }
  constInts(v: Value | null): number[] | undefined {
    return v ? this.info.constInts(v.name) : undefined;
  }

  // ---- emitting nodes ----

  op1(opType: string, inputs: Array<Value | null>, attrs: Record<string, number | string | number[] | { float: number }> = {}, leaf?: string): Value {
    return this.g.op(opType, inputs, attrs, leaf);
  }
  /** A scalar constant with the element type of `like`. */
  scalar(value: number, like: Value): Value {
    const e = this.elemName(like);
    if (e !== 'float' && e !== 'double') {
      return this.g.op('Cast', [this.g.scalar(value, 'double')], { to: ElemType[e] }, 'scalar');
    }
    return this.g.scalar(value, e);
  }
  /** int64 1-D constant. */
  i64(values: number[]): Value {
    return this.g.ints(values);
  }
  add = (a: Value, b: Value) => this.g.add(a, b);
  sub = (a: Value, b: Value) => this.g.sub(a, b);
  mul = (a: Value, b: Value) => this.g.mul(a, b);
  div = (a: Value, b: Value) => this.g.div(a, b);
  neg = (a: Value) => this.g.op('Neg', [a]);
  shapeOf = (v: Value) => this.g.op('Shape', [v]);

  /** Zeros with the shape and type of `like`. */
  zerosLike(like: Value): Value {
    return this.g.op('Expand', [this.scalar(0, like), this.shapeOf(like)], {}, 'zeros');
  }

  reduceSum(v: Value, axes: number[], keepdims: boolean): Value {
    return this.g.op('ReduceSum', [v, this.i64(axes)], { keepdims: keepdims ? 1 : 0 });
  }
  reduceMean(v: Value, axes: number[], keepdims: boolean): Value {
    return this.g.op('ReduceMean', [v, this.i64(axes)], { keepdims: keepdims ? 1 : 0 });
  }

  /**
   * Undo broadcasting: sum `grad` (whose shape is `gradShape`, the broadcast result) down to the
   * shape of `target`. Axes are decided statically where shapes allow; otherwise from Shape(target)
   * at run time (every axis where target has size 1 is summed, which is exact).
   */
  reduceTo(grad: Value, gradShape: Shape | undefined, target: Value): Value {
    const ts = this.shape(target);
    if (!gradShape || !ts) this.fail(`cannot undo broadcasting onto '${target.name}' without ranks`);
    const lead = gradShape.length - ts.length;
    if (lead < 0) this.fail(`'${target.name}' has a higher rank than the broadcast result`);
    let r = grad;
    if (lead > 0) r = this.reduceSum(r, Array.from({ length: lead }, (_, i) => i), false);
    const axes: number[] = [];
    let dynamic = false;
    ts.forEach((a: Dim, i) => {
      const b = gradShape[lead + i];
      if (dimEq(a, b)) return;
      if (a === 1) axes.push(i);
      else if (typeof a === 'number' && typeof b === 'number') this.fail(`'${target.name}' dim ${i} is ${a}, the result's is ${b}`);
      else dynamic = true;
    });
    if (dynamic) {
      const ones = this.g.op('NonZero', [this.g.op('Equal', [this.shapeOf(target), this.i64([1])])]);
      const ax = this.g.reshape(ones, [-1]);
      return this.g.op('ReduceSum', [r, ax], { keepdims: 1, noop_with_empty_axes: 1 });
    }
    return axes.length ? this.reduceSum(r, axes, true) : r;
  }
}
