// Layer-by-layer calibration graphs, cut out of the model's own ONNX graph (so every architecture the
// engine builds is calibrated by the same code, with the same numerics as inference):
//
//   embed     input_ids (+ positions) → hidden [B, T, d]  (what enters layer 0)
//   stage s   hidden_in + layer parameters → hess = Xₛᵀ Xₛ [in, in]  (Xₛ: the input of the s-th
//             group of linear layers sharing an input: q/k/v, o, gate/up, down …), only the part of
//             the layer needed up to Xₛ
//   layer     hidden_in + layer parameters → hidden_out
//
// How: build the full graph with per-module Gemm kernels (linear: 'gemm', so each projection's input
// is a named 2-D value [N, in]); find layer 0's input (the first operand of its `residual_attn` Add)
// and output (its last node); make every initializer of layer 0 (HF names `<prefix>0.…`) a graph input
// named by its suffix, so one set of sessions serves every layer (their parameters are fed per run,
// compressed ones included); keep the nodes the requested outputs depend on. Layers are structurally
// identical; layer 0's past K/V inputs are fed empty.

import * as ort from 'onnxruntime-node';
import { encodeModel, onnx } from '../onnx/proto';
import type { GraphBuilder } from '../onnx/builder';
import { buildGraph } from '../models/graph';
import { io, MASK_MIN } from '../models/blocks';
import type { LoadedModel } from '../models/config';
import { readTensorF32 } from '../formats/safetensors';
import { unsupported } from '../errors';
import { createSession } from '../runtime/session';
import { LinearModule, linearModules } from '../models/quant/modules';
import { family, layerPrefixOf } from '../models/arch/registry';

export interface ModuleGroup {
  /** Modules (of layer 0; other layers by the same suffixes) reading the same input. */
  suffixes: string[];
  inFeatures: number;
}

export const layerPrefix = (m: LoadedModel, layer: number) => layerPrefixOf(m.config, layer);

interface Cut {
  nodes: onnx.INodeProto[];
  inits: onnx.ITensorProto[];
  inputs: onnx.IValueInfoProto[];
  opsets: Record<string, number>;
  producer: Map<string, number>;
  prefix: string;           // HF name prefix of layer 0's tensors
  x0: string;               // value entering layer 0
  y0: string;               // value leaving layer 0
  params: Map<string, onnx.ITensorProto>;   // layer-0 initializer name → tensor
  xOf: Map<string, string>; // module suffix → its 2-D Gemm input value
}

function analyse(m: LoadedModel, g: GraphBuilder): Cut {
  const nodes = g.nodes;
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producer.set(o, i)));
  const scope = `/${family(m.config).graphLayer}.0/`;
  const resid = nodes.find((n) => n.name!.includes(scope) && n.name!.endsWith('/residual_attn'));
  if (!resid) throw new Error(`layer-graph: no ${scope}residual_attn node in the ${m.config.arch} graph`);
  const x0 = resid.input![0];
  let last = -1;
  nodes.forEach((n, i) => { if (n.name!.includes(scope)) last = i; });
  const y0 = nodes[last].output![0];
  const prefix = layerPrefix(m, 0);
  const params = new Map<string, onnx.ITensorProto>();
  for (const t of g.initializers) if (t.name!.startsWith(prefix)) params.set(t.name!, t);
  const xOf = new Map<string, string>();
  for (const mod of linearModules(m.config).filter((x) => x.layer === 0)) {
    const wName = `${mod.name}.weight`;
    const gemm = nodes.find((n) => n.opType === 'Gemm' && (n.input![1] === wName ||
      (producer.has(n.input![1]) && nodes[producer.get(n.input![1])!].opType === 'Cast' && nodes[producer.get(n.input![1])!].input![0] === wName)));
    if (!gemm) throw new Error(`layer-graph: no Gemm reads ${wName}`);
    xOf.set(mod.name.slice(prefix.length), gemm.input![0]);
  }
  return { nodes, inits: g.initializers, inputs: g.inputs, opsets: { ...g.opsetImports }, producer, prefix, x0, y0, params, xOf };
}

/** Encode the sub-model computing `outs` from the graph inputs, with x0 as `hidden_in` (unless `fromIds`) and layer-0 parameters as inputs. */
function subModel(c: Cut, outs: Array<{ value: string; name: string; extra?: onnx.INodeProto[] }>, fromIds: boolean): Uint8Array {
  const extra = outs.flatMap((o) => o.extra ?? []);
  const all = [...c.nodes, ...extra];
  const prod = new Map(c.producer);
  extra.forEach((n, i) => (n.output ?? []).forEach((o) => prod.set(o, c.nodes.length + i)));
  const keep = new Set<number>();
  const needed = outs.map((o) => o.value);
  const seen = new Set<string>();
  while (needed.length) {
    const v = needed.pop()!;
    if (seen.has(v) || (!fromIds && v === c.x0)) continue;
    seen.add(v);
    const p = prod.get(v);
    if (p === undefined || keep.has(p)) continue;
    keep.add(p);
    for (const i of all[p].input ?? []) if (i) needed.push(i);
  }
  const rename = (v: string) => (!fromIds && v === c.x0 ? 'hidden_in' : c.params.has(v) ? `p:${v.slice(c.prefix.length)}` : v);
  const kept = [...keep].sort((a, b) => a - b).map((i) => ({ ...all[i], input: (all[i].input ?? []).map((v) => (v ? rename(v) : v)) }));
  const used = new Set(kept.flatMap((n) => n.input ?? []));
  const inputs: onnx.IValueInfoProto[] = c.inputs.filter((v) => used.has(v.name!));
  if (!fromIds) inputs.push({ name: 'hidden_in', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }, { dimParam: 'd' }] } } } });
  for (const [name, t] of c.params) {
    const r = rename(name);
    if (used.has(r)) inputs.push({ name: r, type: { tensorType: { elemType: 1, shape: { dim: (t.dims ?? []).map((d) => ({ dimValue: d })) } } } });
  }
  const inits = c.inits.filter((t) => used.has(t.name!) && !c.params.has(t.name!));
  const outputs: onnx.IValueInfoProto[] = [];
  for (const o of outs) {
    kept.push({ name: `/out/${o.name}`, opType: 'Identity', domain: '', input: [rename(o.value)], output: [o.name] });
    outputs.push({ name: o.name, type: { tensorType: { elemType: 1 } } });
  }
  return encodeModel({ name: 'idp-calibration', node: kept, initializer: inits, input: inputs, output: outputs }, c.opsets);
}

export interface CalibChunk { ids: number[][]; hidden?: Float32Array }

/** Sessions and feeds for layer-by-layer calibration of one model. */
export class LayerRunner {
  private constructor(
    readonly m: LoadedModel,
    readonly groups: ModuleGroup[],
    private readonly embedS: ort.InferenceSession,
    private readonly stageS: ort.InferenceSession[],
    private readonly layerS: ort.InferenceSession,
    private readonly paramNames: string[],   // suffixes of layer parameters (inputs p:<suffix>)
  ) {}

  static async create(m: LoadedModel, threads?: number): Promise<LayerRunner> {
    const g = buildGraph(m, { logits: 'all', linear: 'gemm', attention: 'fused', fuseNorms: false });
    const c = analyse(m, g);
    const prefix = layerPrefix(m, 0);
    // groups of modules sharing an input value, in graph order
    const mods = linearModules(m.config).filter((x) => x.layer === 0);
    const byX = new Map<string, LinearModule[]>();
    for (const mod of mods) {
      const x = c.xOf.get(mod.name.slice(prefix.length))!;
      const p = c.producer.get(x);
      const key = p !== undefined && c.nodes[p].opType === 'Reshape' ? c.nodes[p].input![0] : x;   // the 'flat' reshape of one value
      if (!byX.has(key)) byX.set(key, []);
      byX.get(key)!.push(mod);
    }
    const order = (mod: LinearModule) => c.producer.get(c.xOf.get(mod.name.slice(prefix.length))!) ?? -1;
    const groups = [...byX.values()].sort((a, b) => order(a[0]) - order(b[0]))
      .map((ms) => ({ suffixes: ms.map((x) => x.name.slice(prefix.length)), inFeatures: ms[0].inFeatures }));
    const opts = { threads };
    const mk = (bytes: Uint8Array) => createSession(bytes, m.weightsDir, opts);
    const embedS = await mk(subModel(c, [{ value: c.x0, name: 'hidden' }], true));
    const stageS: ort.InferenceSession[] = [];
    for (const grp of groups) {
      const x = c.xOf.get(grp.suffixes[0])!;
      const hess: onnx.INodeProto = { name: '/hess/Gemm', opType: 'Gemm', domain: '', input: [x, x], output: ['/hess/Gemm_output_0'], attribute: [{ name: 'transA', type: 2, i: 1 }] };
      stageS.push(await mk(subModel(c, [{ value: '/hess/Gemm_output_0', name: 'hess', extra: [hess] }], false)));
    }
    const layerS = await mk(subModel(c, [{ value: c.y0, name: 'hidden_out' }], false));
    const paramNames = [...c.params.keys()].map((n) => n.slice(prefix.length));
    return new LayerRunner(m, groups, embedS, stageS, layerS, paramNames);
  }

  /** Float32 parameters of one layer (stored layouts), by suffix. */
  readParams(layer: number): Map<string, Float32Array> {
    const p = new Map<string, Float32Array>();
    const prefix = layerPrefix(this.m, layer);
    for (const s of this.paramNames) p.set(s, readTensorF32(this.m.weights.get(prefix + s)!));
    return p;
  }

  private readonly shapeFeeds = new Map<string, { positions: ort.Tensor; bias: ort.Tensor }>();

  private feeds(ids: number[][], layer0: boolean): Record<string, ort.Tensor> {
    const c = this.m.config;
    const B = ids.length;
    const T = ids[0].length;
    let sf = this.shapeFeeds.get(`${B}x${T}`);
    if (!sf) {
      // every layer runs layer 0's graph: exact only while per-layer windows (Gemma 2) do not bind
      const windows = (c.layerWindows ?? []).filter((x): x is number => x !== null);
      if (windows.length && new Set(c.layerWindows).size > 1 && T > Math.min(...windows)) {
        throw unsupported(`calibrating layers whose attention windows differ (${Math.min(...windows)} tokens on some) needs calibration sequences of at most that many tokens, not ${T}`, this.m.source);
      }
      // causal bias [B, 1, T, T] and positions [B, T], the same for every chunk of this shape
      const row = new Float32Array(T * T).fill(MASK_MIN);
      for (let t = 0; t < T; t++) for (let j = 0; j <= t; j++) if (c.slidingWindow === undefined || t - j < c.slidingWindow) row[t * T + j] = 0;
      const bias = new Float32Array(B * T * T);
      for (let b = 0; b < B; b++) bias.set(row, b * T * T);
      sf = {
        positions: new ort.Tensor('int64', BigInt64Array.from({ length: B * T }, (_, i) => BigInt(i % T)), [B, T]),
        bias: new ort.Tensor('float32', bias, [B, 1, T, T]),
      };
      this.shapeFeeds.set(`${B}x${T}`, sf);
    }
    const f: Record<string, ort.Tensor> = {
      [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids.flat(), (x) => BigInt(x)), [B, T]),
      [io.positionIds]: sf.positions,
      [io.attnBias]: sf.bias,
    };
    if (layer0) {
      const empty = new ort.Tensor('float32', new Float32Array(0), [B, c.numKvHeads, 0, c.headDim]);
      f[io.pastKey(0)] = empty;
      f[io.pastValue(0)] = empty;
    }
    return f;
  }

  private layerFeeds(chunk: CalibChunk, params: Map<string, Float32Array>, s: ort.InferenceSession): Record<string, ort.Tensor> {
    const f = this.feeds(chunk.ids, true);
    const c = this.m.config;
    f.hidden_in = new ort.Tensor('float32', chunk.hidden!, [chunk.ids.length, chunk.ids[0].length, c.hiddenSize]);
    const prefix = layerPrefix(this.m, 0);
    for (const [s2, v] of params) {
      const ref = this.m.weights.get(prefix + s2)!;
      f[`p:${s2}`] = new ort.Tensor('float32', v, ref.shape);
    }
    const names = new Set(s.inputNames);
    for (const k of Object.keys(f)) if (!names.has(k)) delete f[k];
    return f;
  }

  /** hidden [B, T, d] entering layer 0. */
  async embed(chunk: CalibChunk): Promise<void> {
    const f = this.feeds(chunk.ids, false);
    const names = new Set(this.embedS.inputNames);
    for (const k of Object.keys(f)) if (!names.has(k)) delete f[k];
    chunk.hidden = (await this.embedS.run(f)).hidden.data as Float32Array;
  }

  /** Add Xᵀ X of group `g`'s input over one chunk into H (float64 [in, in]). */
  async accumulateHessian(g: number, chunk: CalibChunk, params: Map<string, Float32Array>, H: Float64Array): Promise<void> {
    const s = this.stageS[g];
    const h = (await s.run(this.layerFeeds(chunk, params, s))).hess.data as Float32Array;
    for (let i = 0; i < h.length; i++) H[i] += h[i];
  }

  /** Run the layer on a chunk: its hidden state becomes the layer's output. */
  async forward(chunk: CalibChunk, params: Map<string, Float32Array>): Promise<void> {
    chunk.hidden = (await this.layerS.run(this.layerFeeds(chunk, params, this.layerS))).hidden_out.data as Float32Array;
  }

  async release(): Promise<void> {
    for (const s of [this.embedS, ...this.stageS, this.layerS]) await s.release();
  }
}
