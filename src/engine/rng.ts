// The engine's seeded random numbers, two generators in one module:
//   Rng          keyed streams (mulberry32) for training and evaluation: every random choice is a pure
//                function of (seed, purpose, step, …) — a fresh stream per use — so a resumed run draws
//                exactly what an uninterrupted one would without saving generator state: data order per
//                epoch, dropout masks per step, initial values, subsamples, distractors, bootstrap.
//   SamplingRng  one stream per generation (xorshift64*) for token sampling (runtime/sampling.ts), and so
//                for everything sampled from a model (data-free corpora, calibration windows): kept as it
//                is so that seeded generations and model-sampled data repeat across versions.

/** 32-bit FNV-1a of a string. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for shuffles, masks and initialisation. */
export class Rng {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** A stream keyed by the run's seed and any labels, e.g. Rng.for(seed, 'dropout', step, module). */
  static for(seed: number, ...keys: Array<string | number>): Rng {
    return new Rng((fnv1a(keys.join('\u0000')) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }
}

/** xorshift64* — small, fast, seeded: the token sampler's stream (see above). */
export class SamplingRng {
  private s: bigint;
  constructor(seed = 42) {
    this.s = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + 1n) || 1n;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let x = this.s;
    x ^= x >> 12n; x ^= BigInt.asUintN(64, x << 25n); x ^= x >> 27n;
    this.s = x;
    return Number(BigInt.asUintN(64, x * 0x2545f4914f6cdd1dn) >> 11n) / 2 ** 53;
  }
}
