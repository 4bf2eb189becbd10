// Static element-type and (symbolic) shape inference over a GraphBuilder's nodes, for autodiff.
//
// Dims are numbers, symbolic monomials ("batch", "batch*seq", "4*batch") or null (unknown). Ranks are
// known for every op listed below; an op without a rule gets an unknown shape (autodiff then refuses
// VJPs that need a rank). Small int64 tensors that describe shapes (Shape(x), Concat of shape pieces,
// constants) are tracked by value, so `Reshape(x, Concat(Shape(ids), [H·D]))` infers [batch, seq, H·D].

import type { GraphBuilder } from './builder';
import { onnx, ElemType } from './proto';

export type Dim = number | string | null;
export type Shape = Dim[];

export const FLOAT_TYPES: ReadonlySet<number> = new Set([ElemType.float, ElemType.double, ElemType.float16, ElemType.bfloat16]);
const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const UNARY = new Set(['Identity', 'Cast', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Abs', 'Sigmoid', 'Tanh', 'Relu', 'Erf', 'Gelu',
  'Softmax', 'LogSoftmax', 'Not', 'RMSNormalization', 'RotaryEmbedding', 'Dropout', 'DequantizeLinear', 'Trilu', 'IsNaN', 'IsInf',
  'Floor', 'Ceil', 'Sin', 'Cos', 'SimplifiedLayerNormalization', 'CumSum']);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or',
  'Xor', 'Max', 'Min', 'Where', 'Mod']);

// ---- symbolic dims (monomials c·s1·s2…) ------------------------------------------------------

function parse(d: string): { c: number; s: string[] } {
  let c = 1;
  const s: string[] = [];
  for (const f of d.split('*')) {
    if (/^\d+$/.test(f)) c *= Number(f);
    else s.push(f);
  }
  return { c, s };
}

function fmt(c: number, s: string[]): Dim {
  if (s.length === 0) return c;
  const body = [...s].sort().join('*');
  return c === 1 ? body : `${c}*${body}`;
}

export function dimMul(a: Dim, b: Dim): Dim {
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  const pa = typeof a === 'number' ? { c: a, s: [] } : parse(a);
  const pb = typeof b === 'number' ? { c: b, s: [] } : parse(b);
  if (pa.c === 0 || pb.c === 0) return 0;
  return fmt(pa.c * pb.c, [...pa.s, ...pb.s]);
}

export function dimDiv(a: Dim, b: Dim): Dim {
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return b !== 0 && a % b === 0 ? a / b : null;
  const pa = typeof a === 'number' ? { c: a, s: [] } : parse(a);
  const pb = typeof b === 'number' ? { c: b, s: [] } : parse(b);
  if (pb.c === 0 || pa.c % pb.c !== 0) return null;
  const s = [...pa.s];
  for (const f of pb.s) {
    const i = s.indexOf(f);
    if (i < 0) return null;
    s.splice(i, 1);
  }
  return fmt(pa.c / pb.c, s);
}

export const dimEq = (a: Dim, b: Dim): boolean => a !== null && b !== null && a === b;

function prod(dims: Dim[]): Dim {
  return dims.reduce<Dim>((p, d) => dimMul(p, d), 1);
}

function mergeDim(d: Dim, x: Dim): Dim {
  if (d === 1) return x;
  if (x === 1) return d;
  if (d === null) return x;
  if (x === null) return d;
  if (typeof x === 'number') return x;   // a number other than 1 wins: the other side is 1 or equal
  if (typeof d === 'number') return d;
  return d === x ? d : null;             // two different symbols: either may be 1 at run time
}

function broadcast(shapes: Array<Shape | undefined>): Shape | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const ss = shapes as Shape[];
  const r = Math.max(...ss.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < r; i++) {
    let d: Dim = 1;
    for (const s of ss) {
      const x = s[i - (r - s.length)];
      if (x !== undefined) d = mergeDim(d, x);
    }
    out.push(d);
  }
  return out;
}

// ---- the inference ---------------------------------------------------------------------------

export interface Producer { node: onnx.INodeProto; index: number }

export class GraphInfo {
  readonly producer = new Map<string, Producer>();
  readonly elem = new Map<string, number>();
  readonly shape = new Map<string, Shape | undefined>();
  /** Symbolic values of small 1-D/0-D int64 tensors (shape arithmetic). */
  readonly values = new Map<string, Dim[]>();
  readonly initializers = new Map<string, onnx.ITensorProto>();

  constructor(readonly g: GraphBuilder) {
    for (const vi of g.inputs) {
      const t = vi.type?.tensorType;
      this.elem.set(vi.name!, t?.elemType ?? ElemType.float);
      this.shape.set(vi.name!, t?.shape ? (t.shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : null)) : undefined);
    }
    for (const t of g.initializers) {
      this.initializers.set(t.name!, t);
      this.elem.set(t.name!, t.dataType ?? ElemType.float);
      this.shape.set(t.name!, (t.dims ?? []).map(Number));
      const v = this.readInts(t);
      if (v) this.values.set(t.name!, v);
    }
    for (const n of g.nodes) this.infer(n);
  }

  /** Element type code of a value (ElemType), or undefined when unknown. */
  elemOf(name: string): number | undefined {
    return this.elem.get(name);
  }

  shapeOf(name: string): Shape | undefined {
    return this.shape.get(name);
  }

  isFloat(name: string): boolean {
    const e = this.elem.get(name);
    return e !== undefined && FLOAT_TYPES.has(e);
  }

  /** Integer values of a constant tensor (initializer or tracked shape arithmetic) if all are known numbers. */
  constInts(name: string): number[] | undefined {
    const v = this.values.get(name);
    if (!v || v.some((d) => typeof d !== 'number')) return undefined;
    return v as number[];
  }

  /** Float values of a constant initializer (float/double raw data). */
  constFloats(name: string): number[] | undefined {
    const t = this.initializers.get(name);
    if (!t) return undefined;
    if (t.rawData && t.rawData.length) {
      const raw = t.rawData;
      const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      if (t.dataType === ElemType.float) return Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(4 * i));
      if (t.dataType === ElemType.double) return Array.from({ length: buf.length / 8 }, (_, i) => buf.readDoubleLE(8 * i));
    }
    if (t.floatData?.length) return Array.from(t.floatData);
    if (t.doubleData?.length) return Array.from(t.doubleData);
    return undefined;
  }

  private readInts(t: onnx.ITensorProto): Dim[] | undefined {
    if (t.dataType !== ElemType.int64 || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) return undefined;
    const n = (t.dims ?? []).reduce((a: number, b) => a * Number(b), 1);
    if (n > 64) return undefined;
    if (t.rawData && t.rawData.length === 8 * n) {
      const buf = Buffer.from(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      return Array.from({ length: n }, (_, i) => Number(buf.readBigInt64LE(8 * i)));
    }
    if (t.int64Data?.length === n) return Array.from(t.int64Data, (x) => Number(x));
    return undefined;
  }

  private attrI(n: onnx.INodeProto, name: string, def: number): number {
    const a = n.attribute?.find((x) => x.name === name);
    return a?.i !== undefined && a.i !== null ? Number(a.i) : def;
  }

  private attrInts(n: onnx.INodeProto, name: string): number[] | undefined {
    const a = n.attribute?.find((x) => x.name === name);
    return a?.ints ? a.ints.map(Number) : undefined;
  }

  private set(name: string, elem: number | undefined, shape: Shape | undefined): void {
    if (!name) return;
    if (elem !== undefined) this.elem.set(name, elem);
    this.shape.set(name, shape);
  }

  private infer(n: onnx.INodeProto): void {
    const ins = n.input ?? [];
    const outs = n.output ?? [];
    outs.forEach((o, i) => this.producer.set(o, { node: n, index: i }));
    const S = (i: number): Shape | undefined => (ins[i] ? this.shape.get(ins[i]) : undefined);
    const E = (i: number): number | undefined => (ins[i] ? this.elem.get(ins[i]) : undefined);
    const op = n.opType!;
    const e0 = op === 'Where' ? E(1) : E(0);
    let elem: number | undefined = BOOL_OPS.has(op) ? ElemType.bool : e0;
    let shape: Shape | undefined;
    const axisOf = (ax: number, r: number) => (ax < 0 ? ax + r : ax);

    if (op === 'Cast') elem = this.attrI(n, 'to', ElemType.float);
    if (op === 'Shape' || op === 'Size' || op === 'NonZero' || op === 'ArgMax' || op === 'ArgMin') elem = ElemType.int64;

    if (UNARY.has(op)) shape = S(0);
    else if (BROADCAST.has(op)) shape = broadcast(ins.filter((x) => x).map((x) => this.shape.get(x)));
    else switch (op) {
      case 'LayerNormalization': {
        const s = S(0);
        this.set(outs[0], e0, s);
        if (s) {
          const ax = axisOf(this.attrI(n, 'axis', -1), s.length);
          const red = s.map((d, i) => (i < ax ? d : 1));
          for (let k = 1; k < outs.length; k++) this.set(outs[k], ElemType.float, red);
        }
        return;
      }
      case 'MatMul': {
        const a = S(0);
        const b = S(1);
        if (a && b) {
          if (a.length === 1 && b.length === 1) shape = [];
          else if (a.length === 1) shape = [...b.slice(0, -2), b[b.length - 1]];
          else if (b.length === 1) shape = a.slice(0, -1);
          else shape = [...(broadcast([a.slice(0, -2), b.slice(0, -2)]) ?? []), a[a.length - 2], b[b.length - 1]];
        }
        break;
      }
      case 'MatMulNBits': {
        const a = S(0);
        if (a) shape = [...a.slice(0, -1), this.attrI(n, 'N', -1)];
        break;
      }
      case 'Gemm': {
        const a = S(0);
        const b = S(1);
        if (a && b) shape = [this.attrI(n, 'transA', 0) ? a[1] : a[0], this.attrI(n, 'transB', 0) ? b[0] : b[1]];
        break;
      }
      case 'Gather': {
        const d = S(0);
        const idx = S(1);
        if (d && idx) {
          const ax = axisOf(this.attrI(n, 'axis', 0), d.length);
          shape = [...d.slice(0, ax), ...idx, ...d.slice(ax + 1)];
        }
        const vals = this.values.get(ins[0]);
        const iv = this.constInts(ins[1]);
        if (vals && iv && idx && idx.length <= 1) {
          const picked = iv.map((i) => vals[i < 0 ? i + vals.length : i]);
          if (picked.every((x) => x !== undefined)) this.values.set(outs[0], picked);
        }
        break;
      }
      case 'GatherElements': shape = S(1); break;
      case 'ScatterND': case 'ScatterElements': shape = S(0); break;
      case 'Reshape': {
        const x = S(0);
        const target = this.values.get(ins[1]);
        if (target) {
          const out: Shape = target.map((d, i) => (d === 0 && x ? x[i] ?? null : d));
          const neg = out.findIndex((d) => d === -1);
          if (neg >= 0) out[neg] = x ? dimDiv(prod(x), prod(out.filter((_, i) => i !== neg))) : null;
          shape = out;
        } else {
          const ts = S(1);
          if (ts && typeof ts[0] === 'number') shape = new Array(ts[0]).fill(null);
        }
        break;
      }
      case 'Transpose': {
        const x = S(0);
        if (x) {
          const perm = this.attrInts(n, 'perm') ?? x.map((_, i) => x.length - 1 - i);
          shape = perm.map((p) => x[p]);
        }
        break;
      }
      case 'Unsqueeze': {
        const x = S(0);
        const axes = this.constInts(ins[1]);
        if (x && axes) {
          const r = x.length + axes.length;
          const ax = new Set(axes.map((a) => axisOf(a, r)));
          const out: Shape = [];
          let k = 0;
          for (let i = 0; i < r; i++) out.push(ax.has(i) ? 1 : x[k++]);
          shape = out;
        }
        const v = this.values.get(ins[0]);
        if (v && x && x.length === 0) this.values.set(outs[0], v);
        break;
      }
      case 'Squeeze': {
        const x = S(0);
        const axes = ins[1] ? this.constInts(ins[1]) : undefined;
        if (x && (axes || !ins[1])) {
          const ax = new Set((axes ?? x.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => axisOf(a, x.length)));
          shape = x.filter((_, i) => !ax.has(i));
        }
        break;
      }
      case 'Flatten': {
        const x = S(0);
        if (x) {
          const ax = axisOf(this.attrI(n, 'axis', 1), x.length);
          shape = [prod(x.slice(0, ax)), prod(x.slice(ax))];
        }
        break;
      }
      case 'Concat': {
        const ss = ins.map((x) => this.shape.get(x));
        if (ss.every((s) => s)) {
          const r = ss[0]!.length;
          const ax = axisOf(this.attrI(n, 'axis', 0), r);
          shape = ss[0]!.map((d, i) => {
            if (i !== ax) return ss.map((s) => s![i]).find((x) => x !== null) ?? null;
            const ds = ss.map((s) => s![i]);
            const nonzero = ds.filter((x) => x !== 0);
            if (nonzero.length === 1) return nonzero[0];
            return ds.every((x) => typeof x === 'number') ? (ds as number[]).reduce((a, b) => a + b, 0) : null;
          });
        }
        const vs = ins.map((x) => this.values.get(x));
        if (vs.every((v) => v) && shape?.length === 1) this.values.set(outs[0], vs.flatMap((v) => v!));
        break;
      }
      case 'Split': {
        const x = S(0);
        if (x) {
          const ax = axisOf(this.attrI(n, 'axis', 0), x.length);
          const sizes = ins[1] ? this.constInts(ins[1]) : undefined;
          outs.forEach((o, i) => {
            const s = [...x];
            s[ax] = sizes ? sizes[i] : typeof x[ax] === 'number' && (x[ax] as number) % outs.length === 0 ? (x[ax] as number) / outs.length : null;
            this.set(o, e0, s);
          });
        }
        return;
      }
      case 'Slice': {
        const x = S(0);
        if (x) {
          const starts = this.constInts(ins[1]);
          const ends = this.constInts(ins[2]);
          const axes = ins[3] ? this.constInts(ins[3]) : starts?.map((_, i) => i);
          const steps = ins[4] ? this.constInts(ins[4]) : undefined;
          shape = [...x];
          if (starts && ends && axes && (!steps || steps.every((s) => s === 1))) {
            axes.forEach((a, k) => {
              const ax = axisOf(a, x.length);
              const d = x[ax];
              if (typeof d === 'number') {
                const cl = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
                shape![ax] = Math.max(0, cl(ends[k]) - cl(starts[k]));
              } else if (!(starts[k] === 0 && ends[k] >= 2 ** 31)) shape![ax] = null;
            });
          } else shape = x.map(() => null);
        }
        break;
      }
      case 'Shape': {
        const x = S(0);
        if (x) {
          const r = x.length;
          const st = this.attrI(n, 'start', 0);
          const en = n.attribute?.some((a) => a.name === 'end') ? this.attrI(n, 'end', r) : r;
          const v = x.slice(axisOf(st, r), axisOf(en, r));
          shape = [v.length];
          this.values.set(outs[0], v);
        }
        break;
      }
      case 'Size': shape = []; break;
      case 'ConstantOfShape': {
        const v = this.values.get(ins[0]);
        const s = S(0);
        if (v) shape = v;
        else if (s && typeof s[0] === 'number') shape = new Array(s[0]).fill(null);
        const a = n.attribute?.find((x) => x.name === 'value');
        elem = a?.t?.dataType ?? ElemType.float;
        break;
      }
      case 'Expand': {
        const v = this.values.get(ins[1]);
        const s = S(1);
        const target = v ?? (s && typeof s[0] === 'number' ? new Array(s[0]).fill(null) : undefined);
        if (target) shape = broadcast([S(0), target]);
        break;
      }
      case 'Range': shape = [null]; break;
      case 'NonZero': { const x = S(0); if (x) shape = [x.length, null]; break; }
      case 'Pad': { const x = S(0); if (x) shape = x.map(() => null); break; }
      case 'ReduceSum': case 'ReduceMean': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd': case 'ReduceSumSquare': {
        const x = S(0);
        const keep = this.attrI(n, 'keepdims', 1);
        const axesAttr = this.attrInts(n, 'axes');
        const axes = axesAttr ?? (ins[1] ? this.constInts(ins[1]) : []);
        if (x && axes) {
          const all = axes.length === 0 && !this.attrI(n, 'noop_with_empty_axes', 0);
          const ax = new Set(all ? x.map((_, i) => i) : axes.map((a) => axisOf(a, x.length)));
          shape = keep ? x.map((d, i) => (ax.has(i) ? 1 : d)) : x.filter((_, i) => !ax.has(i));
        }
        break;
      }
      case 'SoftmaxCrossEntropyLoss': shape = this.attrS(n, 'reduction', 'mean') === 'none' ? S(1) : []; break;
      default: shape = undefined;
    }
    this.set(outs[0], elem, shape);
    if (op === 'Dropout' && outs[1]) this.set(outs[1], ElemType.bool, shape);
  }

  private attrS(n: onnx.INodeProto, name: string, def: string): string {
    const a = n.attribute?.find((x) => x.name === name);
    return a?.s ? Buffer.from(a.s).toString('utf8') : def;
  }
}
