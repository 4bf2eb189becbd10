// AdamW (decoupled weight decay, bias correction), gradient clipping and the learning-rate schedule.
// AdamW is compared with a float64 transcription of torch.optim.AdamW's documented algorithm.

import * as assert from 'assert';
import { AdamW, clipGradNorm, lrAt } from '../../../src/engine/train/optim';
import type { TensorSet } from '../../../src/engine/train/tensors';

const set = (name: string, v: number[]): TensorSet => new Map([[name, { data: Float32Array.from(v), shape: [v.length] }]]);

describe('optimizer', () => {
  it('AdamW matches the float64 algorithm over several steps (torch.optim.AdamW semantics)', () => {
    const cfg = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const p = set('w', [0.5, -1.2, 2.0, 0.01]);
    const opt = new AdamW(p, cfg);
    const ref = [0.5, -1.2, 2.0, 0.01];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    const grads = [[0.1, -0.3, 0.0, 2.0], [0.2, 0.1, -0.5, 1.0], [-0.4, 0.2, 0.3, -1.0]];
    grads.forEach((g, k) => {
      const lr = 0.01 * (k + 1);
      opt.step(p, set('w', g), lr);
      const t = k + 1;
      for (let i = 0; i < 4; i++) {
        ref[i] *= 1 - lr * cfg.weightDecay;
        m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * g[i];
        v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * g[i] * g[i];
        const mh = m[i] / (1 - cfg.beta1 ** t);
        const vh = v[i] / (1 - cfg.beta2 ** t);
        ref[i] -= lr * mh / (Math.sqrt(vh) + cfg.eps);
      }
    });
    p.get('w')!.data.forEach((x, i) => assert.ok(Math.abs(x - ref[i]) < 1e-6, `${x} vs ${ref[i]}`));
  });

  it('the first step moves every coordinate by lr against its gradient; decay is decoupled', () => {
    const p = set('w', [1, 1, 1]);
    new AdamW(p, { beta1: 0.9, beta2: 0.999, eps: 1e-12, weightDecay: 0 }).step(p, set('w', [3, -0.001, 0]), 0.1);
    assert.deepEqual(Array.from(p.get('w')!.data).map((x) => Number(x.toFixed(6))), [0.9, 1.1, 1]);
    const q = set('w', [2]);
    new AdamW(q, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 }).step(q, set('w', [0]), 0.1);
    assert.equal(q.get('w')!.data[0], Math.fround(2 * (1 - 0.1 * 0.5)));
    const r = set('w', [2]);
    new AdamW(r, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 }, () => false).step(r, set('w', [0]), 0.1);
    assert.equal(r.get('w')!.data[0], 2, 'no decay where decay() says so');
  });

  it('minimizes a quadratic', () => {
    const p = set('w', [5, -3]);
    const opt = new AdamW(p, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    for (let i = 0; i < 500; i++) {
      const w = p.get('w')!.data;
      opt.step(p, set('w', [2 * (w[0] - 1), 2 * (w[1] + 2)]), 0.05);
    }
    const w = p.get('w')!.data;
    assert.ok(Math.abs(w[0] - 1) < 1e-2 && Math.abs(w[1] + 2) < 1e-2, `${w}`);
  });

  it('clipGradNorm scales to the max norm and returns the norm before', () => {
    const g = set('a', [3, 4]);
    assert.equal(clipGradNorm(g, 1), 5);
    const d = g.get('a')!.data;
    assert.ok(Math.abs(Math.hypot(d[0], d[1]) - 1) < 1e-5);
    const h = set('a', [0.3, 0.4]);
    clipGradNorm(h, 1);
    assert.deepEqual(Array.from(h.get('a')!.data), [Math.fround(0.3), Math.fround(0.4)]);
  });

  it('schedule: linear warmup, then cosine or linear decay to the floor, or constant', () => {
    const c = { lr: 1, warmupSteps: 4, schedule: 'cosine' as const, minLrRatio: 0.1 };
    assert.deepEqual([0, 1, 2, 3].map((s) => lrAt(s, 104, c)), [0.25, 0.5, 0.75, 1]);
    assert.ok(Math.abs(lrAt(54, 104, c) - 0.55) < 1e-12);
    assert.ok(Math.abs(lrAt(104, 104, c) - 0.1) < 1e-12);
    assert.ok(Math.abs(lrAt(29, 104, { ...c, schedule: 'linear' }) - (0.1 + 0.9 * 0.75)) < 1e-12);
    assert.equal(lrAt(80, 104, { ...c, schedule: 'constant' }), 1);
  });
});
