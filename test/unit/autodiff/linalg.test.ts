// VJPs of MatMul (broadcast batch dims) and Gemm (transA/transB/alpha/beta, broadcast bias)
// against float64 central finite differences (relative error ≤ 1e-6).

import * as assert from 'assert';
import { gradCheck, GradCase, CaseInput } from '../../helpers/gradcheck';

const TOL = 1e-6;
const d = (name: string, shape: number[], extra: Partial<CaseInput> = {}): CaseInput => ({ name, shape, elem: 'double', ...extra });

async function check(c: GradCase): Promise<void> {
  const r = await gradCheck(c);
  for (const [name, e] of Object.entries(r.errors)) assert.ok(e <= TOL, `${name}: relative error ${e.toExponential(2)} > ${TOL}`);
}

describe('autodiff: MatMul and Gemm VJPs (float64 finite differences)', () => {
  it('MatMul 2-D, batched, and with broadcast batch dims on either side', async () => {
    await check({ inputs: [d('a', [3, 4]), d('b', [4, 5])], build: (g, x) => g.matmul(x.a, x.b) });
    await check({ inputs: [d('a', [2, 3, 4]), d('b', [2, 4, 5])], build: (g, x) => g.matmul(x.a, x.b) });
    await check({ inputs: [d('a', [2, 1, 3, 4]), d('b', [3, 4, 2])], build: (g, x) => g.matmul(x.a, x.b) });
  });

  it('MatMul of a batch against a shared 2-D matrix (folded into one product), symbolic batch', async () => {
    await check({ inputs: [d('a', [2, 3, 4], { declared: ['b', 's', 4] }), d('w', [4, 5])], build: (g, x) => g.matmul(x.a, x.w) });
    await check({ inputs: [d('a', [2, 3, 4], { declared: ['b', 's', 'k'] }), d('w', [4, 5], { declared: ['k', 'n'] })], build: (g, x) => g.matmul(x.a, x.w) });
  });

  it('attention-shaped products: q [B,K,G,T,D] · kᵀ [B,K,1,D,S], then probs · v', async () => {
    await check({ inputs: [d('q', [2, 2, 2, 3, 4]), d('k', [2, 2, 1, 4, 5])], build: (g, x) => g.matmul(x.q, x.k) });
    await check({ inputs: [d('p', [1, 2, 3, 3, 5]), d('v', [1, 2, 1, 5, 4], { declared: ['b', 2, 1, 's', 4] })], build: (g, x) => g.matmul(x.p, x.v) });
  });

  for (const [ta, tb] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
    it(`Gemm transA=${ta} transB=${tb} with alpha, beta and a bias`, async () => {
      const a = ta ? [4, 3] : [3, 4];
      const b = tb ? [5, 4] : [4, 5];
      await check({ inputs: [d('a', a), d('b', b), d('c', [5])], build: (g, x) => g.op('Gemm', [x.a, x.b, x.c], { transA: ta, transB: tb, alpha: { float: 0.75 }, beta: { float: 1.5 } }) });
    });
  }

  it('Gemm bias shapes [M,1] and scalar; Gemm without bias (the linear layer, transB = 1)', async () => {
    await check({ inputs: [d('a', [3, 4]), d('b', [5, 4]), d('c', [3, 1])], build: (g, x) => g.op('Gemm', [x.a, x.b, x.c], { transB: 1 }) });
    await check({ inputs: [d('a', [3, 4]), d('b', [5, 4]), d('c', [])], build: (g, x) => g.op('Gemm', [x.a, x.b, x.c], { transB: 1 }) });
    await check({ inputs: [d('a', [6, 4], { declared: ['n', 4] }), d('w', [5, 4])], build: (g, x) => g.gemmT(x.a, x.w) });
  });
});
