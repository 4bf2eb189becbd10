// Token sampling: greedy, temperature, top-k, top-p (nucleus), with a seeded generator (rng.ts SamplingRng)
// so runs repeat.

import type { SamplingRng } from '../rng';

export interface SamplingOptions {
  temperature?: number;   // 0 (default) = greedy
  topK?: number;          // 0 = off
  topP?: number;          // 1 = off
  seed?: number;
}

export function argmax(logits: Float32Array, offset = 0, n = logits.length - offset): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[offset + i];
    if (v > bv) { bv = v; best = i; }
  }
  return best;
}

/** Sample one id from the row logits[offset .. offset + n). */
export function sample(logits: Float32Array, offset: number, n: number, o: SamplingOptions, rng: SamplingRng): number {
  const t = o.temperature ?? 0;
  if (!(t > 0)) return argmax(logits, offset, n);
  const topP = o.topP ?? 1;
  if (!(o.topK && o.topK > 0 && o.topK < n) && !(topP > 0 && topP < 1)) {
    // plain multinomial over softmax(logits / t): no sort needed
    const max = logits[offset + argmax(logits, offset, n)];
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp((logits[offset + i] - max) / t);
    let r = rng.next() * sum;
    for (let i = 0; i < n; i++) {
      r -= Math.exp((logits[offset + i] - max) / t);
      if (r <= 0) return i;
    }
    return n - 1;
  }
  // candidates sorted by logit, cut by top-k
  let idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => logits[offset + b] - logits[offset + a]);
  if (o.topK && o.topK > 0 && o.topK < n) idx = idx.slice(0, o.topK);
  const max = logits[offset + idx[0]];
  const p = idx.map((i) => Math.exp((logits[offset + i] - max) / t));
  let sum = p.reduce((a, b) => a + b, 0);
  let keep = p.length;
  if (topP > 0 && topP < 1) {
    let cum = 0;
    for (let i = 0; i < p.length; i++) {
      cum += p[i] / sum;
      if (cum >= topP) { keep = i + 1; break; }
    }
    sum = p.slice(0, keep).reduce((a, b) => a + b, 0);
  }
  let r = rng.next() * sum;
  for (let i = 0; i < keep; i++) {
    r -= p[i];
    if (r <= 0) return idx[i];
  }
  return idx[keep - 1];
}
