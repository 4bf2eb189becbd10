// Attention and rotary embeddings shared by the architecture files: cos/sin tables computed in the graph,
// sliding-window narrowing of the bias, and attention over [past | new] keys on the fused (one Attention node)
// or explicit (primitive ops, every intermediate named) path; the capacity cache's variant is in
// cache-attention.ts.
//
// Shapes: B batch, T new tokens, P cached tokens, S = P + T, H query heads, K kv heads, G = H / K, D head dim.

import { GraphBuilder, Value } from '../onnx/builder';
import type { RopeScaling } from './config';
import { cacheIo, capacityAttention, declareNewKv } from './cache-attention';
import { GraphInputs, io, MASK_MIN } from './blocks';

/**
 * cos/sin [B, T, D/2] of rotate-half RoPE for the positions this run actually has, computed in the graph
 * (angle = position · θ^(−2i/D) in float32, as transformers computes it). A table over every position the
 * config declares would be sized by max_position_embeddings — a number from a file: 1e12 cannot be
 * allocated, and real long-context models (131,072 or ~1,000,000 positions) would pay hundreds of MB for
 * positions no run reaches.
 */
export function rotaryAngles(g: GraphBuilder, positions: Value, headDim: number, theta: number, scaling?: RopeScaling): { cos: Value; sin: Value } {
  const half = headDim / 2;
  const freq = (factor: (i: number) => number) => {
    const f = new Float32Array(half);
    for (let i = 0; i < half; i++) f[i] = 1 / (factor(i) * theta ** ((2 * i) / headDim));
    return f;
  };
  let invFreq: Value;                                                                        // [D/2]
  if (scaling?.type === 'longrope') {
    // Phi-3 "longrope" (formerly "su"), as transformers applies it: per-frequency divisors, the long ones
    // when the run reaches past the pretrained context (the largest position id ≥ original_max), else
    // the short ones; cos and sin scaled by the attention factor.
    const short = g.constant('float', [half], freq((i) => scaling.shortFactor[i]), 'rope_inv_freq_short');
    const long = g.constant('float', [half], freq((i) => scaling.longFactor[i]), 'rope_inv_freq_long');
    const maxPos = g.op('ReduceMax', [positions], { keepdims: 0 }, 'rope/max_position');     // int64 scalar
    const isLong = g.op('GreaterOrEqual', [maxPos, g.constant('int64', [], [scaling.originalMaxPositions], 'rope_original_max')], {}, 'rope/long');
    invFreq = g.op('Where', [isLong, long, short], {}, 'rope/inv_freq');
  } else {
    invFreq = g.constant('float', [half], freq(() => 1), 'rope_inv_freq');
  }
  const pos = g.unsqueeze(g.cast(positions, 'float'), [2]);                                  // [B, T, 1]
  const angles = g.op('Mul', [pos, invFreq], {}, 'rope/angles');                             // [B, T, D/2]
  let cos = g.op('Cos', [angles], {}, 'rope/cos');
  let sin = g.op('Sin', [angles], {}, 'rope/sin');
  const factor = scaling?.attentionFactor ?? 1;
  if (factor !== 1) {
    cos = g.mul(cos, g.scalar(factor), 'rope/cos_scaled');
    sin = g.mul(sin, g.scalar(factor), 'rope/sin_scaled');
  }
  return { cos, sin };
}

export interface AttentionSpec {
  layer: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  q: Value; k: Value; v: Value;              // projections, [B, T, H·D], [B, T, K·D], [B, T, K·D]
  /** [B, T, R/2] each (rotaryAngles); `dims` R < D: only the first R dims of each head rotate (partial rotary). */
  rotary?: { cos: Value; sin: Value; dims?: number };
  /** Multiplier of q·k (default 1/√D; Gemma 2: query_pre_attn_scalar^−½). */
  scale?: number;
  /** Scores → cap·tanh(scores / cap) before the mask (Gemma 2). Such layers take the explicit path (the fused kernel caps after the mask). */
  softcap?: number;
  /** Sliding window of this layer only (Gemma 2's local layers): each query sees its last `window` visible keys. */
  window?: number;
  inputs: GraphInputs;
}

/**
 * The attention bias narrowed to a sliding window: a key stays visible only while at most `window`
 * visible keys (itself included) lie at or after it in the row, i.e. query position − key position <
 * window for a contiguous sequence (as transformers' sliding-window mask). Derived from the bias alone,
 * so every feeder of attn_bias (runtime, scoring, training, IDP) gets it without a second input; built
 * once per graph and window. [B, 1, T, S]
 */
export function windowBias(g: GraphBuilder, inputs: GraphInputs, window: number): Value {
  let v = inputs.windows.get(window);
  if (!v) {
    v = g.scope(`window_${window}`, () => {
      const visible = g.cast(g.op('Greater', [inputs.bias, g.scalar(MASK_MIN / 2)], {}, 'visible'), 'float');   // [B, 1, T, S]
      const after = g.op('CumSum', [visible, g.constant('int64', [], [-1], 'axis')], { reverse: 1 }, 'after');  // visible keys at ≥ s
      const far = g.op('Greater', [after, g.scalar(window)], {}, 'far');
      return g.op('Where', [far, g.scalar(MASK_MIN), inputs.bias], {}, 'bias');
    });
    inputs.windows.set(window, v);
  }
  return v;
}

/** The bias a layer starts from: attn_bias, or its sliding-window narrowing. [B, 1, T, S] */
const layerBias = (g: GraphBuilder, a: AttentionSpec): Value => (a.window ? windowBias(g, a.inputs, a.window) : a.inputs.bias);

/**
 * Attention over [past | new] keys with the additive bias, GQA, KV cache in and out.
 * Returns the context [B, T, H·D] (before o_proj). Two paths with the same I/O:
 * - 'fused' (inference): one ONNX Attention-23 node (GQA, additive mask, past/present) — few nodes per
 *   step, which is what decode speed on small models is made of;
 * - 'explicit' (training, analysis): MatMul → + bias → Softmax → MatMul from primitive ops, so every
 *   intermediate (the attention probabilities `/…/attn/Softmax_output_0`) is a named value and every op
 *   has a VJP.
 */
export function attention(g: GraphBuilder, a: AttentionSpec): Value {
  const { heads: H, kvHeads: K, inputs } = a;
  let q = a.q;                                                                          // [B, T, H·D]
  let k = a.k;                                                                          // [B, T, K·D]
  if (a.rotary) {
    const { cos, sin, dims } = a.rotary;   // per token already: no position_ids input
    const partial: Record<string, number> = dims !== undefined && dims < a.headDim ? { rotary_embedding_dim: dims } : {};
    q = g.op('RotaryEmbedding', [q, cos, sin], { num_heads: H, ...partial }, 'q/Rotary');
    // capacity graphs return the rotated keys as they are (models/cache-attention.ts)
    const names = inputs.kvCache === 'capacity' ? [cacheIo.newKey(a.layer)] : undefined;
    k = g.node('RotaryEmbedding', [k, cos, sin], { num_heads: K, ...partial }, { leaf: 'k/Rotary', names })[0];
  }
  if (inputs.kvCache === 'capacity') {
    if (inputs.hooks?.attention) throw new Error('attention hooks need the concat KV cache');
    return a.softcap !== undefined ? explicitAttention(g, a, q, k) : capacityAttention(g, a, q, k, layerBias(g, a));
  }
  const explicit = inputs.attention === 'explicit' || !!inputs.hooks?.attention?.explicit?.(a.layer) || a.softcap !== undefined;
  return explicit ? explicitAttention(g, a, q, k) : fusedAttention(g, a, q, k);
}

function fusedAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const biasHook = inputs.hooks?.attention?.bias;
  const bias = biasHook ? biasHook(g, layer, layerBias(g, a)) : layerBias(g, a);         // [B, 1, T, S]
  const [pastK, pastV] = inputs.hooks?.attention?.past?.(g, layer) ?? [{ name: io.pastKey(layer) }, { name: io.pastValue(layer) }];
  const [y] = g.node('Attention', [q, k, a.v, bias, pastK, pastV],
    { q_num_heads: H, kv_num_heads: K, scale: { float: a.scale ?? 1 / Math.sqrt(D) } },
    { leaf: 'Attention', names: [`/layers.${layer}/attn/Attention_output_0`, io.presentKey(layer), io.presentValue(layer)] });
  declareCache(g, layer, K, D);
  return y;                                                                             // [B, T, H·D]
}

/**
 * Attention from primitive ops. With the capacity cache (softcapped layers only) the past is the cache read
 * in place and the new keys and values leave as new_key / new_value (models/cache-attention.ts).
 */
function explicitAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const G = H / K;
  const capacity = inputs.kvCache === 'capacity';
  q = g.mul(q, g.scalar(a.scale ?? 1 / Math.sqrt(D)), 'q/Scale');
  const q5 = g.transpose(g.reshape(q, [0, 0, K, G, D], 'q/Heads'), [0, 2, 3, 1, 4], 'q/T');        // [B, K, G, T, D]
  const k4 = g.transpose(g.reshape(k, [0, 0, K, D], 'k/Heads'), [0, 2, 1, 3], 'k/T');             // [B, K, T, D]
  const v4 = g.transpose(g.reshape(a.v, [0, 0, K, D], 'v/Heads'), [0, 2, 1, 3], 'v/T');         // [B, K, T, D]
  const hooks = inputs.hooks?.attention;
  const [pastK, pastV] = capacity ? [{ name: cacheIo.cacheKey(layer) }, { name: cacheIo.cacheValue(layer) }]
    : hooks?.past?.(g, layer) ?? [{ name: io.pastKey(layer) }, { name: io.pastValue(layer) }];
  const names = (present: string) => (capacity ? undefined : [present]);
  const kAll = g.node('Concat', [pastK, k4], { axis: 2 }, { leaf: 'k/Concat', names: names(io.presentKey(layer)) })[0];   // [B, K, S, D]
  const vAll = g.node('Concat', [pastV, v4], { axis: 2 }, { leaf: 'v/Concat', names: names(io.presentValue(layer)) })[0]; // [B, K, S, D]
  if (capacity) declareNewKv(g, a, k);
  else declareCache(g, layer, K, D);
  const kT5 = g.unsqueeze(g.transpose(kAll, [0, 1, 3, 2], 'k/Tall'), [2]);              // [B, K, 1, D, S]
  const base = layerBias(g, a);
  const bias5 = hooks?.bias ? g.unsqueeze(hooks.bias(g, layer, base), [2]) : a.window ? g.unsqueeze(base, [2]) : inputs.bias5;  // [B, 1, 1, T, S]
  let raw = g.matmul(q5, kT5, 'scores');                                                // [B, K, G, T, S]
  if (a.softcap !== undefined) raw = g.mul(g.tanh(g.mul(raw, g.scalar(1 / a.softcap), 'scores/softcap_in')), g.scalar(a.softcap), 'scores/softcap');
  const scores = g.add(raw, bias5, 'scores/Mask');                                      // [B, K, G, T, S]
  const p0 = g.softmax(scores);                                                         // attention probabilities
  const probs = hooks?.probs ? hooks.probs(g, layer, p0, scores) : p0;
  const ctx = g.matmul(probs, g.unsqueeze(vAll, [2]), 'context');                       // [B, K, G, T, D]
  return g.reshape(g.transpose(ctx, [0, 3, 1, 2, 4], 'context/T'), [0, 0, H * D], 'context/Flat'); // [B, T, H·D]
}

function declareCache(g: GraphBuilder, layer: number, K: number, D: number): void {
  g.declareOutput(io.presentKey(layer), 'float', ['batch', K, 'total', D]);
  g.declareOutput(io.presentValue(layer), 'float', ['batch', K, 'total', D]);
}

