// Decode attention over a preallocated KV cache, without copying it (BuildOptions.kvCache 'capacity').
//
// The default graphs take the cache as past_key/value [B, K, P, D] and return present [B, K, P + 1, D]:
// ORT's Attention concatenates (one copy of the whole cache per layer and step) and onnxruntime-node
// copies every output into a new ArrayBuffer (a second copy, then garbage). On the 100M bench model at a
// 1000-token context that is ~50 MB of copies per token. Here the cache lives in JS buffers of a fixed
// capacity C, which the graph reads in place (onnxruntime-node wraps input buffers without copying), and
// a step returns only the new token's key and value, which runtime/kv-capacity.ts writes into slot P:
//
//   q [B, 1, H·D] → [B, K, G, D] · 1/√D     k, v [B, 1, K·D] → new_key / new_value [B, K, 1, D]
//   cached = q · cache_keyᵀ + attn_bias      FusedMatMul(transB) over [B, K] → [B, K, G, C]; the bias
//                                            [B, 1, 1, C] hides empty and padded slots (and the window)
//   own    = Σ_D q ⊙ new_key                 [B, K, G, 1]: the token's attention to itself
//   p      = softmax([cached | own])         [B, K, G, C + 1]
//   ctx    = p[…, :C] · cache_value + p[…, C] ⊙ new_value → [B, 1, H·D]
//
// One token per row and step (T = 1); prefill and every other graph keep the past/present contract.

import type { GraphBuilder, Value } from '../onnx/builder';
import type { AttentionSpec } from './blocks';

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

/** Attention of one new token per row over the cache in place (q, k after rotary). Returns [B, 1, H·D]. */
export function capacityAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const G = H / K;
  const q4 = g.mul(g.reshape(q, [0, K, G, D], 'q/Heads'), g.scalar(1 / Math.sqrt(D)), 'q/Scale');     // [B, K, G, D]
  const kNew = g.node('Reshape', [k, g.ints([0, K, 1, D])], {}, { leaf: 'k/Heads', names: [cacheIo.newKey(layer)] })[0];    // [B, K, 1, D]
  const vNew = g.node('Reshape', [a.v, g.ints([0, K, 1, D])], {}, { leaf: 'v/Heads', names: [cacheIo.newValue(layer)] })[0];
  g.declareOutput(cacheIo.newKey(layer), 'float', ['batch', K, 1, D]);
  g.declareOutput(cacheIo.newValue(layer), 'float', ['batch', K, 1, D]);
  const cached = g.node('FusedMatMul', [q4, { name: cacheIo.cacheKey(layer) }], { transB: 1 },
    { leaf: 'scores', domain: 'com.microsoft' })[0];                                                     // [B, K, G, C]
  const masked = g.add(cached, inputs.bias, 'scores/Mask');                                             // + [B, 1, 1, C]
  const own = g.op('ReduceSum', [g.mul(q4, kNew, 'own/Mul'), g.ints([-1])], { keepdims: 1 }, 'own');   // [B, K, G, 1]
  const p = g.softmax(g.concat([masked, own], 3, 'scores/All'));                                        // [B, K, G, C + 1]
  const pCache = g.slice(p, [0], [-1], [3], 'p/Cache');                                                 // [B, K, G, C]
  const pOwn = g.slice(p, [-1], [2 ** 31 - 1], [3], 'p/Own');                                           // [B, K, G, 1]
  const ctx = g.add(g.matmul(pCache, { name: cacheIo.cacheValue(layer) }, 'context/Cache'), g.mul(pOwn, vNew, 'context/Own'), 'context');  // [B, K, G, D]
  return g.reshape(ctx, [0, 1, H * D], 'context/Flat');                                                 // [B, 1, H·D]
}
