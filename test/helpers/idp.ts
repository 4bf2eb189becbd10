// Helpers for the IDP tests: seeded random prompts at the embedding table's scale, random token rows,
// and comparisons of logits.

import * as assert from 'assert';
import type { LoadedModel } from '../../src/engine/models/config';
import { tokenEmbedding } from '../../src/engine/train/methods/prompt';
import { readTensorF32 } from '../../src/engine/formats/safetensors';
import { Rng } from '../../src/engine/rng';

/** A random prompt [n, e] with the embedding table's standard deviation × `scale`. */
export function randomPrompt(m: LoadedModel, n: number, seed: number, scale = 1): { embeddings: Float32Array; n: number } {
  const { name, width } = tokenEmbedding(m.config);
  const table = readTensorF32(m.weights.get(name)!);
  let s = 0;
  for (const v of table) s += v * v;
  const std = Math.sqrt(s / table.length) * scale;
  const rng = Rng.for(seed, 'test-prompt', n);
  return { embeddings: Float32Array.from({ length: n * width }, () => rng.normal() * std), n };
}

export function randomRows(V: number, lengths: number[], seed: number): number[][] {
  const r = new Rng(seed);
  return lengths.map((len) => Array.from({ length: len }, () => r.int(V)));
}


export function assertBitEqual(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  const i = a.findIndex((v, k) => !Object.is(v, b[k]));
  assert.ok(i < 0, `${what}: differ at ${i}: ${a[i]} vs ${b[i]}`);
}

export function argmax(a: ArrayLike<number>, from = 0, len = a.length): number {
  let best = from;
  for (let i = from; i < from + len; i++) if (a[i] > a[best]) best = i;
  return best - from;
}
