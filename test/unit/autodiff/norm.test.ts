// VJPs of Softmax, LogSoftmax, RMSNormalization, LayerNormalization, reductions, RotaryEmbedding and
// the cross-entropy composite, against central finite differences. All in float64 (≤ 1e-6) except
// RotaryEmbedding, which has no float64 kernel in onnxruntime 1.30: it is linear in x, so it is checked
// in float32 with h = 1 (finite differences of a linear map are exact up to round-off), tolerance 1e-5.

import * as assert from 'assert';
import { gradCheck, GradCase, CaseInput } from '../../helpers/gradcheck';
import { crossEntropy } from '../../../src/engine/train/loss';

const TOL = 1e-6;
const d = (name: string, shape: number[], extra: Partial<CaseInput> = {}): CaseInput => ({ name, shape, elem: 'double', ...extra });

async function check(c: GradCase, tol = TOL): Promise<void> {
  const r = await gradCheck(c);
  for (const [name, e] of Object.entries(r.errors)) assert.ok(e <= tol, `${name}: relative error ${e.toExponential(2)} > ${tol}`);
}

function ropeTables(maxPos: number, rotDim: number): { cos: number[]; sin: number[] } {
  const half = rotDim / 2;
  const cos: number[] = [];
  const sin: number[] = [];
  for (let p = 0; p < maxPos; p++) for (let i = 0; i < half; i++) {
    const a = p * 10000 ** (-(2 * i) / rotDim);
    cos.push(Math.cos(a));
    sin.push(Math.sin(a));
  }
  return { cos, sin };
}

describe('autodiff: normalization, reduction and rotary VJPs (finite differences)', () => {
  it('Softmax on the last axis and on an inner axis', async () => {
    await check({ inputs: [d('a', [2, 3, 5], { range: [-2, 2] })], build: (g, x) => g.softmax(x.a) });
    await check({ inputs: [d('a', [2, 3, 5], { range: [-2, 2] })], build: (g, x) => g.softmax(x.a, 1) });
  });

  it('Softmax after an additive −1e9 mask (masked keys get exactly zero gradient)', async () => {
    const mask = [0, -1e9, 0, 0, -1e9, -1e9, 0, 0];
    await check({
      inputs: [d('s', [2, 4]), d('m', [2, 4], { data: mask, wrt: false })],
      build: (g, x) => g.softmax(g.add(x.s, x.m)),
    });
  });

  it('LogSoftmax', async () => {
    await check({ inputs: [d('a', [3, 7], { range: [-3, 3] })], build: (g, x) => g.op('LogSoftmax', [x.a], { axis: -1 }) });
  });

  it('RMSNormalization: x and the scale', async () => {
    await check({ inputs: [d('x', [2, 3, 8]), d('w', [8], { range: [0.5, 1.5] })], build: (g, x) => g.op('RMSNormalization', [x.x, x.w], { axis: -1, epsilon: { float: 1e-5 } }) });
    await check({ inputs: [d('x', [6, 8], { declared: ['n', 8] }), d('w', [8])], build: (g, x) => g.op('RMSNormalization', [x.x, x.w], { epsilon: { float: 1e-3 } }) });
  });

  it('LayerNormalization: x, scale and bias; without bias; over the last two axes', async () => {
    await check({ inputs: [d('x', [2, 3, 8]), d('w', [8]), d('b', [8])], build: (g, x) => g.op('LayerNormalization', [x.x, x.w, x.b], { axis: -1, epsilon: { float: 1e-5 } }) });
    await check({ inputs: [d('x', [4, 6]), d('w', [6])], build: (g, x) => g.op('LayerNormalization', [x.x, x.w], { epsilon: { float: 1e-5 } }) });
    await check({ inputs: [d('x', [2, 3, 4]), d('w', [3, 4]), d('b', [4])], build: (g, x) => g.op('LayerNormalization', [x.x, x.w, x.b], { axis: -2 }) });
  });

  it('ReduceSum / ReduceMean: keepdims 0 and 1, all axes, empty axes as a no-op', async () => {
    for (const op of ['ReduceSum', 'ReduceMean']) {
      await check({ inputs: [d('a', [2, 3, 4])], build: (g, x) => g.op(op, [x.a, g.ints([1])], { keepdims: 1 }) });
      await check({ inputs: [d('a', [2, 3, 4])], build: (g, x) => g.op(op, [x.a, g.ints([-1, 0])], { keepdims: 0 }) });
      await check({ inputs: [d('a', [2, 3, 4])], build: (g, x) => g.op(op, [x.a], { keepdims: 0 }) });
      await check({ inputs: [d('a', [2, 3], { declared: ['n', 'm'] })], build: (g, x) => g.op(op, [x.a, g.ints([1])], { keepdims: 0 }) });
    }
    await check({ inputs: [d('a', [2, 3])], build: (g, x) => g.op('ReduceSum', [x.a, g.ints([])], { noop_with_empty_axes: 1 }) });
  });

  it('RotaryEmbedding (float32): 3-D with num_heads, 4-D, interleaved, partial rotary dim', async () => {
    const tol = 1e-5;
    const pos = { name: 'pos', shape: [2, 3], elem: 'int64' as const, data: [0, 1, 2, 5, 6, 7] };
    const full = ropeTables(8, 4);
    const f32 = (name: string, shape: number[]): CaseInput => ({ name, shape, elem: 'float' });
    const tables = (g: import('../../../src/engine/onnx/builder').GraphBuilder, t: { cos: number[]; sin: number[] }, half: number) =>
      [g.constant('float', [8, half], t.cos), g.constant('float', [8, half], t.sin)];
    await check({
      inputs: [f32('x', [2, 3, 8]), pos], h: 1,
      build: (g, x) => { const [c, s] = tables(g, full, 2); return g.op('RotaryEmbedding', [x.x, c, s, x.pos], { num_heads: 2 }); },
    }, tol);
    await check({
      inputs: [f32('x', [2, 3, 8]), pos], h: 1,
      build: (g, x) => { const [c, s] = tables(g, full, 2); return g.op('RotaryEmbedding', [x.x, c, s, x.pos], { num_heads: 2, interleaved: 1 }); },
    }, tol);
    await check({
      inputs: [f32('x', [2, 2, 3, 4]), pos], h: 1,
      build: (g, x) => { const [c, s] = tables(g, full, 2); return g.op('RotaryEmbedding', [x.x, c, s, x.pos]); },
    }, tol);
    const part = ropeTables(8, 2);
    await check({
      inputs: [f32('x', [2, 3, 8]), pos], h: 1,
      build: (g, x) => { const [c, s] = tables(g, part, 1); return g.op('RotaryEmbedding', [x.x, c, s, x.pos], { num_heads: 2, rotary_embedding_dim: 2 }); },
    }, tol);
  });

  it('cross-entropy with an ignore index (LogSoftmax → GatherElements → masked sum)', async () => {
    const labels = { name: 'labels', shape: [5], elem: 'int64' as const, data: [3, -100, 0, 6, -100] };
    await check({
      inputs: [d('logits', [5, 7], { range: [-2, 2] }), labels],
      build: (g, x) => {
        const ce = crossEntropy(g, x.logits, x.labels, 'double');
        return [ce.sum, ce.mean];
      },
    });
  });
});
