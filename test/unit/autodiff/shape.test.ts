// VJPs of data-movement ops against float64 central finite differences (relative error ≤ 1e-6).

import * as assert from 'assert';
import { gradCheck, GradCase, CaseInput } from '../../helpers/gradcheck';

const TOL = 1e-6;
const d = (name: string, shape: number[], extra: Partial<CaseInput> = {}): CaseInput => ({ name, shape, elem: 'double', ...extra });
const i64 = (name: string, shape: number[], data: number[]): CaseInput => ({ name, shape, elem: 'int64', data });

async function check(c: GradCase): Promise<void> {
  const r = await gradCheck(c);
  for (const [name, e] of Object.entries(r.errors)) assert.ok(e <= TOL, `${name}: relative error ${e.toExponential(2)} > ${TOL}`);
}

describe('autodiff: data-movement VJPs (float64 finite differences)', () => {
  it('Reshape (with 0 and −1), Flatten, Squeeze, Unsqueeze', async () => {
    await check({ inputs: [d('a', [2, 3, 4])], build: (g, x) => g.mul(g.reshape(x.a, [0, -1]), g.reshape(x.a, [0, -1])) });
    await check({ inputs: [d('a', [2, 3, 4])], build: (g, x) => g.op('Flatten', [x.a], { axis: 2 }) });
    await check({ inputs: [d('a', [2, 1, 4])], build: (g, x) => g.op('Squeeze', [x.a, g.ints([1])]) });
    await check({ inputs: [d('a', [2, 4])], build: (g, x) => g.unsqueeze(x.a, [0, 2]) });
  });

  it('Transpose with a permutation and with the default (reversed) one', async () => {
    await check({ inputs: [d('a', [2, 3, 4, 5])], build: (g, x) => g.transpose(x.a, [2, 0, 3, 1]) });
    await check({ inputs: [d('a', [2, 3, 4])], build: (g, x) => g.op('Transpose', [x.a]) });
  });

  it('Expand sums back over the broadcast axes', async () => {
    await check({ inputs: [d('a', [3, 1])], build: (g, x) => g.op('Expand', [x.a, g.ints([2, 3, 4])]) });
  });

  it('Concat (including an empty part, like an empty KV cache) and its gradient split', async () => {
    await check({ inputs: [d('a', [2, 3]), d('b', [2, 5]), d('c', [2, 1])], build: (g, x) => g.concat([x.a, x.b, x.c], 1) });
    await check({ inputs: [d('p', [2, 0, 4], { declared: [2, 'past', 4] }), d('b', [2, 3, 4])], build: (g, x) => g.concat([x.p, x.b], 1) });
    await check({ inputs: [d('a', [2, 3], { declared: ['n', 'm'] }), d('b', [2, 5], { declared: ['n', 'k'] })], build: (g, x) => g.concat([x.a, x.b], -1) });
  });

  it('Split, with an output nobody uses getting zeros', async () => {
    await check({
      inputs: [d('a', [2, 9])],
      build: (g, x) => {
        const [p, , r] = g.node('Split', [x.a, g.ints([2, 3, 4])], { axis: 1 }, { outputs: 3 });
        return [p, r];
      },
    });
  });

  it('Slice with negative starts, ends past the end and explicit axes', async () => {
    await check({ inputs: [d('a', [4, 6])], build: (g, x) => g.slice(x.a, [1, -4], [3, 1000], [0, 1]) });
    await check({ inputs: [d('a', [3, 5, 2])], build: (g, x) => g.slice(x.a, [-1], [Number.MAX_SAFE_INTEGER], [1]) });
    await check({ inputs: [d('a', [3, 5])], build: (g, x) => g.op('Slice', [x.a, g.ints([1, 2]), g.ints([3, 4])]) });
  });

  it('Gather on axis 0 with repeated and negative indices (embedding → scatter-add)', async () => {
    await check({ inputs: [d('table', [6, 4]), i64('ids', [2, 3], [1, 4, 1, 5, -1, 0])], build: (g, x) => g.gather(x.table, x.ids, 0) });
  });

  it('Gather on an inner axis, and with a scalar index', async () => {
    await check({ inputs: [d('a', [3, 5, 2]), i64('ids', [4], [4, 0, 4, 2])], build: (g, x) => g.gather(x.a, x.ids, 1) });
    await check({ inputs: [d('a', [3, 5]), i64('i', [], [2])], build: (g, x) => g.gather(x.a, x.i, 0) });
  });

  it('GatherElements (scatter-add with ScatterElements)', async () => {
    await check({ inputs: [d('a', [3, 5]), i64('ids', [3, 2], [1, 1, 4, 0, -1, 2])], build: (g, x) => g.op('GatherElements', [x.a, x.ids], { axis: 1 }) });
  });
});
