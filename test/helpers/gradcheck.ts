// Gradient checks of the autodiff against central finite differences, both run through ORT.
//
// A case builds a small graph y = f(inputs); the harness appends L = Σ_k Σ y_k ⊙ R_k with fixed random
// projections R_k (so every output element matters), differentiates L with appendBackward, and compares
// each requested gradient with (L(x + h·e_i) − L(x − h·e_i)) / 2h for every coordinate i (or a sample of
// them for large inputs, plus random directions). Error = ‖analytic − numeric‖₂ / ‖numeric‖₂.

import * as ort from 'onnxruntime-node';
import { GraphBuilder, Value } from '../../src/engine/onnx/builder';
import { appendBackward, exposeGradients } from '../../src/engine/onnx/autodiff';
import { GraphInfo } from '../../src/engine/onnx/infer';
import { ElemType } from '../../src/engine/onnx/proto';
import { prng } from './tiny-hf';
import { referenceForward, ReferenceOptions, RefWeights } from './reference-forward';

export type Elem = 'double' | 'float';

export interface CaseInput {
  name: string;
  shape: number[];
  elem: Elem | 'int64' | 'bool';
  /** Declared dims (defaults to `shape`); strings make them symbolic. */
  declared?: Array<number | string>;
  /** Values (default: random normal-ish in [−1, 1] for floats). */
  data?: number[];
  /** Differentiate with respect to this input (default: true for floats). */
  wrt?: boolean;
  /** Random values in [lo, hi] (default [−1, 1]). */
  range?: [number, number];
}

export interface GradCase {
  inputs: CaseInput[];
  build: (g: GraphBuilder, x: Record<string, Value>) => Value | Value[];
  /** Finite-difference step (default 1e-5 in double, 1e-2 in float). */
  h?: number;
  seed?: number;
  /** Coordinates checked per input before sampling (default 300). */
  maxCoords?: number;
}

export interface GradReport {
  errors: Record<string, number>;
  maxError: number;
  activeNodes: number;
  backwardNodes: number;
}

const TYPED = { double: 'float64', float: 'float32' } as const;

function tensor(inp: CaseInput, data: number[]): ort.Tensor {
  if (inp.elem === 'int64') return new ort.Tensor('int64', BigInt64Array.from(data, (v) => BigInt(v)), inp.shape);
  if (inp.elem === 'bool') return new ort.Tensor('bool', Uint8Array.from(data), inp.shape);
  return new ort.Tensor(TYPED[inp.elem], inp.elem === 'double' ? Float64Array.from(data) : Float32Array.from(data), inp.shape);
}

async function session(g: GraphBuilder): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(g.toModelProto(), { logSeverityLevel: 3, graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
}

/** Run the case's forward graph once to learn the outputs' shapes and element types. */
async function probe(c: GradCase, values: Record<string, number[]>): Promise<Array<{ dims: readonly number[]; elem: Elem }>> {
  const g = new GraphBuilder('/');
  const x = Object.fromEntries(c.inputs.map((i) => [i.name, g.input(i.name, i.elem, i.declared ?? i.shape)]));
  const ys = [c.build(g, x)].flat();
  const info = new GraphInfo(g);
  const elems = ys.map((y) => (info.elemOf(y.name) === ElemType.double ? 'double' : 'float') as Elem);
  ys.forEach((y, k) => g.output(y, `probe_${k}`, elems[k]));
  const s = await session(g);
  const out = await s.run(Object.fromEntries(c.inputs.map((i) => [i.name, tensor(i, values[i.name])])));
  return ys.map((_, k) => {
    const t = out[`probe_${k}`];
    return { dims: t.dims, elem: elems[k] };
  });
}

/** Check every requested gradient of the case; returns per-input relative errors. */
export async function gradCheck(c: GradCase): Promise<GradReport> {
  const rand = prng(c.seed ?? 7);
  const values: Record<string, number[]> = {};
  for (const i of c.inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const [lo, hi] = i.range ?? [-1, 1];
    values[i.name] = i.data ?? Array.from({ length: n }, () => lo + (hi - lo) * rand());
  }
  const outs = await probe(c, values);

  const g = new GraphBuilder('/');
  const x = Object.fromEntries(c.inputs.map((i) => [i.name, g.input(i.name, i.elem, i.declared ?? i.shape)]));
  const ys = [c.build(g, x)].flat();
  const proj: Record<string, number[]> = {};
  let loss: Value | undefined;
  ys.forEach((y, k) => {
    const { dims, elem } = outs[k];
    const name = `proj_${k}`;
    proj[name] = Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1);
    const r = g.input(name, elem, [...dims]);
    let term = g.op('ReduceSum', [g.mul(y, r)], { keepdims: 0 });
    if (elem === 'float') term = g.cast(term, 'double');
    loss = loss ? g.add(loss, term) : term;
  });
  g.output(loss!, 'loss', 'double', []);
  const wrt = c.inputs.filter((i) => (i.wrt ?? (i.elem === 'double' || i.elem === 'float'))).map((i) => i.name);
  const res = appendBackward(g, { loss: loss!, wrt });
  exposeGradients(g, res);
  const s = await session(g);

  const feeds = (over?: { name: string; data: number[] }): Record<string, ort.Tensor> => {
    const f: Record<string, ort.Tensor> = {};
    for (const i of c.inputs) f[i.name] = tensor(i, over && over.name === i.name ? over.data : values[i.name]);
    ys.forEach((_, k) => { f[`proj_${k}`] = tensor({ name: '', shape: [...outs[k].dims], elem: outs[k].elem }, proj[`proj_${k}`]); });
    return f;
  };
  const base = await s.run(feeds());
  const lossAt = async (name: string, data: number[]) => Number((await s.run(feeds({ name, data })))['loss'].data[0]);

  const errors: Record<string, number> = {};
  for (const name of wrt) {
    const inp = c.inputs.find((i) => i.name === name)!;
    const h = c.h ?? (inp.elem === 'double' ? 1e-5 : 1e-2);
    const analytic = Array.from(base[`grad.${name}`].data as Float64Array | Float32Array, Number);
    const v = values[name];
    const coords = v.length <= (c.maxCoords ?? 300) ? v.map((_, i) => i)
      : Array.from({ length: c.maxCoords ?? 300 }, () => Math.floor(rand() * v.length));
    let num2 = 0;
    let diff2 = 0;
    for (const i of coords) {
      const p = [...v]; p[i] += h;
      const m = [...v]; m[i] -= h;
      const fd = (await lossAt(name, p) - await lossAt(name, m)) / (2 * h);
      num2 += fd * fd;
      diff2 += (fd - analytic[i]) ** 2;
    }
    // a random direction over all coordinates checks the whole gradient at once
    const dir = v.map(() => rand() * 2 - 1);
    const fdDir = (await lossAt(name, v.map((a, i) => a + h * dir[i])) - await lossAt(name, v.map((a, i) => a - h * dir[i]))) / (2 * h);
    const anDir = analytic.reduce((a, gi, i) => a + gi * dir[i], 0);
    num2 += fdDir * fdDir;
    diff2 += (fdDir - anDir) ** 2;
    errors[name] = num2 === 0 ? Math.sqrt(diff2) : Math.sqrt(diff2 / num2);
  }
  return { errors, maxError: Math.max(0, ...Object.values(errors)), activeNodes: res.activeNodes, backwardNodes: res.backwardNodes };
}

/**
 * Σ over rows and positions t of −log softmax(logits_t)[row[t+1]] with the float64 reference forward,
 * for t ≥ `from` (earlier positions carry no label), normalizing over the first `vocab` logits only.
 */
export function referenceLoss(config: object, w: RefWeights, rows: number[][], vocab: number, from = 0, opts: ReferenceOptions = {}): number {
  let loss = 0;
  for (const r of rows) {
    const width = (config as { vocab_size?: number }).vocab_size ?? vocab;
    const lg = referenceForward(config, w, r, opts);
    for (let t = from; t + 1 < r.length; t++) {
      const row = lg.subarray(t * width, t * width + vocab);
      let mx = -Infinity;
      for (const v of row) mx = Math.max(mx, v);
      let se = 0;
      for (const v of row) se += Math.exp(v - mx);
      loss += Math.log(se) + mx - row[r[t + 1]];
    }
  }
  return loss;
}
