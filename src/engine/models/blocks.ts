// Building blocks shared by the architecture files: the graph I/O contract, weight access,
// norms, the explicit attention subgraph with KV cache, and rotary tables.
//
// Shapes: B batch, T new tokens, P cached tokens, S = P + T, d hidden, H query heads,
// K kv heads, G = H / K, D head dim, N = B·T (the residual stream is kept 2-D as [N, d] so every
// linear layer is a Gemm against the HF-layout weight with transB = 1).

import { GraphBuilder, Value } from '../onnx/builder';
import type { LoadedModel } from './config';
import { formatError } from '../errors';

export const MASK_MIN = -1e9; // additive mask value for hidden keys (finite: a row with no visible key stays finite)

/** Names of graph inputs and outputs every architecture uses. */
export const io = {
  inputIds: 'input_ids',          // int64 [B, T]
  positionIds: 'position_ids',    // int64 [B, T]
  attnBias: 'attn_bias',          // float [B, 1, T, S]   0 = visible, MASK_MIN = hidden
  pastKey: (i: number) => `past_key.${i}`,         // float [B, K, P, D]
  pastValue: (i: number) => `past_value.${i}`,     // float [B, K, P, D]
  presentKey: (i: number) => `present_key.${i}`,   // float [B, K, S, D]
  presentValue: (i: number) => `present_value.${i}`,
  logits: 'logits',               // float [B, T, V] ('all') or [B, 1, V] ('last')
};

export interface BuildOptions {
  /** 'all': logits for every position (scoring); 'last': only the last position (generation). */
  logits: 'all' | 'last';
  /** 'fused' (default): one Attention node per layer; 'explicit': primitive ops (autodiff, inspection). */
  attention?: 'fused' | 'explicit';
}

export interface GraphInputs {
  ids: Value;          // [B, T]
  positions: Value;    // [B, T]
  bias: Value;         // [B, 1, T, S] — attn_bias
  bias5: Value;        // [B, 1, 1, T, S] — attn_bias with a group axis for GQA broadcasting
  shapeBT: Value;      // int64 [2] = [B, T]
  shapes: Map<string, Value>;  // shape tensors [B, T, ...] built so far
  attention: 'fused' | 'explicit';
}

/** Declare the common graph inputs and the per-layer cache inputs. */
export function declareInputs(g: GraphBuilder, layers: number, kvHeads: number, headDim: number,
  opts: BuildOptions = { logits: 'all' }): GraphInputs {
  const ids = g.input(io.inputIds, 'int64', ['batch', 'seq']);
  const positions = g.input(io.positionIds, 'int64', ['batch', 'seq']);
  const bias = g.input(io.attnBias, 'float', ['batch', 1, 'seq', 'total']);
  for (let i = 0; i < layers; i++) {
    g.input(io.pastKey(i), 'float', ['batch', kvHeads, 'past', headDim]);
    g.input(io.pastValue(i), 'float', ['batch', kvHeads, 'past', headDim]);
  }
  const shapeBT = g.op('Shape', [ids], {}, 'shape_bt');
  const bias5 = g.unsqueeze(bias, [2]);
  return { ids, positions, bias, bias5, shapeBT, shapes: new Map(), attention: opts.attention ?? 'fused' };
}

/** Weight accessor for one model: float32 view of an HF tensor (F16/BF16 are cast, folded by ORT at load). */
export function weights(g: GraphBuilder, m: LoadedModel) {
  const get = (name: string): Value => {
    const ref = m.weights.get(name);
    if (!ref) throw formatError(m.source, `missing tensor '${name}'`);
    const v = g.weight(ref);
    return ref.dtype === 'F32' ? v : g.scope(name, () => g.cast(v, 'float'));
  };
  const maybe = (name: string): Value | undefined => (m.weights.has(name) ? get(name) : undefined);
  /**
   * A linear layer by its HF module path, e.g. `model.layers.0.self_attn.q_proj`: x [N, in] → [N, out].
   * `nn.Linear` weights are [out, in] (Gemm transB = 1); GPT-2's Conv1D weights are [in, out].
   * Every architecture goes through here, so weight formats (quantized) and adapters (LoRA) hook in once.
   */
  const linear = (x: Value, module: string, layout: 'linear' | 'conv1d' = 'linear'): Value =>
    g.scope(module.split('.').pop()!, () => {
      const w = get(`${module}.weight`);
      const b = maybe(`${module}.bias`);
      return layout === 'linear' ? g.gemmT(x, w, b) : g.op('Gemm', b ? [x, w, b] : [x, w]);
    });
  return { get, maybe, linear };
}

export function rmsNorm(g: GraphBuilder, x: Value, w: Value, eps: number): Value {
  return g.op('RMSNormalization', [x, w], { axis: -1, epsilon: { float: eps } });
}

export function layerNorm(g: GraphBuilder, x: Value, w: Value, b: Value, eps: number): Value {
  return g.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: eps } });
}

/** cos/sin tables [maxPos, D/2] for rotate-half RoPE, computed in float64 and stored as float32. */
export function rotaryTables(g: GraphBuilder, maxPos: number, headDim: number, theta: number): { cos: Value; sin: Value } {
  const half = headDim / 2;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * theta ** (-(2 * i) / headDim);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return {
    cos: g.constant('float', [maxPos, half], cos, 'rope_cos'),
    sin: g.constant('float', [maxPos, half], sin, 'rope_sin'),
  };
}

export interface AttentionSpec {
  layer: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  q: Value; k: Value; v: Value;              // projections, [N, H·D], [N, K·D], [N, K·D]
  rotary?: { cos: Value; sin: Value; positions: Value };
  inputs: GraphInputs;
}

/**
 * Attention over [past | new] keys with the additive bias, GQA, KV cache in and out.
 * Returns the context [N, H·D] (before o_proj). Two paths with the same I/O:
 * - 'fused' (inference): one ONNX Attention-23 node (GQA, additive mask, past/present) — few nodes per
 *   step, which is what decode speed on small models is made of;
 * - 'explicit' (training, analysis): MatMul → + bias → Softmax → MatMul from primitive ops, so every
 *   intermediate (the attention probabilities `/…/attn/Softmax_output_0`) is a named value and every op
 *   has a VJP.
 */
export function attention(g: GraphBuilder, a: AttentionSpec): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs } = a;
  let q = g.op('Reshape', [a.q, shapeBTx(g, inputs, H * D)], {}, 'q/Reshape');          // [B, T, H·D]
  let k = g.op('Reshape', [a.k, shapeBTx(g, inputs, K * D)], {}, 'k/Reshape');          // [B, T, K·D]
  if (a.rotary) {
    const { cos, sin, positions } = a.rotary;
    q = g.op('RotaryEmbedding', [q, cos, sin, positions], { num_heads: H }, 'q/Rotary');
    k = g.op('RotaryEmbedding', [k, cos, sin, positions], { num_heads: K }, 'k/Rotary');
  }
  return inputs.attention === 'fused' ? fusedAttention(g, a, q, k) : explicitAttention(g, a, q, k);
}

function fusedAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const v = g.op('Reshape', [a.v, shapeBTx(g, inputs, K * D)], {}, 'v/Reshape');        // [B, T, K·D]
  const [y] = g.node('Attention', [q, k, v, inputs.bias, { name: io.pastKey(layer) }, { name: io.pastValue(layer) }],
    { q_num_heads: H, kv_num_heads: K, scale: { float: 1 / Math.sqrt(D) } },
    { leaf: 'Attention', names: [`/layers.${layer}/attn/Attention_output_0`, io.presentKey(layer), io.presentValue(layer)] });
  declareCache(g, layer, K, D);
  return g.reshape(y, [-1, H * D], 'context/Flat');                                     // [N, H·D]
}

function explicitAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const G = H / K;
  q = g.mul(q, g.scalar(1 / Math.sqrt(D)), 'q/Scale');
  const q5 = g.transpose(g.reshape(q, [0, 0, K, G, D], 'q/Heads'), [0, 2, 3, 1, 4], 'q/T');        // [B, K, G, T, D]
  const k4 = g.transpose(g.reshape(k, [0, 0, K, D], 'k/Heads'), [0, 2, 1, 3], 'k/T');             // [B, K, T, D]
  const v4 = g.transpose(g.op('Reshape', [a.v, shapeBTx(g, inputs, K, D)], {}, 'v/Heads'), [0, 2, 1, 3], 'v/T'); // [B, K, T, D]
  const kAll = g.node('Concat', [{ name: io.pastKey(layer) }, k4], { axis: 2 }, { leaf: 'k/Concat', names: [io.presentKey(layer)] })[0];   // [B, K, S, D]
  const vAll = g.node('Concat', [{ name: io.pastValue(layer) }, v4], { axis: 2 }, { leaf: 'v/Concat', names: [io.presentValue(layer)] })[0]; // [B, K, S, D]
  declareCache(g, layer, K, D);
  const kT5 = g.unsqueeze(g.transpose(kAll, [0, 1, 3, 2], 'k/Tall'), [2]);              // [B, K, 1, D, S]
  const scores = g.add(g.matmul(q5, kT5, 'scores'), inputs.bias5, 'scores/Mask');       // [B, K, G, T, S]
  const probs = g.softmax(scores);                                                      // attention probabilities
  const ctx = g.matmul(probs, g.unsqueeze(vAll, [2]), 'context');                       // [B, K, G, T, D]
  return g.reshape(g.transpose(ctx, [0, 3, 1, 2, 4], 'context/T'), [-1, H * D], 'context/Flat'); // [N, H·D]
}

function declareCache(g: GraphBuilder, layer: number, K: number, D: number): void {
  g.declareOutput(io.presentKey(layer), 'float', ['batch', K, 'total', D]);
  g.declareOutput(io.presentValue(layer), 'float', ['batch', K, 'total', D]);
}

/** int64 shape [B, T, ...rest], built once per distinct rest. */
function shapeBTx(g: GraphBuilder, inputs: GraphInputs, ...rest: number[]): Value {
  const key = rest.join('x');
  let v = inputs.shapes.get(key);
  if (!v) {
    v = g.concat([inputs.shapeBT, g.ints(rest)], 0, `shape_bt_${key}`);
    inputs.shapes.set(key, v);
  }
  return v;
}

/** Gather embeddings for ids [B, T] → [N, width]. */
export function embed(g: GraphBuilder, table: Value, ids: Value, width: number, leaf = 'embed'): Value {
  return g.reshape(g.gather(table, ids, 0, `${leaf}/Gather`), [-1, width], `${leaf}/Flat`);
}

/** Hidden states [N, d] → the rows the logits need: all of them, or the last position of each row [B, d]. */
export function selectForLogits(g: GraphBuilder, x: Value, d: number, inputs: GraphInputs, mode: 'all' | 'last'): Value {
  if (mode === 'all') return x;
  const x3 = g.op('Reshape', [x, shapeBTx(g, inputs, d)], {}, 'last/Reshape');
  return g.reshape(g.slice(x3, [-1], [Number.MAX_SAFE_INTEGER], [1], 'last/Slice'), [-1, d], 'last/Flat');
}

/** Logits [N or B, V] → graph output [B, T or 1, V]. */
export function emitLogits(g: GraphBuilder, logits2d: Value, vocab: number, inputs: GraphInputs, mode: 'all' | 'last'): void {
  const shape = mode === 'all'
    ? shapeBTx(g, inputs, vocab)
    : g.ints([-1, 1, vocab]);
  g.node('Reshape', [logits2d, shape], {}, { leaf: 'logits/Reshape', names: [io.logits] });
  g.declareOutput(io.logits, 'float', ['batch', mode === 'all' ? 'seq' : 1, vocab]);
}
