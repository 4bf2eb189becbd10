// Per-sequence bookkeeping for the KV cache and the attention bias.
//
// The cache tensors themselves are the graph's present_key/value outputs fed back as the next
// step's past_key/value inputs (ORT hands them over without a copy on the JS side). Here we keep,
// for each row of the batch, which cache slots hold real tokens (left padding holds none) and the
// next position id, and build the additive bias [B, 1, T, S] and position ids [B, T] per step.

import * as ort from 'onnxruntime-node';
import { MASK_MIN } from '../models/blocks';

export class KvState {
  /** visible[b][j] — cache slot j of row b holds a real token. */
  readonly visible: Uint8Array[];
  readonly nextPos: number[];
  past: ort.Tensor[];   // [2·layers] alternating key [B, K, 1, D, P] and value [B, K, 1, P, D]

  constructor(readonly batch: number, readonly layers: number, readonly kvHeads: number, readonly headDim: number) {
    this.visible = Array.from({ length: batch }, () => new Uint8Array(0));
    this.nextPos = new Array(batch).fill(0);
    const k0 = new ort.Tensor('float32', new Float32Array(0), [batch, kvHeads, 1, headDim, 0]);
    const v0 = new ort.Tensor('float32', new Float32Array(0), [batch, kvHeads, 1, 0, headDim]);
    this.past = Array.from({ length: 2 * layers }, (_, i) => (i % 2 ? v0 : k0));
  }

  get length(): number {
    return this.visible[0].length;
  }

  /**
   * Append T slots per row; `real[b][t]` says whether slot t of row b is a real token.
   * Returns position ids [B, T] and the bias [B, 1, T, S] for this step.
   */
  append(real: boolean[][]): { positions: BigInt64Array; bias: Float32Array; T: number; S: number } {
    const B = this.batch;
    const T = real[0].length;
    const P = this.length;
    const S = P + T;
    const positions = new BigInt64Array(B * T);
    const bias = new Float32Array(B * T * S).fill(MASK_MIN);
    for (let b = 0; b < B; b++) {
      const vis = new Uint8Array(S);
      vis.set(this.visible[b]);
      for (let t = 0; t < T; t++) {
        vis[P + t] = real[b][t] ? 1 : 0;
        positions[b * T + t] = BigInt(real[b][t] ? this.nextPos[b]++ : 0);
      }
      this.visible[b] = vis;
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * S;
        for (let j = 0; j <= P + t; j++) if (vis[j]) bias[row + j] = 0;
      }
    }
    return { positions, bias, T, S };
  }
}
