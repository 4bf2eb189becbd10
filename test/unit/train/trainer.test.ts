// The training loop on a tiny random Llama (GQA) with a learnable synthetic stream
// (x_{t+1} = (3·x_t + 1) mod V, restarted at random points): every method lowers the loss on a
// seeded run; an interrupted run resumed from its checkpoint ends bit-identical to an uninterrupted
// one; cancellation checkpoints; bad settings, non-finite losses and foreign checkpoints give typed
// errors and leave the last good checkpoint in place.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { Blocks } from '../../../src/engine/train/data';
import { DEFAULT_SETTINGS, runTraining, TrainSettings } from '../../../src/engine/train/trainer';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { Prefix } from '../../../src/engine/train/methods/prefix';
import { Lora } from '../../../src/engine/train/methods/lora';
import { FullWeights } from '../../../src/engine/train/methods/full';
import type { TrainMethod } from '../../../src/engine/train/methods/method';
import { Rng } from '../../../src/engine/rng';

const root = tmpDir('idp-trainer-');
const T = 16;

function patternBlocks(V: number, n: number, seed: number): Blocks {
  const rng = new Rng(seed);
  const ids = new Int32Array(n * T);
  let x = rng.int(V);
  for (let i = 0; i < ids.length; i++) {
    ids[i] = x;
    x = rng.next() < 0.05 ? rng.int(V) : (3 * x + 1) % V;
  }
  return new Blocks(ids, T);
}

const settings = (over: Partial<TrainSettings> = {}): TrainSettings => ({
  ...DEFAULT_SETTINGS, seqLen: T, batchSize: 4, gradAccum: 2, tokens: T * 8 * 12, lr: 1e-2, warmup: 2, evalEvery: 4, seed: 5, ...over,
});

describe('training loop (tiny Llama, synthetic data)', function () {
  let m: LoadedModel;
  let other: LoadedModel;
  const data = () => ({ train: patternBlocks(96, 64, 1), eval: patternBlocks(96, 8, 2) });

  before(async () => {
    m = await loadModel(writeTinyModel(path.join(root, 'model'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }).dir);
    other = await loadModel(writeTinyModel(path.join(root, 'other'), { ...TINY_SPECS.llamaGqa, maxPositions: 64, seed: 99 }).dir);
  });

  const makers: Array<[string, (mm: LoadedModel) => Promise<TrainMethod> | TrainMethod]> = [
    ['prompt', (mm) => SoftPrompt.create(mm, { tokens: 4, seed: 1 })],
    ['prefix', (mm) => Prefix.create(mm, { tokens: 4, seed: 1 })],
    ['lora', (mm) => Lora.create(mm, { rank: 4, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], dropout: 0.1, seed: 1 })],
    ['full', (mm) => FullWeights.create(mm)],
  ];

  for (const [name, make] of makers) {
    it(`${name}: the training and held-out losses go down on a seeded run`, async () => {
      const method = await make(m);
      const r = await runTraining({ method, data: data(), out: path.join(root, `run-${name}`), settings: settings({ lr: name === 'full' ? 3e-3 : 3e-2 }), session: { threads: 1 } });
      assert.equal(r.status, 'done');
      assert.equal(r.steps, 12);
      const losses = r.history.filter((h) => h.step > 0).map((h) => h.loss!);
      const first = (losses[0] + losses[1]) / 2;
      const last = (losses[losses.length - 1] + losses[losses.length - 2]) / 2;
      assert.ok(last < first - 0.1, `training loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
      assert.ok(r.evalLoss! < r.initialEvalLoss! - 0.1, `held-out loss ${r.initialEvalLoss} → ${r.evalLoss}`);
      for (const f of ['result.json', 'train_log.jsonl', 'checkpoint/state.json']) assert.ok(fs.existsSync(path.join(root, `run-${name}`, f)), f);
      assert.ok(fs.existsSync(r.output!), 'adapter/model written');
    });
  }

  it('the same seed gives the same run; an interrupted run resumed equals an uninterrupted one (bit for bit)', async () => {
    const s = settings({ checkpointEvery: 0 });
    const mk = () => Lora.create(m, { rank: 4, targets: ['q', 'v', 'down'], dropout: 0.2, seed: 3 });
    const full = mk();
    const a = await runTraining({ method: full, data: data(), out: path.join(root, 'resume-a'), settings: s, session: { threads: 1 } });
    const again = mk();
    await runTraining({ method: again, data: data(), out: path.join(root, 'resume-a2'), settings: s, session: { threads: 1 } });
    const part = mk();
    const out = path.join(root, 'resume-b');
    const first = await runTraining({ method: part, data: data(), out, settings: s, maxSteps: 5, session: { threads: 1 } });
    assert.equal(first.status, 'stopped');
    assert.equal(first.step, 5);
    const resumed = mk();   // fresh parameters: everything must come from the checkpoint
    const b = await runTraining({ method: resumed, data: data(), out, settings: s, session: { threads: 1 } });
    assert.equal(b.status, 'done');
    for (const [k, t] of full.params) {
      assert.deepEqual(Array.from(again.params.get(k)!.data), Array.from(t.data), `${k}: same seed, same result`);
      assert.deepEqual(Array.from(resumed.params.get(k)!.data), Array.from(t.data), `${k}: resumed equals uninterrupted`);
    }
    assert.deepEqual(b.history.map((h) => h.loss), a.history.map((h) => h.loss));
    assert.equal(b.evalLoss, a.evalLoss);
  });

  it('cancellation stops between micro-batches with a checkpoint of the last whole step', async () => {
    const out = path.join(root, 'cancel');
    let calls = 0;
    const r = await runTraining({ method: SoftPrompt.create(m, { tokens: 2 }), data: data(), out, settings: settings(), isCancelled: () => ++calls > 7 });
    assert.equal(r.status, 'cancelled');
    assert.equal(r.step, 3);   // 2 micro-batches per step: the 8th check comes inside step 4
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'));
    assert.equal(state.step, 3);
    assert.ok(!fs.existsSync(path.join(out, 'adapter')));
  });

  it('typed errors: a budget smaller than one block, too long rows, foreign checkpoints, changed settings', async () => {
    await expectIdpError(() => runTraining({ method: SoftPrompt.create(m, { tokens: 2 }), data: data(), out: path.join(root, 'e1'), settings: settings({ tokens: T - 1 }) }),
      'INPUT', undefined, /smaller than one block/);
    await expectIdpError(() => runTraining({ method: SoftPrompt.create(m, { tokens: 60 }), data: data(), out: path.join(root, 'e2'), settings: settings() }),
      'INPUT', undefined, /exceed the model's context/);
    const out = path.join(root, 'e3');
    await runTraining({ method: Lora.create(m, { rank: 2 }), data: data(), out, settings: settings(), maxSteps: 1 });
    await expectIdpError(() => runTraining({ method: Lora.create(other, { rank: 2 }), data: data(), out, settings: settings() }),
      'INPUT', path.join(out, 'checkpoint', 'state.json'), /another model/);
    await expectIdpError(() => runTraining({ method: Lora.create(m, { rank: 3 }), data: data(), out, settings: settings() }),
      'INPUT', 'state.json', /"rank":2/);
    await expectIdpError(() => runTraining({ method: Lora.create(m, { rank: 2 }), data: data(), out, settings: settings({ lr: 0.5 }) }),
      'INPUT', 'state.json', /lr=0.01/);
  });

  it('a non-finite loss stops training with a clear message and keeps the last good checkpoint', async () => {
    const out = path.join(root, 'nan');
    const method = SoftPrompt.create(m, { tokens: 2 });
    await runTraining({ method, data: data(), out, settings: settings({ checkpointEvery: 2 }), maxSteps: 2 });
    const before = fs.readFileSync(path.join(out, 'checkpoint', 'params.safetensors'));
    // resume from step 2; after step 3 (not a checkpoint step) the parameters blow up, so step 4's loss is not finite
    const poisoned = SoftPrompt.create(m, { tokens: 2 });
    const err = await expectIdpError(async () => {
      const orig = poisoned.params.get('soft_prompt')!;
      const r = runTraining({
        method: poisoned, data: data(), out, settings: settings({ checkpointEvery: 2 }),
        onProgress: (p) => { if (p.phase === 'train' && p.step === 3) orig.data.fill(Number.POSITIVE_INFINITY); },
      });
      return r;
    }, 'RUNTIME', undefined, /not finite/);
    assert.match(err.message, /last good checkpoint is kept/);
    assert.deepEqual(fs.readFileSync(path.join(out, 'checkpoint', 'params.safetensors')), before);
  });
});
