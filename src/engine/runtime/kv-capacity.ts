// The KV cache of large-model generation as preallocated buffers the graph reads in place
// (models/cache-attention.ts): per layer a key and a value buffer [B, K, C, D] of capacity C ≥ P slots,
// of which slots 0..P−1 hold the cache in KvState's slot order. A run writes the new tokens' K/V
// ([B, T, 2·L·K·D] as the graph returns them) into slots P..P+T−1, after growing the buffers if they are full
// (see ensure()).
//
// Growth without allocation: each layer's key and value live in a store reserved for R ≥ C slots, and the
// [B, K, C, D] buffers ORT reads are views of its first B·K·C·D floats. Growing C within R moves each (row,
// head)'s filled slots to their new stride inside the store (copyWithin, last row first); only growing past R
// allocates (room for 4 more blocks or a quarter more, up to the model's context). Slots P..C−1 may hold
// stale keys and values after a move; the bias hides them as it hides every unused slot. A fresh allocation per growth cost ~4 ms on the 100M
// bench model (24 zero-filled buffers, their page faults and a full GC), ~1 % of a 128-token decode.

import * as ort from 'onnxruntime-node';
import { droppedLongLived } from './reclaim';

export const KV_GROW = 32;
/** At most this many slots beyond the first capacity are reserved for an expected generation (address space, not memory). */
const RESERVE_AHEAD = 2048;

/**
 * The capacity a cache needing `slots` slots gets: the next multiple of a block of `grow` slots, or of ~1/8 of
 * the cache when that is more (fewer copies of a long cache; little unused room on a short one), at most
 * `maxSlots` unless more are needed. Every capacity a decode can reach is one of capacityFor(1..maxSlots).
 */
export function capacityFor(slots: number, maxSlots: number, grow = KV_GROW): number {
  const block = Math.max(grow, Math.ceil(slots / 8 / grow) * grow);
  return Math.max(slots, Math.min(Math.ceil(slots / block) * block, maxSlots));
}

export class KvCapacity {
  readonly keys: Float32Array[] = [];     // per layer [B, K, C, D]: views of the stores
  readonly values: Float32Array[] = [];
  capacity = 0;
  /** Slots the stores hold room for (R ≥ C). */
  reserved = 0;
  private keyStores: Float32Array[] = [];
  private valueStores: Float32Array[] = [];

  private constructor(readonly batch: number, readonly layers: number, readonly kvHeads: number, readonly headDim: number,
    public length: number, private readonly maxSlots: number, private readonly grow: number, private readonly expected: number) {}

  /**
   * Buffers holding the cache `past` ([2·layers] tensors [B, K, P, D], key and value alternating). `expected`:
   * the slots the caller expects to fill (a generation's prompt + max tokens): the first store reserves room
   * for them, so the decode grows without allocating (untouched room costs address space, not memory).
   */
  static from(past: ort.Tensor[], batch: number, kvHeads: number, headDim: number, maxSlots: number, grow = KV_GROW, expected = 0): KvCapacity {
    const layers = past.length / 2;
    const P = past[0].dims[2];
    const c = new KvCapacity(batch, layers, kvHeads, headDim, P, maxSlots, grow, expected);
    c.resize(P);
    for (let l = 0; l < layers; l++) {
      c.copyRows(past[2 * l].data as Float32Array, P, c.keys[l], c.capacity, P);
      c.copyRows(past[2 * l + 1].data as Float32Array, P, c.values[l], c.capacity, P);
    }
    return c;
  }

  /** Room for at least `slots` slots (capacity capacityFor(slots)). */
  ensure(slots: number): void {
    if (slots > this.capacity) this.resize(slots);
  }

  private resize(slots: number): void {
    const C = capacityFor(slots, this.maxSlots, this.grow);
    const old = this.capacity;
    const rows = this.batch * this.kvHeads;
    const D = this.headDim;
    const first = this.keyStores.length === 0;
    if (first || C > this.reserved) {
      // a new store with room to grow: 4 blocks or a quarter more (a 128-token generation after a short prompt
      // grows within the first one; untouched room costs address space, not memory)
      const expected = first ? Math.min(capacityFor(Math.max(1, this.expected), this.maxSlots, this.grow), C + RESERVE_AHEAD) : 0;
      const room = Math.max(C + Math.max(4 * this.grow, Math.ceil(C / 4)), expected);
      const R = Math.max(C, Math.min(room, this.maxSlots));
      for (const stores of [this.keyStores, this.valueStores]) {
        for (let l = 0; l < this.layers; l++) {
          const next = new Float32Array(rows * R * D);
          if (stores[l]) this.copyRows(stores[l], old, next, C, this.length);   // straight to the new stride
          stores[l] = next;
        }
      }
      this.reserved = R;
      if (!first) droppedLongLived();
    } else {
      // within the store: each (row, head)'s filled slots move up to the new stride, the last one first
      for (const stores of [this.keyStores, this.valueStores]) {
        for (const store of stores) {
          for (let bk = rows - 1; bk > 0; bk--) store.copyWithin(bk * C * D, bk * old * D, (bk * old + this.length) * D);
        }
      }
    }
    for (let l = 0; l < this.layers; l++) {
      this.keys[l] = this.keyStores[l].subarray(0, rows * C * D);
      this.values[l] = this.valueStores[l].subarray(0, rows * C * D);
    }
    this.capacity = C;
  }

  /** The first n slots of every (row, head) from a buffer of capacity cs into one of capacity cd. */
  private copyRows(src: Float32Array, cs: number, dst: Float32Array, cd: number, n: number): void {
    const D = this.headDim;
    for (let bk = 0; bk < this.batch * this.kvHeads; bk++) dst.set(src.subarray(bk * cs * D, (bk * cs + n) * D), bk * cd * D);
  }

  /**
   * The new tokens' keys and values of every layer, as a capacity graph's new_kv returns them ([B, T, 2·L·K·D]:
   * key 0, value 0, key 1, …, each K·D), into slots length..length+T−1 (then advance(T)).
   */
  writeAll(kv: Float32Array, T: number): void {
    const D = this.headDim;
    const K = this.kvHeads;
    const C = this.capacity;
    const P = this.length;
    const row = 2 * this.layers * K * D;
    for (let b = 0; b < this.batch; b++) {
      for (let t = 0; t < T; t++) {
        const base = (b * T + t) * row;
        for (let l = 0; l < this.layers; l++) {
          const keys = this.keys[l];
          const values = this.values[l];
          for (let k = 0; k < K; k++) {
            const src = base + 2 * l * K * D + k * D;
            const dst = ((b * K + k) * C + P + t) * D;
            keys.set(kv.subarray(src, src + D), dst);
            values.set(kv.subarray(src + K * D, src + K * D + D), dst);
          }
        }
      }
    }
  }

  advance(T: number): void {
    this.length += T;
  }

  /** Tensors over the buffers (no copy): cache key and value of layer l, [B, K, C, D]. */
  tensors(l: number): [ort.Tensor, ort.Tensor] {
    const dims = [this.batch, this.kvHeads, this.capacity, this.headDim];
    return [new ort.Tensor('float32', this.keys[l], dims), new ort.Tensor('float32', this.values[l], dims)];
  }

  /** The cache as past tensors [B, K, P, D] (a copy), for graphs with the concat contract. */
  toPast(): ort.Tensor[] {
    const P = this.length;
    const out: ort.Tensor[] = [];
    for (let l = 0; l < this.layers; l++) {
      for (const buf of [this.keys[l], this.values[l]]) {
        const t = new Float32Array(this.batch * this.kvHeads * P * this.headDim);
        this.copyRows(buf, this.capacity, t, P, P);
        out.push(new ort.Tensor('float32', t, [this.batch, this.kvHeads, P, this.headDim]));
      }
    }
    return out;
  }
}
