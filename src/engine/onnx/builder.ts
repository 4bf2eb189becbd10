// A small typed ONNX graph builder.
//
// Every node is named by the scope path it was created in, e.g. `/model/layers.3/attn/q_proj/Gemm`,
// and its first output is `<node name>_output_0`, so any intermediate (attention probabilities,
// hidden states) can later be made a graph output by name (docs/design.md, decision 1).
// Weights are external-data initializers pointing into safetensors files (decision 2); only small
// constants (shapes, scalars, rotary tables) are stored in the protobuf.

import * as path from 'path';
import { onnx, ElemType, ElemTypeName, AttrType, encodeModel, OPSET } from './proto';
import type { TensorRef } from '../formats/safetensors';
import type { DType } from '../formats/dtypes';

/** A value flowing in the graph: just its name, typed so ops cannot be handed plain strings. */
export interface Value { readonly name: string }

export type Dim = number | string;
export type AttrValue = number | string | number[] | { floats: number[] } | { float: number } | { graph: onnx.IGraphProto };

const DTYPE_TO_ELEM: Partial<Record<DType, ElemTypeName>> = {
  F32: 'float', F16: 'float16', BF16: 'bfloat16', F64: 'double', I64: 'int64', I32: 'int32', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

export function elemTypeOf(dtype: DType): ElemTypeName {
  const e = DTYPE_TO_ELEM[dtype];
  if (!e) throw new Error(`no ONNX element type for ${dtype}`);
  return e;
}

function attr(name: string, v: AttrValue): onnx.IAttributeProto {
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: AttrType.INT, i: v } : { name, type: AttrType.FLOAT, f: v };
  }
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  if ('floats' in v) return { name, type: AttrType.FLOATS, floats: v.floats };
  if ('graph' in v) return { name, type: AttrType.GRAPH, g: v.graph };
  return { name, type: AttrType.FLOAT, f: v.float };
}

function valueInfo(name: string, elem: ElemTypeName, shape?: Dim[]): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: ElemType[elem] };
  if (shape) tensorType.shape = { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

export class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  readonly inputs: onnx.IValueInfoProto[] = [];
  readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly scopes: string[] = [];
  private readonly used = new Set<string>();
  private readonly opsets: Record<string, number> = { '': OPSET };
  private readonly constCache = new Map<string, Value>();

  /** `weightsDir`: the folder ONNX external-data locations are relative to. */
  constructor(readonly weightsDir: string) {}

  // ---- scopes and names -------------------------------------------------------------------

  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  path(leaf: string): string {
    return `/${[...this.scopes, leaf].join('/')}`;
  }

  // ---- graph interface --------------------------------------------------------------------

  input(name: string, elem: ElemTypeName, shape: Dim[]): Value {
    this.used.add(name);
    this.inputs.push(valueInfo(name, elem, shape));
    return { name };
  }

  /** Expose `v` as a graph output called `name` (an Identity node renames it when needed). */
  output(v: Value, name: string, elem: ElemTypeName = 'float', shape?: Dim[]): void {
    if (v.name !== name) {
      this.used.add(name);
      this.nodes.push({ opType: 'Identity', input: [v.name], output: [name], name: this.unique(this.path(`${name}/Identity`)) });
    }
    this.outputs.push(valueInfo(name, elem, shape));
  }

  /**
   * The value `v` under the name `name`: its producing node's output is renamed (and every node that
   * reads it so far), so a graph output needs no Identity copy. Values no node produces (inputs,
   * initializers) or already graph outputs get an Identity instead.
   */
  rename(v: Value, name: string): Value {
    if (v.name === name) return v;
    const producer = this.nodes.find((n) => n.output?.includes(v.name));
    if (!producer || this.outputs.some((o) => o.name === v.name) || this.used.has(name)) {
      return this.node('Identity', [v], {}, { leaf: name, names: [name] })[0];
    }
    this.used.add(name);
    producer.output = producer.output!.map((o) => (o === v.name ? name : o));
    for (const n of this.nodes) if (n.input?.includes(v.name)) n.input = n.input.map((i) => (i === v.name ? name : i));
    return { name };
  }

  /** Declare an existing value (named by `names` in `node`) as a graph output. */
  declareOutput(name: string, elem: ElemTypeName, shape?: Dim[]): void {
    this.outputs.push(valueInfo(name, elem, shape));
  }

  /** Initializer whose bytes stay in the weight file (memory-mapped by ORT). */
  weight(ref: TensorRef): Value {
    const key = `w:${ref.name}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const location = path.relative(this.weightsDir, ref.file);
    if (location.startsWith('..') || path.isAbsolute(location)) {
      throw new Error(`weight file ${ref.file} is outside the weights folder ${this.weightsDir}`);
    }
    this.used.add(ref.name);
    this.initializers.push({
      name: ref.name,
      dims: ref.shape,
      dataType: ElemType[elemTypeOf(ref.dtype)],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.byteLength) },
      ],
    });
    const v = { name: ref.name };
    this.constCache.set(key, v);
    return v;
  }

  /** Small constant stored in the protobuf. Identical constants are shared. */
  constant(elem: 'float' | 'double' | 'int64' | 'bool', dims: number[], values: ArrayLike<number>, hint = 'const'): Value {
    const key = `c:${elem}:${dims.join('x')}:${Array.from(values).join(',')}`;
    const short = key.length < 512;
    const hit = short ? this.constCache.get(key) : undefined;
    if (hit) return hit;
    const name = this.unique(this.path(hint));
    let raw: Uint8Array;
    if (elem === 'int64') raw = new Uint8Array(BigInt64Array.from(Array.from(values), (x) => BigInt(x)).buffer);
    else if (elem === 'double') raw = new Uint8Array(Float64Array.from(values).buffer);
    else if (elem === 'bool') raw = Uint8Array.from(values, (x) => (x ? 1 : 0));
    else raw = new Uint8Array(Float32Array.from(values).buffer);
    this.initializers.push({ name, dims, dataType: ElemType[elem], rawData: raw });
    const v = { name };
    if (short) this.constCache.set(key, v);
    return v;
  }

  ints(values: number[]): Value {
    return this.constant('int64', [values.length], values, 'ints');
  }

  scalar(value: number, elem: 'float' | 'double' = 'float'): Value {
    return this.constant(elem, [], [value], 'scalar');
  }

  // ---- nodes ------------------------------------------------------------------------------

  /** Add a node; returns its outputs. `leaf` names it within the current scope (default: opType). */
  node(opType: string, inputs: Array<Value | null>, attrs: Record<string, AttrValue> = {},
    opts: { leaf?: string; outputs?: number; domain?: string; names?: string[] } = {}): Value[] {
    const name = this.unique(this.path(opts.leaf ?? opType));
    const n = opts.names?.length ?? opts.outputs ?? 1;
    // a name '' marks an optional output that is not produced
    const outputs = opts.names ? opts.names.map((o) => (o === '' ? '' : this.unique(o))) : Array.from({ length: n }, (_, i) => this.unique(`${name}_output_${i}`));
    if (opts.domain && !(opts.domain in this.opsets)) this.opsets[opts.domain] = 1;
    this.nodes.push({
      name, opType, domain: opts.domain ?? '',
      input: inputs.map((v) => (v ? v.name : '')),
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return outputs.map((o) => ({ name: o }));
  }

  op(opType: string, inputs: Array<Value | null>, attrs: Record<string, AttrValue> = {}, leaf?: string): Value {
    return this.node(opType, inputs, attrs, { leaf })[0];
  }

  // Typed helpers for the ops the model files use. Shapes in comments are the caller's business.
  add = (a: Value, b: Value, leaf?: string) => this.op('Add', [a, b], {}, leaf);
  sub = (a: Value, b: Value, leaf?: string) => this.op('Sub', [a, b], {}, leaf);
  mul = (a: Value, b: Value, leaf?: string) => this.op('Mul', [a, b], {}, leaf);
  div = (a: Value, b: Value, leaf?: string) => this.op('Div', [a, b], {}, leaf);
  matmul = (a: Value, b: Value, leaf?: string) => this.op('MatMul', [a, b], {}, leaf);
  sigmoid = (a: Value) => this.op('Sigmoid', [a]);
  tanh = (a: Value) => this.op('Tanh', [a]);
  relu = (a: Value) => this.op('Relu', [a]);
  softmax = (a: Value, axis = -1) => this.op('Softmax', [a], { axis });
  cast = (a: Value, to: ElemTypeName) => this.op('Cast', [a], { to: ElemType[to] });
  reshape = (a: Value, shape: number[], leaf?: string) => this.op('Reshape', [a, this.ints(shape)], {}, leaf);
  transpose = (a: Value, perm: number[], leaf?: string) => this.op('Transpose', [a], { perm }, leaf);
  concat = (xs: Value[], axis: number, leaf?: string) => this.op('Concat', xs, { axis }, leaf);
  gather = (data: Value, indices: Value, axis = 0, leaf?: string) => this.op('Gather', [data, indices], { axis }, leaf);
  unsqueeze = (a: Value, axes: number[]) => this.op('Unsqueeze', [a, this.ints(axes)]);
  slice = (a: Value, starts: number[], ends: number[], axes: number[], leaf?: string) =>
    this.op('Slice', [a, this.ints(starts), this.ints(ends), this.ints(axes)], {}, leaf);

  /** y = x · Wᵀ (+ b) for a 2-D x [N, in] and an HF-layout weight W [out, in]. */
  gemmT(x: Value, w: Value, b?: Value, leaf = 'Gemm'): Value {
    return this.op('Gemm', b ? [x, w, b] : [x, w], { transB: 1 }, leaf);
  }

  // ---- serialization ----------------------------------------------------------------------

  toGraphProto(name = 'idp-lab'): onnx.IGraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }

  /** Opset imports this graph needs (domain → version). */
  get opsetImports(): Readonly<Record<string, number>> {
    return this.opsets;
  }

  toModelProto(name = 'idp-lab', extraOpsets: Record<string, number> = {}): Uint8Array {
    return encodeModel(this.toGraphProto(name), { ...extraOpsets, ...this.opsets });
  }
}
