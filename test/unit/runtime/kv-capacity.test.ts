// The in-place KV cache's buffers (runtime/kv-capacity.ts): every filled slot keeps its key and value through
// growth inside the reserved store (slots moved to the new stride) and past it (a new store), for every batch
// row and kv head; the views ORT reads are exactly [B, K, C, D].

import { strict as assert } from 'assert';
import * as ort from 'onnxruntime-node';
import { capacityFor, KvCapacity } from '../../../src/engine/runtime/kv-capacity';

const B = 2, K = 3, D = 4, L = 2;

/** The value the test writes for (layer, key or value, row, head, slot, dim): distinct everywhere. */
const mark = (l: number, v: number, b: number, k: number, slot: number, d: number) => ((((l * 2 + v) * B + b) * K + k) * 1000 + slot) * 10 + d;

/** One token's new_kv [B, 1, 2·L·K·D] for slot `slot`, as the capacity graph lays it out. */
function newKv(slot: number): Float32Array {
  const row = 2 * L * K * D;
  const out = new Float32Array(B * row);
  for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let v = 0; v < 2; v++) for (let k = 0; k < K; k++) {
    for (let d = 0; d < D; d++) out[b * row + (2 * l + v) * K * D + k * D + d] = mark(l, v, b, k, slot, d);
  }
  return out;
}

function check(c: KvCapacity, filled: number, what: string): void {
  const C = c.capacity;
  for (let l = 0; l < L; l++) for (const [v, buf] of [[0, c.keys[l]], [1, c.values[l]]] as const) {
    assert.equal(buf.length, B * K * C * D, `${what}: layer ${l} buffer is [B, K, C, D]`);
    for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) for (let s = 0; s < filled; s++) for (let d = 0; d < D; d++) {
      assert.equal(buf[((b * K + k) * C + s) * D + d], mark(l, v, b, k, s, d), `${what}: layer ${l} ${v ? 'value' : 'key'} row ${b} head ${k} slot ${s}`);
    }
  }
}

describe('KV cache in place: buffers', () => {
  it('keeps every filled slot through growth within the reserved room and past it', () => {
    const empty = new ort.Tensor('float32', new Float32Array(0), [B, K, 0, D]);
    const c = KvCapacity.from(Array.from({ length: 2 * L }, () => empty), B, K, D, 1000, 4);
    const capacities = new Set<number>();
    const reserved = new Set<number>();
    for (let slot = 0; slot < 40; slot++) {
      c.ensure(slot + 1);
      c.writeAll(newKv(slot), 1);
      c.advance(1);
      capacities.add(c.capacity);
      reserved.add(c.reserved);
      check(c, slot + 1, `after slot ${slot}`);
    }
    assert.ok(capacities.size >= 5, `the buffers grew several times (${[...capacities]})`);
    assert.ok(reserved.size >= 2, `and at least once past the reserved room (${[...reserved]})`);
    assert.ok([...capacities].some((C) => C < Math.max(...reserved)), 'some growth happened within the reserved room');
    const [key] = c.tensors(0);
    assert.deepEqual(key.dims, [B, K, c.capacity, D]);
    // the cache taken back out as past tensors [B, K, P, D]
    const past = c.toPast();
    for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) {
      assert.equal((past[3].data as Float32Array)[((b * K + k) * 40 + 39) * D + 2], mark(1, 1, b, k, 39, 2));
    }
  });

  it('capacities: blocks of 32 slots up to 256, then ~1/8 of the cache, never past the context unless more slots are needed', () => {
    const seen: number[] = [];
    for (let slots = 1; slots <= 2048; slots++) {
      const C = capacityFor(slots, 2048);
      assert.ok(C >= slots && C <= 2048, `${slots} slots → ${C}`);
      if (seen[seen.length - 1] !== C) seen.push(C);
    }
    assert.deepEqual(seen.slice(0, 9), [32, 64, 96, 128, 160, 192, 224, 256, 320]);
    assert.equal(capacityFor(2049, 2048), 2049, 'past the context: exactly what is needed');
    assert.equal(capacityFor(100, 2048, 4), 112, 'blocks of ~1/8 of the cache in multiples of grow (16 here)');
    // the buffers a decode grows through are exactly these capacities
    const empty = new ort.Tensor('float32', new Float32Array(0), [1, 1, 0, 2]);
    const c = KvCapacity.from([empty, empty], 1, 1, 2, 2048, 32, 600);
    const grown: number[] = [];
    for (let slots = 1; slots <= 700; slots++) { c.ensure(slots); if (grown[grown.length - 1] !== c.capacity) grown.push(c.capacity); }
    assert.deepEqual(grown, seen.filter((C) => C <= grown[grown.length - 1]));
    assert.ok(c.reserved >= 600, `the first store reserved the expected slots (${c.reserved})`);
  });
});
