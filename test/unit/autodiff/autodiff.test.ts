// The reverse-mode pass itself: pruning of branches that do not reach a requested value, only the
// requested gradients, zero gradients for values that do not reach the loss, intermediate values,
// typed errors, backward node naming — and that the finite-difference harness does catch a wrong VJP.

import * as assert from 'assert';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/builder';
import { appendBackward, exposeGradients } from '../../../src/engine/onnx/autodiff';
import { pruneGraph } from '../../../src/engine/onnx/prune';
import { registerVjp, vjpFor } from '../../../src/engine/onnx/vjp';
import { gradCheck } from '../../helpers/gradcheck';
import { expectIdpError } from '../../helpers/tiny-hf';

function threeBranches(): GraphBuilder {
  const g = new GraphBuilder('/');
  const a = g.input('a', 'double', [3]);
  const b = g.input('b', 'double', [3]);
  const c = g.input('c', 'double', [3]);
  const fa = g.op('Tanh', [a], {}, 'branch_a');
  const fb = g.op('Sigmoid', [b], {}, 'branch_b');
  const fc = g.op('Exp', [c], {}, 'branch_c');
  const loss = g.op('ReduceSum', [g.add(g.add(fa, fb), fc)], { keepdims: 0 }, 'loss');
  g.output(loss, 'loss', 'double', []);
  return g;
}

const run = async (g: GraphBuilder, feeds: Record<string, number[]>) => {
  const s = await ort.InferenceSession.create(g.toModelProto(), { logSeverityLevel: 3 });
  const f: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = new ort.Tensor('float64', Float64Array.from(v), [v.length]);
  return s.run(f);
};

describe('autodiff: the reverse pass', () => {
  it('differentiates only the branch that reaches a requested input', () => {
    const g = threeBranches();
    const res = appendBackward(g, { loss: 'loss', wrt: ['a'] });
    const back = g.nodes.filter((n) => n.name!.startsWith('/grad/'));
    assert.ok(back.some((n) => n.name!.startsWith('/grad/branch_a/')), 'Tanh VJP emitted');
    assert.ok(!back.some((n) => /branch_b|branch_c/.test(n.name!)), 'no VJP for the other branches');
    assert.equal(res.grads.size, 1);
    assert.equal(res.activeNodes, 5); // Tanh, two Adds, ReduceSum and the Identity naming the output 'loss'
  });

  it('gives zeros for a requested input that does not reach the loss, and gradients of intermediates', async () => {
    const g = threeBranches();
    const extra = g.input('unused', 'double', [2]);
    g.op('Neg', [extra]);
    const res = appendBackward(g, { loss: 'loss', wrt: ['unused', 'a', '/branch_a_output_0'] });
    exposeGradients(g, res, (n) => `d_${n.replace(/\W/g, '_')}`);
    pruneGraph(g);
    const a = [0.1, -0.4, 0.9];
    const out = await run(g, { a, b: [0, 0, 0], c: [0, 0, 0], unused: [5, 6] });
    assert.deepEqual(Array.from(out.d_unused.data as Float64Array), [0, 0]);
    assert.deepEqual(Array.from(out.d__branch_a_output_0.data as Float64Array), [1, 1, 1]);
    (out.d_a.data as Float64Array).forEach((v, i) => assert.ok(Math.abs(v - (1 - Math.tanh(a[i]) ** 2)) < 1e-15));
  });

  it('names backward nodes by the forward node they differentiate', () => {
    const g = threeBranches();
    appendBackward(g, { loss: 'loss', wrt: ['a', 'b', 'c'] });
    for (const fwd of ['branch_a', 'branch_b', 'branch_c', 'loss']) {
      assert.ok(g.nodes.some((n) => n.name!.startsWith(`/grad/${fwd}/`)), fwd);
    }
  });

  it('typed errors: unknown names, integer values, ops without a VJP on the path', async () => {
    await expectIdpError(() => appendBackward(threeBranches(), { loss: 'loss', wrt: ['nope'] }), 'INPUT', undefined, /no value named 'nope'/);
    await expectIdpError(() => appendBackward(threeBranches(), { loss: 'missing', wrt: ['a'] }), 'INPUT', undefined, /missing/);
    const g = new GraphBuilder('/');
    const ids = g.input('ids', 'int64', [3]);
    const x = g.input('x', 'double', [3]);
    const y = g.op('Sin', [x], {}, 'sine');
    const loss = g.op('ReduceSum', [g.mul(y, g.cast(ids, 'double'))], { keepdims: 0 });
    await expectIdpError(() => appendBackward(g, { loss, wrt: ['ids'] }), 'INPUT', undefined, /not a floating-point/);
    await expectIdpError(() => appendBackward(g, { loss, wrt: ['x'] }), 'UNSUPPORTED', undefined, /no VJP for Sin \(node '\/sine'\)/);
  });

  it('an op without a VJP off the differentiated path is fine', async () => {
    const g = new GraphBuilder('/');
    const x = g.input('x', 'double', [3]);
    const z = g.input('z', 'double', [3]);
    const loss = g.op('ReduceSum', [g.mul(g.op('Sin', [z]), x)], { keepdims: 0 });
    g.output(loss, 'loss', 'double', []);
    exposeGradients(g, appendBackward(g, { loss, wrt: ['x'] }));
    const out = await run(g, { x: [1, 2, 3], z: [0.5, 1, 2] });
    (out['grad.x'].data as Float64Array).forEach((v, i) => assert.ok(Math.abs(v - Math.sin([0.5, 1, 2][i])) < 1e-15));
  });

  it('the finite-difference harness catches a wrong VJP', async () => {
    const right = vjpFor('Tanh')!;
    registerVjp('Tanh', (c) => [c.mul(c.dy0, c.y[0])]); // wrong: y instead of 1 − y²
    try {
      const r = await gradCheck({ inputs: [{ name: 'a', shape: [4], elem: 'double' }], build: (g, x) => g.op('Tanh', [x.a]) });
      assert.ok(r.maxError > 0.1, `error ${r.maxError}`);
    } finally {
      registerVjp('Tanh', right);
    }
    const ok = await gradCheck({ inputs: [{ name: 'a', shape: [4], elem: 'double' }], build: (g, x) => g.op('Tanh', [x.a]) });
    assert.ok(ok.maxError < 1e-8);
  });
});
