// AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's torch.optim.AdamW semantics),
// global-norm gradient clipping and the learning-rate schedule (linear warmup, then cosine, linear
// or constant). Runs in JS over Float32Arrays: the trainable tensors of prompt/prefix/LoRA training
// are small, and for full training of a few-million-parameter model a step costs milliseconds.

import type { TensorSet } from './tensors';
import { zerosLike } from './tensors';

export interface AdamWConfig {
  beta1: number;         // 0.9
  beta2: number;         // 0.999
  eps: number;           // 1e-8
  weightDecay: number;   // the paper: 1e-5
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-5 };

export class AdamW {
  m: TensorSet;
  v: TensorSet;
  /** Number of updates applied (bias correction uses t). */
  t = 0;

  constructor(params: TensorSet, readonly cfg: AdamWConfig, readonly decay: (name: string) => boolean = () => true) {
    this.m = zerosLike(params);
    this.v = zerosLike(params);
  }

  /**
   * One update at learning rate `lr` with gradients `grads` (already averaged and clipped):
   * p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr·m̂ / (√v̂ + ε).
   */
  step(params: TensorSet, grads: TensorSet, lr: number): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.cfg;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    const stepSize = lr / c1;
    const sqrtC2 = Math.sqrt(c2);
    for (const [name, p] of params) {
      const g = grads.get(name)!.data;
      const m = this.m.get(name)!.data;
      const v = this.v.get(name)!.data;
      const x = p.data;
      const shrink = this.decay(name) ? 1 - lr * weightDecay : 1;
      for (let i = 0; i < x.length; i++) {
        const gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        x[i] = x[i] * shrink - stepSize * m[i] / (Math.sqrt(v[i]) / sqrtC2 + eps);
      }
    }
  }
}

/** Scale gradients in place so their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(grads: TensorSet, maxNorm: number): number {
  let s = 0;
  for (const t of grads.values()) for (let i = 0; i < t.data.length; i++) s += t.data[i] * t.data[i];
  const norm = Math.sqrt(s);
  if (maxNorm > 0 && norm > maxNorm) {
    const k = maxNorm / (norm + 1e-6);
    for (const t of grads.values()) for (let i = 0; i < t.data.length; i++) t.data[i] *= k;
  }
  return norm;
}

export interface ScheduleConfig {
  lr: number;
  warmupSteps: number;
  schedule: 'cosine' | 'linear' | 'constant';
  /** Final learning rate as a fraction of lr (cosine/linear end there). */
  minLrRatio: number;
}

/** Learning rate for update number `step` (0-based) of `total`. */
export function lrAt(step: number, total: number, c: ScheduleConfig): number {
  if (step < c.warmupSteps) return c.lr * (step + 1) / c.warmupSteps;
  if (c.schedule === 'constant') return c.lr;
  const span = Math.max(1, total - c.warmupSteps);
  const p = Math.min(1, (step - c.warmupSteps) / span);
  const floor = c.lr * c.minLrRatio;
  const f = c.schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * p)) : 1 - p;
  return floor + (c.lr - floor) * f;
}
