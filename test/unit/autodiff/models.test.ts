// Whole-model gradient checks: for each architecture's tiny random model, the fused forward+backward
// training graph (float32, ORT) gives d(loss)/d(every weight), where loss = summed next-token
// cross-entropy. The outside reference is the float64 forward of test/helpers/reference-forward.ts,
// differentiated by central finite differences (h = 1e-5) along a random direction per weight tensor.
//
// Metric: with fd_t and an_t the numeric and analytic directional derivatives of tensor t,
// ‖fd − an‖₂ / ‖fd‖₂ over all tensors ≤ 1e-4 (float32 forward/backward against float64), and every
// tensor within 1e-3 of the largest |fd| (k_proj biases have an exactly-zero gradient — softmax is
// shift-invariant — so a per-tensor relative error would only measure float32 noise).

import * as assert from 'assert';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { TINY_SPECS, TinySpecName, writeTinyModel, TinyModelSpec } from '../../helpers/oracle-models';
import { referenceLoss } from '../../helpers/gradcheck';
import { tmpDir } from '../../helpers/data';
import { prng } from '../../helpers/tiny-hf';
import { loadModel } from '../../../src/engine/models/load';
import { buildTrainGraph, trainIo } from '../../../src/engine/train/graph';
import { batchFeeds } from '../../../src/engine/train/batch';
import { createSession } from '../../../src/engine/runtime/session';

const root = tmpDir('idp-grad-models-');
const cases: Array<[string, TinyModelSpec]> = [
  ...Object.entries(TINY_SPECS) as Array<[TinySpecName, TinyModelSpec]>,
  ['mistral-window3', { ...TINY_SPECS.mistral, slidingWindow: 3 }],
];

describe('autodiff: whole-model gradients vs float64 finite differences of the reference forward', () => {
  for (const [name, spec] of cases) {
    it(name, async () => {
      const tiny = writeTinyModel(path.join(root, name), spec);
      const m = await loadModel(tiny.dir);
      const names = [...m.weights.keys()];
      const tg = buildTrainGraph(m, { weights: names });
      assert.deepEqual(tg.trainable, names);
      const s = await createSession(tg.proto, tg.weightsDir, { threads: 1 });
      const V = spec.vocabSize;
      const rand = prng(3);
      const rows = [0, 1].map(() => Array.from({ length: 7 }, () => Math.floor(rand() * V)));
      const feeds: Record<string, ort.Tensor> = batchFeeds(m.config, rows);
      for (const n of names) {
        const t = tiny.weights.get(n)!;
        feeds[n] = new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
      }
      const out = await s.run(feeds);
      const ref = referenceLoss(tiny.config, tiny.weights, rows, V);
      assert.ok(Math.abs(Number(out[trainIo.lossSum].data[0]) - ref) < 1e-4 * Math.abs(ref), `loss ${out[trainIo.lossSum].data[0]} vs ${ref}`);
      assert.equal(Number(out[trainIo.tokenCount].data[0]), 2 * 6);

      const h = 1e-5;
      const fd: number[] = [];
      const an: number[] = [];
      for (const n of names) {
        const t = tiny.weights.get(n)!;
        const dir = t.data.map(() => rand() * 2 - 1);
        const shifted = (sign: number) => new Map(tiny.weights).set(n, { data: t.data.map((v, i) => v + sign * h * dir[i]), shape: t.shape });
        fd.push((referenceLoss(tiny.config, shifted(1), rows, V) - referenceLoss(tiny.config, shifted(-1), rows, V)) / (2 * h));
        const g = out[trainIo.grad(n)].data as Float32Array;
        assert.deepEqual(out[trainIo.grad(n)].dims, t.shape, `${n}: gradient shape`);
        an.push(g.reduce((a, gi, i) => a + gi * dir[i], 0));
      }
      const norm = Math.sqrt(fd.reduce((a, v) => a + v * v, 0));
      const err = Math.sqrt(fd.reduce((a, v, i) => a + (v - an[i]) ** 2, 0)) / norm;
      assert.ok(err < 1e-4, `relative error ${err.toExponential(2)}`);
      const big = Math.max(...fd.map(Math.abs));
      names.forEach((n, i) => assert.ok(Math.abs(fd[i] - an[i]) < 1e-3 * big, `${n}: fd ${fd[i]} vs autodiff ${an[i]}`));
    });
  }
});
