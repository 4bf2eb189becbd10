// Attention over a preallocated KV cache read in place (BuildOptions.kvCache 'capacity').
//
// The default graphs take the cache as past_key/value [B, K, P, D] and return present [B, K, P + T, D]:
// ORT's Attention concatenates (one copy of the whole cache per layer and step) and onnxruntime-node
// copies every output into a new ArrayBuffer (a second copy, then garbage for V8). Here the cache lives in
// JS buffers of a fixed capacity C ≥ P, which the graph reads in place (onnxruntime-node wraps input
// buffers without copying), and a run returns only the new tokens' keys and values, which
// runtime/kv-capacity.ts writes into slots P..P+T−1. Prefill chunks and decode steps share this one graph
// (and so one prepacked copy of the weights):
//
//   Attention(q, k, v, bias [B, 1, T, C + T], past = cache [B, K, C, D]) → [B, T, H·D]
//       slots P..C−1 are hidden by the bias like padding; its present stays inside the graph
//   new_key / new_value = k (after rotary), v as they are, [B, T, K·D]: no node of their own (the rotary
//   output is named new_key; v's producer is renamed new_value)
//   new_kv = Concat(new_key.0, new_value.0, new_key.1, …) [B, T, 2·L·K·D]: what a run fetches, one output
//   instead of 2·L (each output costs the JS ↔ ORT boundary ~2.5 µs; runtime/kv-capacity.ts scatters it
//   into [B, K, C, D])
//   next_token = argmax(logits) [B, 1, 1]: greedy steps fetch it instead of the logits (a [B, V] copy into a
//   new ArrayBuffer and a JS argmax: ~60 µs per step at V = 32K)
//
// A split attention that never concatenates (q·cacheᵀ and q·newᵀ, one softmax, two products) was tried:
// equal at decode (1000-token context, 100M model) and ~6 % slower at prefill than this single node.

import type { GraphBuilder, Value } from '../onnx/builder';
import type { AttentionSpec } from './attention';
import { io } from './blocks';

export const cacheIo = {
  cacheKey: (i: number) => `cache_key.${i}`,       // float [B, K, C, D], slots ≥ P unused
  cacheValue: (i: number) => `cache_value.${i}`,
  newKey: (i: number) => `new_key.${i}`,           // float [B, T, K·D]
  newValue: (i: number) => `new_value.${i}`,
  newKv: 'new_kv',                                 // float [B, T, 2·L·K·D]: key 0, value 0, key 1, …
  nextToken: 'next_token',                         // int64 [B, 1, 1]: argmax of the last position's logits
};

/**
 * The outputs a capacity run fetches, added by buildGraph to a family's finished graph (logits declared):
 * new_kv, every layer's new keys and values in one tensor, and next_token, the greedy choice (the first
 * maximum, as runtime/sampling.ts takes at temperature 0).
 */
export function addCapacityOutputs(g: GraphBuilder, layers: number, kvHeads: number, headDim: number): void {
  const parts = Array.from({ length: layers }, (_, i) => [{ name: cacheIo.newKey(i) }, { name: cacheIo.newValue(i) }]).flat();
  g.node('Concat', parts, { axis: -1 }, { leaf: 'new_kv/Concat', names: [cacheIo.newKv] });                 // [B, T, 2·L·K·D]
  g.declareOutput(cacheIo.newKv, 'float', ['batch', 'seq', 2 * layers * kvHeads * headDim]);
  // TopK with k = 1 is ArgMax (ties: the lower index first) at half its cost on a 32K row (12 vs 23 µs)
  g.node('TopK', [{ name: io.logits }, g.ints([1])], { axis: -1 }, { leaf: 'next_token/TopK', names: [g.path('next_token/max'), cacheIo.nextToken], outputs: 2 });
  g.declareOutput(cacheIo.nextToken, 'int64', ['batch', 1, 1]);
}

/** The cache inputs of a 'capacity' graph (in place of past_key/value). */
export function declareCacheInputs(g: GraphBuilder, layers: number, kvHeads: number, headDim: number): void {
  for (let i = 0; i < layers; i++) {
    g.input(cacheIo.cacheKey(i), 'float', ['batch', kvHeads, 'capacity', headDim]);
    g.input(cacheIo.cacheValue(i), 'float', ['batch', kvHeads, 'capacity', headDim]);
  }
}

/**
 * The new tokens' keys (after rotary) and values as graph outputs new_key.i / new_value.i [B, T, K·D]:
 * their producing nodes' outputs renamed (no Identity copy per layer and step).
 */
export function declareNewKv(g: GraphBuilder, a: AttentionSpec, k: Value): [Value, Value] {
  const { kvHeads: K, headDim: D, layer } = a;
  return ([[k, cacheIo.newKey(layer)], [a.v, cacheIo.newValue(layer)]] as const).map(([x, name]) => {   // [B, T, K·D]
    const y = g.rename(x, name);
    g.declareOutput(name, 'float', ['batch', 'seq', K * D]);
    return y;
  }) as [Value, Value];
}

/**
 * Attention of T new tokens per row over the cache in place and themselves (q, k after rotary), under
 * `bias` [B, 1, T, C + T] (attn_bias, or its sliding-window narrowing). Returns [B, T, H·D].
 */
export function capacityAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value, bias: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, layer } = a;
  const [newK, newV] = declareNewKv(g, a, k);
  const [y] = g.node('Attention', [q, newK, newV, bias, { name: cacheIo.cacheKey(layer) }, { name: cacheIo.cacheValue(layer) }],
    { q_num_heads: H, kv_num_heads: K, scale: { float: a.scale ?? 1 / Math.sqrt(D) } },
    { leaf: 'Attention', names: [g.path('Attention_output_0'), g.path('present_key'), g.path('present_value')] });   // ORT needs present named
  return y;                                                                                              // [B, T, H·D]
}
