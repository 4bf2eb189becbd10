// Per-sequence bookkeeping for the KV cache and the attention bias.
//
// The cache tensors themselves are the graph's present_key/value outputs fed back as the next
// step's past_key/value inputs (ORT hands them over without a copy on the JS side). Here we keep,
// for each row of the batch, which cache slots hold real tokens (left padding holds none) and the
// next position id, and build the additive bias [B, 1, T, S] and position ids [B, T] per step.

import * as ort from 'onnxruntime-node';
import { MASK_MIN } from '../models/blocks';
import { KvCapacity } from './kv-capacity';

export class KvState {
  /** visible[b][j] — cache slot j of row b holds a real token. */
  readonly visible: Uint8Array[];
  /** slotPos[b][j] — position id of cache slot j of row b (for sliding-window attention). */
  readonly slotPos: Int32Array[];
  readonly nextPos: number[];
  private pastTensors: ort.Tensor[] = [];
  /** The cache in preallocated buffers, while one-token decode steps run over it (runtime/kv-capacity.ts). */
  capacity?: KvCapacity;

  /** The cache as [2·layers] tensors, key and value alternating, each [B, K, P, D] (copied out of `capacity` if it is there). */
  get past(): ort.Tensor[] {
    if (this.capacity) {
      this.pastTensors = this.capacity.toPast();
      this.capacity = undefined;
    }
    return this.pastTensors;
  }

  set past(p: ort.Tensor[]) {
    this.pastTensors = p;
    this.capacity = undefined;
  }

  /** Slots this cache is expected to reach (a generation's prompt + max tokens): room the in-place buffers reserve. */
  expectedSlots = 0;

  /** The cache in buffers with room for `slots` slots, made from the past tensors the first time. */
  capacityFor(slots: number, maxSlots: number, grow?: number): KvCapacity {
    this.capacity ??= KvCapacity.from(this.pastTensors, this.batch, this.kvHeads, this.headDim, maxSlots, grow, this.expectedSlots);
    this.capacity.ensure(slots);
    return this.capacity;
  }

  constructor(readonly batch: number, readonly layers: number, readonly kvHeads: number, readonly headDim: number,
    readonly slidingWindow = Infinity) {
    this.visible = Array.from({ length: batch }, () => new Uint8Array(0));
    this.slotPos = Array.from({ length: batch }, () => new Int32Array(0));
    this.nextPos = new Array(batch).fill(0);
    const empty = new ort.Tensor('float32', new Float32Array(0), [batch, kvHeads, 0, headDim]);
    this.past = Array.from({ length: 2 * layers }, () => empty);
  }

  get length(): number {
    return this.visible[0].length;
  }

  /** Record n more real slots per row whose bias and positions the graph computed itself (decode loop). */
  advance(n: number): void {
    for (let b = 0; b < this.batch; b++) this.grow(b, new Array<boolean>(Math.max(0, n)).fill(true));
  }

  /** Add slots to row b (real: a token, else padding); returns the grown visibility and positions. */
  private grow(b: number, real: boolean[]): { vis: Uint8Array; pos: Int32Array } {
    const P = this.visible[b].length;
    const vis = new Uint8Array(P + real.length);
    const pos = new Int32Array(P + real.length);
    vis.set(this.visible[b]);
    pos.set(this.slotPos[b]);
    real.forEach((r, t) => { vis[P + t] = r ? 1 : 0; pos[P + t] = r ? this.nextPos[b]++ : 0; });
    this.visible[b] = vis;
    this.slotPos[b] = pos;
    return { vis, pos };
  }

  /**
   * Append T slots per row; `real[b][t]` says whether slot t of row b is a real token.
   * Returns position ids [B, T] and the bias [B, 1, T, S] for this step, S = C + T: columns 0..P−1 the cached
   * slots, then the T new ones from column C. C is P for graphs with past/present; a capacity cache
   * (runtime/kv-capacity.ts) passes its capacity, and its unused columns P..C−1 stay hidden.
   */
  append(real: boolean[][], C = this.length): { positions: BigInt64Array; bias: Float32Array; T: number; S: number } {
    const B = this.batch;
    const T = real[0].length;
    const P = this.length;
    const S = C + T;
    const positions = new BigInt64Array(B * T);
    const bias = new Float32Array(B * T * S).fill(MASK_MIN);
    const W = this.slidingWindow;
    for (let b = 0; b < B; b++) {
      const { vis, pos } = this.grow(b, real[b]);
      for (let t = 0; t < T; t++) {
        const q = pos[P + t];
        positions[b * T + t] = BigInt(q);
        const row = (b * T + t) * S;
        for (let j = 0; j <= P + t; j++) if (vis[j] && q - pos[j] < W) bias[row + (j < P ? j : C + j - P)] = 0;
      }
    }
    return { positions, bias, T, S };
  }
}
