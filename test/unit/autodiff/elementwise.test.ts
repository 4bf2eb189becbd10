// VJPs of elementwise ops against float64 central finite differences (relative error ≤ 1e-6).
// Erf and exact Gelu have no float64 kernel in onnxruntime 1.30 (Erf(13) is float-only), so they are
// checked in float32 with h = 1e-2 and a tolerance of 2e-4 (float32 round-off over 2h dominates).

import * as assert from 'assert';
import { gradCheck, GradCase, CaseInput } from '../../helpers/gradcheck';
import type { Value } from '../../../src/engine/onnx/builder';

const TOL64 = 1e-6;
const TOL32 = 2e-4;

const d = (name: string, shape: number[], extra: Partial<CaseInput> = {}): CaseInput => ({ name, shape, elem: 'double', ...extra });
const f = (name: string, shape: number[], extra: Partial<CaseInput> = {}): CaseInput => ({ name, shape, elem: 'float', ...extra });

async function check(c: GradCase, tol = TOL64): Promise<void> {
  const r = await gradCheck(c);
  for (const [name, e] of Object.entries(r.errors)) assert.ok(e <= tol, `${name}: relative error ${e.toExponential(2)} > ${tol}`);
  assert.ok(Object.keys(r.errors).length > 0);
}

const binary = (op: string) => (g: import('../../../src/engine/onnx/builder').GraphBuilder, x: Record<string, Value>) => g.op(op, [x.a, x.b]);

describe('autodiff: elementwise VJPs (float64 finite differences)', () => {
  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    const pos: Partial<CaseInput> = op === 'Div' ? { range: [0.5, 2] } : {};
    it(`${op}: same shapes, and broadcasting [2,3,4]∘[4], [2,3,4]∘[3,1], [3,4]∘scalar`, async () => {
      await check({ inputs: [d('a', [3, 4]), d('b', [3, 4], pos)], build: binary(op) });
      await check({ inputs: [d('a', [2, 3, 4]), d('b', [4], pos)], build: binary(op) });
      await check({ inputs: [d('a', [2, 3, 4]), d('b', [3, 1], pos)], build: binary(op) });
      await check({ inputs: [d('a', [3, 4]), d('b', [], pos)], build: binary(op) });
      await check({ inputs: [d('a', [1, 4], op === 'Div' ? pos : {}), d('b', [3, 1], pos)], build: binary(op) });
    });
  }

  it('broadcasting decided at run time: symbolic dims that turn out to be 1', async () => {
    await check({ inputs: [d('a', [3, 4], { declared: ['n', 4] }), d('b', [1, 4], { declared: ['p', 4] })], build: binary('Mul') });
    await check({ inputs: [d('a', [2, 1, 4], { declared: ['n', 'q', 4] }), d('b', [3, 1], { declared: ['r', 's'] })], build: binary('Add') });
  });

  it('a value used several times accumulates its gradient (x·x + x·y − x)', async () => {
    await check({
      inputs: [d('x', [5]), d('y', [5])],
      build: (g, x) => g.sub(g.add(g.mul(x.x, x.x), g.mul(x.x, x.y)), x.x),
    });
  });

  it('Pow with a constant exponent', async () => {
    await check({ inputs: [d('a', [6], { range: [0.5, 2] })], build: (g, x) => g.op('Pow', [x.a, g.scalar(2.5, 'double')]) });
  });

  const unary: Array<[string, [number, number]]> = [
    ['Neg', [-1, 1]], ['Exp', [-1, 1]], ['Log', [0.5, 2]], ['Sqrt', [0.5, 2]], ['Reciprocal', [0.5, 2]], ['Abs', [0.2, 1]],
    ['Sigmoid', [-3, 3]], ['Tanh', [-2, 2]], ['Relu', [0.1, 1]], ['Identity', [-1, 1]],
  ];
  for (const [op, range] of unary) {
    it(op, async () => {
      await check({ inputs: [d('a', [2, 5], { range })], build: (g, x) => g.op(op, [x.a]) });
    });
  }

  it('Relu on both sides of zero (points away from the kink)', async () => {
    const data = [-0.9, -0.5, -0.1, 0.2, 0.6, 1.3];
    await check({ inputs: [d('a', [6], { data })], build: (g, x) => g.op('Relu', [x.a]) });
    await check({ inputs: [d('a', [6], { data: data.map((v) => -v) })], build: (g, x) => g.op('Abs', [x.a]) });
  });

  it('Gelu with the tanh approximation (float64)', async () => {
    await check({ inputs: [d('a', [3, 4], { range: [-3, 3] })], build: (g, x) => g.op('Gelu', [x.a], { approximate: 'tanh' }) });
  });

  it('Gelu exact and Erf (float32 only in ORT: h = 1e-2, tolerance 2e-4)', async () => {
    await check({ inputs: [f('a', [3, 4], { range: [-3, 3] })], build: (g, x) => g.op('Gelu', [x.a]) }, TOL32);
    await check({ inputs: [f('a', [3, 4], { range: [-2, 2] })], build: (g, x) => g.op('Erf', [x.a]) }, TOL32);
  });

  it('Where routes the gradient to the chosen branch; Max and Min to the chosen input', async () => {
    const cond: CaseInput = { name: 'c', shape: [2, 3], elem: 'bool', data: [1, 0, 1, 1, 0, 0] };
    await check({ inputs: [cond, d('a', [2, 3]), d('b', [3])], build: (g, x) => g.op('Where', [x.c, x.a, x.b]) });
    const a = [0.1, 0.9, -0.3, 0.5];
    const b = [0.4, 0.2, -0.8, 0.9];
    await check({ inputs: [d('a', [4], { data: a }), d('b', [4], { data: b })], build: binary('Max') });
    await check({ inputs: [d('a', [4], { data: a }), d('b', [4], { data: b })], build: binary('Min') });
  });

  it('Cast between float32 and float64 passes the gradient back in the source type', async () => {
    // the function is linear in the float32 input, so h = 1 is exact up to round-off
    await check({ inputs: [f('a', [2, 3])], h: 1, build: (g, x) => g.mul(g.cast(x.a, 'double'), g.scalar(3, 'double')) }, 1e-6);
  });
});
