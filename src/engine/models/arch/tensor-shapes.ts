// Expected tensor shapes shared by the Llama-layout families (llama, mistral, qwen2, gemma2): the separate
// q/k/v/o projections of one layer, with their optional biases. Each family's `weights()` lists the rest.

import type { ModelConfig } from '../config';

/** q/k/v/o weights (and biases where `bias` says) of layer prefix `p` ("model.layers.3."). */
export function attentionShapes(w: Map<string, number[]>, p: string, c: ModelConfig, bias: { qkv: boolean; o: boolean }): void {
  const d = c.hiddenSize;
  const q = c.numHeads * c.headDim;   // [q, d]: all query heads
  const kv = c.numKvHeads * c.headDim;   // [kv, d]: the shared key / value heads
  w.set(`${p}self_attn.q_proj.weight`, [q, d]);
  w.set(`${p}self_attn.k_proj.weight`, [kv, d]);
  w.set(`${p}self_attn.v_proj.weight`, [kv, d]);
  w.set(`${p}self_attn.o_proj.weight`, [d, q]);
  if (bias.qkv) {
    w.set(`${p}self_attn.q_proj.bias`, [q]);
    w.set(`${p}self_attn.k_proj.bias`, [kv]);
    w.set(`${p}self_attn.v_proj.bias`, [kv]);
  }
  if (bias.o) w.set(`${p}self_attn.o_proj.bias`, [d]);
}
