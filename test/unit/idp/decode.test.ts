// Decoding after an IDP prefill (selection layer 0, the default): the cache keeps only the selected
// prompt's K/V and the input's, and every decode step's logits equal a full recompute of the whole
// sequence — IDP over [input + generated] with the input voting (so the same prompt is chosen), and the
// selected single prompt through the training engine's inline soft prompt. Batched rows of different
// lengths that select prompts of different lengths (ragged, left-padded cache) decode like one by one;
// generate() (chunked greedy Loop, and the per-step sampling path) picks the recomputed argmax.

import * as assert from 'assert';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { randomPrompt, randomRows, argmax } from '../../helpers/idp';
import { maxAbsDiff } from '../../helpers/arrays';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { leftPad } from '../../../src/engine/runtime/lm';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { AdaptedLM } from '../../../src/engine/train/adapted';
import { IdpBank } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';

const root = tmpDir('idp-decode-');
const LENGTHS = [4, 6, 5];
const STEPS = 6;

describe('IDP decode from the selected prompt\'s cache', function () {
  this.timeout(120000);
  let m: LoadedModel;
  let bank: IdpBank;
  before(async () => {
    m = await loadModel(writeTinyModel(path.join(root, 'llama'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }).dir);
    bank = IdpBank.fromPrompts(m, LENGTHS.map((n, i) => randomPrompt(m, n, 11 + i)));
  });

  for (const kvCache of ['concat', 'capacity'] as const) it(`every decode step equals a full recompute (IDP and the selected single prompt); the cache holds only the selected prompt (KV cache: ${kvCache})`, async () => {
    const idp = new IdpLM(m, bank, { threads: 1, kvCache });
    const inputs = randomRows(m.config.vocabSize, [7, 3, 10, 5, 8], 74);
    const T = Math.max(...inputs.map((s) => s.length));
    const { ids, real } = leftPad(inputs, T);
    const p = await idp.prefill(ids, real);
    assert.ok(new Set(p.selected.map((s) => LENGTHS[s])).size >= 2, `rows should select prompts of different lengths: ${p.selected}`);
    const nMax = Math.max(...p.selected.map((s) => LENGTHS[s]));
    assert.deepEqual(p.state.past[0].dims, [inputs.length, m.config.numKvHeads, nMax + T, m.config.headDim], 'cache = selected prompt + input');
    p.selected.forEach((s, b) => {
      assert.equal(p.state.visible[b].reduce((a, v) => a + v, 0), LENGTHS[s] + inputs[b].length, `row ${b}: visible slots`);
      assert.equal(p.state.nextPos[b], bank.positions + inputs[b].length);
    });
    const V = m.config.vocabSize;
    const seqs = inputs.map((s) => [...s]);
    const stepLogits: Float32Array[][] = inputs.map(() => []);
    let logits = p.logits;
    for (let step = 0; step < STEPS; step++) {
      const next = inputs.map((_, b) => argmax(logits, b * V, V));
      next.forEach((t, b) => { seqs[b].push(t); stepLogits[b].push(logits.slice(b * V, (b + 1) * V)); });
      logits = (await idp.lm.step(p.state, next.map((t) => [t]), next.map(() => [true]), 'last')).logits;
    }
    inputs.forEach((s, b) => stepLogits[b].push(logits.slice(b * V, (b + 1) * V)));
    // recompute: IDP over each whole sequence, the input tokens voting
    const full = await idp.score(seqs, inputs.map((s) => s.length));
    assert.deepEqual(full.selected, p.selected, 'the recompute selects the same prompts');
    for (const [b, s] of inputs.entries()) {
      const sp = new SoftPrompt(m, bank.prompts[p.selected[b]], LENGTHS[p.selected[b]], 'random', undefined, bank.info[p.selected[b]].start);
      const inline = (await new AdaptedLM(sp, { threads: 1 }).logits([seqs[b]]))[0];
      for (let k = 0; k <= STEPS; k++) {
        const at = (s.length - 1 + k) * V;
        const d1 = maxAbsDiff(stepLogits[b][k], full.logits[b].subarray(at, at + V));
        const d2 = maxAbsDiff(stepLogits[b][k], inline.subarray(at, at + V));
        assert.ok(d1 < 2e-5 && d2 < 2e-5, `row ${b}, step ${k}: ${d1} (IDP recompute), ${d2} (single prompt)`);
      }
    }
    // one row at a time gives the same selection and logits as the batch
    for (const [b, s] of inputs.entries()) {
      const one = await idp.prefill([s], [s.map(() => true)]);
      assert.equal(one.selected[0], p.selected[b]);
      assert.ok(maxAbsDiff(one.logits, stepLogits[b][0]) < 2e-5);
    }
  });

  it('generate(): greedy in the decode Loop and step by step both follow the recomputed argmax', async () => {
    const idp = new IdpLM(m, bank, { threads: 1 });
    const inputs = randomRows(m.config.vocabSize, [6, 9, 4], 81);
    const chunked = await idp.generate(undefined, inputs, { maxTokens: 10, stopIds: [] });
    const stepwise = await idp.generate(undefined, inputs, { maxTokens: 10, stopIds: [], temperature: 1, topK: 1 });
    assert.deepEqual(stepwise.rows.map((r) => r.ids), chunked.rows.map((r) => r.ids));
    assert.deepEqual(chunked.selected, stepwise.selected);
    const seqs = inputs.map((s, b) => [...s, ...chunked.rows[b].ids]);
    const full = await idp.score(seqs, inputs.map((s) => s.length));
    const V = m.config.vocabSize;
    for (const [b, s] of inputs.entries()) {
      assert.equal(chunked.rows[b].ids.length, 10);
      assert.equal(full.selected[b], chunked.selected[b]);
      for (let k = 0; k < 10; k++) assert.equal(chunked.rows[b].ids[k], argmax(full.logits[b], (s.length - 1 + k) * V, V), `row ${b}, token ${k}`);
    }
    assert.ok(chunked.timings.prefill_ms > 0 && chunked.timings.decode_tokens > 0);
  });

  it('the context after N prompt positions: too long an input is a typed error; generation stops at the context end', async () => {
    const idp = new IdpLM(m, bank, { threads: 1 });
    const tooLong = randomRows(m.config.vocabSize, [64 - bank.positions + 1], 3);
    await assert.rejects(idp.score(tooLong), (e: Error & { code?: string }) => e.code === 'INPUT' && /do not fit after the bank's 6 prompt positions/.test(e.message));
    const r = await idp.generate(undefined, randomRows(m.config.vocabSize, [50], 4), { maxTokens: 100, stopIds: [] });
    assert.equal(r.rows[0].finish, 'context');
    assert.equal(bank.positions + 50 + r.rows[0].ids.length, 64 + 1, 'the last token is produced at the last position');
  });
});
