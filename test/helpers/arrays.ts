// Array helpers the forward and decode tests share: the largest absolute difference of two arrays and a
// deterministic token sequence.

import { strict as assert } from 'assert';

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** n token ids below `vocab`, a fixed function of `seed`. */
export function seq(n: number, vocab: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 31 + i * 17 + ((i * i) % 7)) % vocab);
}
