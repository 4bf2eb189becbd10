// Attention over a preallocated KV cache read in place (BuildOptions.kvCache 'capacity').
//
// The default graphs take the cache as past_key/value [B, K, P, D] and return present [B, K, P + T, D]:
// ORT's Attention concatenates (one copy of the whole cache per layer and step) and onnxruntime-node
// copies every output into a new ArrayBuffer (a second copy, then garbage). On the 100M bench model at a
// 1000-token context that is ~50 MB of copies per token. Here the cache lives in JS buffers of a fixed
// capacity C, which the graph reads in place (onnxruntime-node wraps input buffers without copying), and
// a run returns only the new tokens' keys and values, which runtime/kv-capacity.ts writes into slots
// P..P+T−1. Prefill chunks and decode steps share this one graph (and so one prepacked copy of the weights):
//
//   q [B, T, H·D] → [B, K, G·T, D] · 1/√D      k, v [B, T, K·D] → new_key / new_value [B, K, T, D]
//   cached = q · cache_keyᵀ                     FusedMatMul(transB) over [B, K] → [B, K, G, T, C]
//   fresh  = q · new_keyᵀ                       [B, K, G, T, T]
//   p      = softmax([cached | fresh] + bias)   bias [B, 1, T, C + T]: empty, padded, future and
//                                               out-of-window slots hidden
//   ctx    = p[…, :C] · cache_value + p[…, C:] · new_value → [B, T, H·D]

import type { GraphBuilder, Value } from '../onnx/builder';
import type { AttentionSpec, GraphInputs } from './blocks';

export const cacheIo = {
  cacheKey: (i: number) => `cache_key.${i}`,       // float [B, K, C, D], slots ≥ P unused
  cacheValue: (i: number) => `cache_value.${i}`,
  newKey: (i: number) => `new_key.${i}`,           // float [B, K, 1, D]
  newValue: (i: number) => `new_value.${i}`,
};

/** The cache inputs of a 'capacity' graph (in place of past_key/value). */
export function declareCacheInputs(g: GraphBuilder, layers: number, kvHeads: number, headDim: number): void {
  for (let i = 0; i < layers; i++) {
    g.input(cacheIo.cacheKey(i), 'float', ['batch', kvHeads, 'capacity', headDim]);
    g.input(cacheIo.cacheValue(i), 'float', ['batch', kvHeads, 'capacity', headDim]);
  }
}

/** Attention of T new tokens per row over the cache in place and themselves (q, k after rotary). Returns [B, T, H·D]. */
export function capacityAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const G = H / K;
  const q5 = g.transpose(g.reshape(q, [0, 0, K, G, D], 'q/Heads'), [0, 2, 3, 1, 4], 'q/T');            // [B, K, G, T, D]
  const q4 = g.mul(g.reshape(q5, [0, K, -1, D], 'q/Rows'), g.scalar(1 / Math.sqrt(D)), 'q/Scale');    // [B, K, G·T, D]
  const heads = (x: Value, leaf: string, name: string) =>
    g.node('Transpose', [g.reshape(x, [0, 0, K, D], `${leaf}/Heads`)], { perm: [0, 2, 1, 3] }, { leaf: `${leaf}/T`, names: [name] })[0];
  const kNew = heads(k, 'k', cacheIo.newKey(layer));                                                  // [B, K, T, D]
  const vNew = heads(a.v, 'v', cacheIo.newValue(layer));
  g.declareOutput(cacheIo.newKey(layer), 'float', ['batch', K, 'seq', D]);
  g.declareOutput(cacheIo.newValue(layer), 'float', ['batch', K, 'seq', D]);
  const ms = { domain: 'com.microsoft' };
  const cached = g.node('FusedMatMul', [q4, { name: cacheIo.cacheKey(layer) }], { transB: 1 }, { leaf: 'scores/Cache', ...ms })[0];  // [B, K, G·T, C]
  const fresh = g.node('FusedMatMul', [q4, kNew], { transB: 1 }, { leaf: 'scores/New', ...ms })[0];                                  // [B, K, G·T, T]
  const scores = g.add(g.concat([cached, fresh], 3, 'scores/All'), rowBias(g, inputs, G), 'scores/Mask');  // [B, K, G·T, C + T]
  const p4 = g.softmax(scores);
  const C = g.op('Shape', [{ name: cacheIo.cacheKey(layer) }], { start: 2, end: 3 }, 'capacity');     // int64 [1]
  const pCache = g.op('Slice', [p4, g.ints([0]), C, g.ints([3])], {}, 'p/Cache');                     // [B, K, G·T, C]
  const pNew = g.op('Slice', [p4, C, g.ints([2 ** 31 - 1]), g.ints([3])], {}, 'p/New');                // [B, K, G·T, T]
  const ctx = g.add(g.matmul(pCache, { name: cacheIo.cacheValue(layer) }, 'context/Cache'), g.matmul(pNew, vNew, 'context/New'), 'context');  // [B, K, G·T, D]
  const ctx5 = g.reshape(ctx, [0, K, G, -1, D], 'context/Heads');                                     // [B, K, G, T, D]
  return g.reshape(g.transpose(ctx5, [0, 3, 1, 2, 4], 'context/T'), [0, 0, H * D], 'context/Flat');   // [B, T, H·D]
}

const tiled = new WeakMap<GraphInputs, Value>();

/** attn_bias [B, 1, T, C + T] repeated for the G query heads of a KV head: [B, 1, G·T, C + T] (row g·T + t), built once per graph. */
function rowBias(g: GraphBuilder, inputs: GraphInputs, G: number): Value {
  let v = tiled.get(inputs);
  if (!v) {
    v = G === 1 ? inputs.bias : g.op('Tile', [inputs.bias, g.ints([1, 1, G, 1])], {}, 'attn_bias_rows');
    tiled.set(inputs, v);
  }
  return v;
}
