// The fused forward+backward training graph of a model (docs/design.md, decision 3).
//
// The architecture's own graph (explicit attention, every op with a VJP) gets a `labels` input and the
// next-token cross-entropy; its inference outputs (logits, present K/V) are dropped; the gradients of
// the trainable tensors are appended by autodiff and exposed as `grad.<name>`; dead nodes are pruned.
// Trainable tensors are graph inputs fed from JS each step: hook parameters (soft prompt, LoRA
// factors), past K/V (prefix tuning) or weights turned from initializers into inputs (full training).
// Frozen weights stay external-data initializers that ORT memory-maps.
//
// Inputs:  input_ids, position_ids int64 [B, T]; attn_bias [B, 1, T, S]; past_key.i / past_value.i
//          [B, K, P, D]; labels int64 [B, T] (IGNORE_INDEX = no loss); trainable tensors.
// Outputs: loss_sum [] (Σ −log p over labelled tokens), token_count [], grad.<name> per trainable.

import type { GraphBuilder, Value } from '../onnx/builder';
import { ElemType } from '../onnx/proto';
import { appendBackward, exposeGradients, gradName } from '../onnx/autodiff';
import { pruneGraph } from '../onnx/prune';
import type { LoadedModel } from '../models/config';
import { buildGraph } from '../models/graph';
import { BuildOptions, io } from '../models/blocks';
import { crossEntropy } from './loss';
import { unsupported } from '../errors';

export const trainIo = { labels: 'labels', lossSum: 'loss_sum', tokenCount: 'token_count', grad: gradName };

export interface TrainGraphOptions {
  /** HF weight names made trainable (graph inputs instead of memory-mapped initializers). */
  weights?: string[];
  /** Extra build options (hooks that add trainable inputs, linear kernel). */
  build?: Partial<BuildOptions>;
  /** Graph inputs created by the hooks that are trainable (soft prompt, LoRA factors). */
  params?: string[];
  /** Train the KV cache inputs (prefix tuning): gradients of every past_key.i / past_value.i. */
  past?: boolean;
  /** Only the loss (evaluation graph): no backward nodes. */
  forwardOnly?: boolean;
}

export interface TrainGraph {
  proto: Uint8Array;
  weightsDir: string;
  /** Every graph input name, in declaration order. */
  inputs: string[];
  /** Trainable tensor names; their gradients are the outputs `grad.<name>`. */
  trainable: string[];
  stats: { nodes: number; activeNodes: number; backwardNodes: number; prunedNodes: number };
}

/** Turn initializer `name` into a float graph input of the same shape. */
function initializerToInput(g: GraphBuilder, name: string, source: string): void {
  const k = g.initializers.findIndex((t) => t.name === name);
  if (k < 0) throw unsupported(`cannot train '${name}': it is not a weight of this graph`, source);
  const t = g.initializers[k];
  if (t.dataType !== ElemType.float) throw unsupported(`cannot train '${name}': full training needs float32 weights (this one is stored as type ${t.dataType})`, source);
  g.initializers.splice(k, 1);
  g.inputs.push({ name, type: { tensorType: { elemType: ElemType.float, shape: { dim: (t.dims ?? []).map((d) => ({ dimValue: Number(d) })) } } } });
}

export function buildTrainGraph(m: LoadedModel, opts: TrainGraphOptions = {}): TrainGraph {
  const g = buildGraph(m, { linear: 'matmul', ...opts.build, logits: 'all', attention: 'explicit' });
  const V = m.config.vocabSize;
  const labels = g.input(trainIo.labels, 'int64', ['batch', 'seq']);
  const ce = g.scope('model', () => {
    const logits2 = g.reshape({ name: io.logits }, [-1, V], 'logits/Flat');                 // [B·T, V]
    return crossEntropy(g, logits2, g.reshape(labels, [-1], 'labels/Flat'));
  });
  g.outputs.splice(0, g.outputs.length);
  g.output(ce.sum, trainIo.lossSum, 'float', []);
  g.output(ce.count, trainIo.tokenCount, 'float', []);

  for (const w of opts.weights ?? []) initializerToInput(g, w, m.source);
  const past: string[] = [];
  if (opts.past) for (let i = 0; i < m.config.numLayers; i++) past.push(io.pastKey(i), io.pastValue(i));
  const trainable = [...(opts.weights ?? []), ...(opts.params ?? []), ...past];

  const res = opts.forwardOnly ? undefined : appendBackward(g, { loss: ce.sum as Value, wrt: trainable });
  if (res) exposeGradients(g, res);
  const keep = new Set(trainable);
  const pruned = pruneGraph(g);
  // graph inputs nobody reads are dropped, except trainables (their gradient may be an all-zeros Expand)
  const used = new Set(g.nodes.flatMap((n) => n.input ?? []));
  const inputs = g.inputs.filter((v) => used.has(v.name!) || keep.has(v.name!));
  g.inputs.splice(0, g.inputs.length, ...inputs);
  return {
    proto: g.toModelProto(),
    weightsDir: m.weightsDir,
    inputs: g.inputs.map((v) => v.name!),
    trainable,
    stats: { nodes: g.nodes.length, activeNodes: res?.activeNodes ?? 0, backwardNodes: res?.backwardNodes ?? 0, prunedNodes: pruned.nodes },
  };
}
