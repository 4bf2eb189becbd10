// Training a bank (short runs on a tiny Llama and a learnable synthetic stream): every prompt trains
// in the right-aligned layout and lowers the held-out loss; equal lengths get different inits; the
// bank is written and loads; a second call reuses every trained prompt (no training); another set of
// lengths with the same N reuses what exists; a cancelled call writes no bank; a GPTQ model trains on
// its dequantized weights.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { writeTinyGptq } from '../../helpers/tiny-gptq';
import { tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { Blocks } from '../../../src/engine/train/data';
import { DEFAULT_SETTINGS, TrainSettings } from '../../../src/engine/train/trainer';
import { Rng } from '../../../src/engine/rng';
import { trainBank, BankProgress } from '../../../src/engine/idp/train-bank';
import { IdpBank, BANK_FILE } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';

const root = tmpDir('idp-train-bank-');
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

const settings: TrainSettings = { ...DEFAULT_SETTINGS, seqLen: T, batchSize: 4, gradAccum: 1, tokens: T * 4 * 10, lr: 3e-2, warmup: 1, seed: 5 };

describe('idp bank training (tiny Llama, synthetic data)', function () {
  this.timeout(120000);
  let m: LoadedModel;
  const data = () => ({ train: patternBlocks(96, 48, 1), eval: patternBlocks(96, 8, 2) });
  before(async () => {
    m = await loadModel(writeTinyModel(path.join(root, 'model'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }).dir);
  });

  it('trains each prompt in the right-aligned layout, writes the bank, and reuses trained prompts', async () => {
    const out = path.join(root, 'bank');
    const events: BankProgress[] = [];
    const r = await trainBank({ model: m, lengths: [2, 4, 4], data: data(), settings, out, session: { threads: 1 }, onProgress: (p) => events.push(p) });
    assert.equal(r.status, 'done');
    assert.deepEqual(r.prompts.map((p) => [p.n, p.start, p.reused]), [[2, 2, false], [4, 0, false], [4, 0, false]]);
    for (const p of r.prompts) {
      const res = JSON.parse(fs.readFileSync(path.join(p.run, 'result.json'), 'utf8'));
      assert.equal(res.method.positionStart, p.start, 'trained at positions N − n …');
      assert.equal(res.steps, 10);
      assert.ok(p.evalLoss! < p.initialEvalLoss! - 0.05, `held-out loss ${p.initialEvalLoss} → ${p.evalLoss}`);
    }
    assert.notEqual(r.prompts[1].run, r.prompts[2].run);
    const bank = IdpBank.load(out, m);
    assert.equal(bank.positions, 4);
    assert.ok(bank.kv, 'K/V stored');
    assert.notDeepEqual(Array.from(bank.prompts[1].slice(0, 4)), Array.from(bank.prompts[2].slice(0, 4)), 'equal lengths, different prompts');
    assert.ok(events.some((e) => e.phase === 'train' && e.train?.phase === 'train'));
    const sel = await new IdpLM(m, bank, { threads: 1 }).score([Array.from(data().eval.get(0))]);
    assert.equal(sel.scores[0].length, 3);

    const again: BankProgress[] = [];
    const r2 = await trainBank({ model: m, lengths: [2, 4, 4], data: data(), settings, out, session: { threads: 1 }, onProgress: (p) => again.push(p) });
    assert.deepEqual(r2.prompts.map((p) => p.reused), [true, true, true]);
    assert.ok(!again.some((e) => e.phase === 'train'), 'nothing retrained');
    IdpBank.load(out, m).prompts.forEach((p, i) => assert.deepEqual(Array.from(p), Array.from(bank.prompts[i])));

    // another set with the same N (positions 4) reuses the 2- and first 4-token prompts, trains the new 3-token one
    const out3 = path.join(root, 'bank');
    const r3 = await trainBank({ model: m, lengths: [4, 3, 2], positions: 4, data: data(), settings, out: out3, session: { threads: 1 } });
    assert.deepEqual(r3.prompts.map((p) => p.reused), [true, false, true]);
    assert.equal(IdpBank.load(out3, m).m, 3);
  });

  it('a cancelled call writes no bank; bad settings are typed errors', async () => {
    const out = path.join(root, 'cancelled');
    const r = await trainBank({ model: m, lengths: [3], data: data(), settings, out, session: { threads: 1 }, isCancelled: () => true });
    assert.equal(r.status, 'cancelled');
    assert.ok(!fs.existsSync(path.join(out, BANK_FILE)));
    await assert.rejects(trainBank({ model: m, lengths: [3, 5], positions: 4, data: data(), settings, out }), /--positions 4 must be ≥ the longest prompt \(5\)/);
    await assert.rejects(trainBank({ model: m, lengths: [60], data: data(), settings, out }), /exceed the model's context of 64/);
  });

  it('a GPTQ model: prompts train on the dequantized weights; the bank runs on the quantized kernels', async () => {
    const q = await loadModel(writeTinyGptq(path.join(root, 'gptq'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }, { bits: 4, groupSize: 16 }).dir);
    const out = path.join(root, 'gptq-bank');
    const r = await trainBank({ model: q, lengths: [3], data: data(), settings: { ...settings, tokens: T * 4 * 4 }, out, session: { threads: 1 } });
    assert.equal(r.status, 'done');
    assert.ok(r.prompts[0].evalLoss! < r.prompts[0].initialEvalLoss!);
    const bank = IdpBank.load(out, q);
    assert.ok(bank.kv);
    const s = await new IdpLM(q, bank, { threads: 1 }).score([[1, 2, 3, 4]]);
    assert.deepEqual(s.selected, [0]);
  });
});
