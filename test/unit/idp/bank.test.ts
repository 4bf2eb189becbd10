// The bank on disk: a round trip keeps prompts and K/V bit for bit (and IDP runs identically from the
// loaded bank); K/V made for another model are recomputed with a warning; a GPTQ model's bank
// fingerprint covers its quantized layers; bad folders and files are typed errors naming the file.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { writeTinyGptq } from '../../helpers/tiny-gptq';
import { tmpDir } from '../../helpers/data';
import { randomPrompt, randomRows, assertBitEqual } from '../../helpers/idp';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { IdpBank, BANK_FILE, KV_FILE, PROMPTS_FILE, modelInfo } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';

const root = tmpDir('idp-bank-');

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, re: RegExp): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

describe('IDP bank on disk', function () {
  this.timeout(120000);
  let m: LoadedModel;
  let other: LoadedModel;
  let dir: string;
  let bank: IdpBank;
  before(async () => {
    m = await loadModel(writeTinyModel(path.join(root, 'model'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }).dir);
    other = await loadModel(writeTinyModel(path.join(root, 'other'), { ...TINY_SPECS.llamaGqa, maxPositions: 64, seed: 99 }).dir);
    bank = IdpBank.fromPrompts(m, [3, 5].map((n, i) => randomPrompt(m, n, 7 + i)), { positions: 8, selectionLayer: 1, score: 'mean' });
    dir = path.join(root, 'bank');
    await bank.save(dir, m, { threads: 1 });
  });

  it('a round trip keeps prompts, layout and K/V bit for bit; IDP runs identically from the loaded bank', async () => {
    const j = JSON.parse(fs.readFileSync(path.join(dir, BANK_FILE), 'utf8'));
    assert.equal(j.positions, 8);
    assert.deepEqual(j.prompts.map((p: { n: number; start: number }) => [p.n, p.start]), [[3, 5], [5, 3]]);
    assert.equal(j.selectionLayer, 1);
    assert.equal(j.score, 'mean');
    assert.equal(j.model.weights, modelInfo(m).weights);
    const warnings: string[] = [];
    const loaded = IdpBank.load(dir, m, { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(warnings, []);
    assert.ok(loaded.kv, 'K/V read from disk');
    const kv = await bank.computeKv(m);
    loaded.kv!.forEach((p, i) => p.keys.forEach((k, l) => { assertBitEqual(k, kv[i].keys[l], `key ${i}.${l}`); assertBitEqual(p.values[l], kv[i].values[l], `value ${i}.${l}`); }));
    loaded.prompts.forEach((p, i) => assertBitEqual(p, bank.prompts[i], `prompt ${i}`));
    const seqs = randomRows(m.config.vocabSize, [6, 9], 3);
    const a = await new IdpLM(m, bank, { threads: 1 }).score(seqs);
    const b = await new IdpLM(m, loaded, { threads: 1 }).score(seqs);
    assert.deepEqual(b.selected, a.selected);
    a.logits.forEach((l, i) => assertBitEqual(b.logits[i], l, `row ${i}`));
  });

  it('K/V made for another model are recomputed (with a warning), not used', async () => {
    const warnings: string[] = [];
    const loaded = IdpBank.load(dir, other, { onWarning: (w) => warnings.push(w) });
    assert.equal(loaded.kv, undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /recomputing its K\/V/);
    const kvOther = await loaded.computeKv(other);
    const kvHere = await bank.computeKv(m);
    assert.notDeepEqual(Array.from(kvOther[0].keys[0].slice(0, 8)), Array.from(kvHere[0].keys[0].slice(0, 8)));
  });

  it('a GPTQ model\'s fingerprint covers its quantized layers', async () => {
    const spec = { ...TINY_SPECS.llamaGqa, maxPositions: 64 };
    const q1 = await loadModel(writeTinyGptq(path.join(root, 'q1'), spec, { bits: 4, groupSize: 16 }).dir);
    const q2 = await loadModel(writeTinyGptq(path.join(root, 'q2'), spec, { bits: 8, groupSize: 16 }).dir);
    assert.ok(q1.quant && q2.quant);
    assert.notEqual(modelInfo(q1).weights, modelInfo(q2).weights);
    const qb = IdpBank.fromPrompts(q1, [2, 4].map((n, i) => randomPrompt(q1, n, 3 + i)));
    await qb.save(path.join(root, 'qbank'), q1, { threads: 1 });
    assert.ok(IdpBank.load(path.join(root, 'qbank'), q1).kv);
    const warned: string[] = [];
    assert.equal(IdpBank.load(path.join(root, 'qbank'), q2, { onWarning: (w) => warned.push(w) }).kv, undefined);
    assert.equal(warned.length, 1);
  });

  it('bad banks are typed errors naming the file', async () => {
    const copy = (name: string) => {
      const d = path.join(root, name);
      fs.cpSync(dir, d, { recursive: true });
      return d;
    };
    await expectCode(() => IdpBank.load(path.join(root, 'nope')), 'NOT_FOUND', /nope/);
    fs.mkdirSync(path.join(root, 'empty'));
    await expectCode(() => IdpBank.load(path.join(root, 'empty')), 'FORMAT', /empty: not an IDP prompt bank: no bank\.json/);
    const badJson = copy('bad-json');
    fs.writeFileSync(path.join(badJson, BANK_FILE), '{"format": "idp-bank",');
    await expectCode(() => IdpBank.load(badJson), 'FORMAT', /bad-json\/bank\.json: not valid JSON/);
    const badStart = copy('bad-start');
    const j = JSON.parse(fs.readFileSync(path.join(badStart, BANK_FILE), 'utf8'));
    j.prompts[0].start = 0;
    fs.writeFileSync(path.join(badStart, BANK_FILE), JSON.stringify(j));
    await expectCode(() => IdpBank.load(badStart), 'FORMAT', /bad-start\/bank\.json: prompt 0: n = 3, start = 0; prompts are right-aligned/);
    const torn = copy('torn');
    const other2 = IdpBank.fromPrompts(m, [3, 5].map((n, i) => randomPrompt(m, n, 50 + i)), { positions: 8 });
    await other2.save(path.join(root, 'other-build'), m, { threads: 1 });
    fs.copyFileSync(path.join(root, 'other-build', KV_FILE), path.join(torn, KV_FILE));
    await expectCode(() => IdpBank.load(torn, m), 'FORMAT', /torn\/kv\.safetensors: belongs to another build/);
    const missing = copy('missing');
    fs.rmSync(path.join(missing, PROMPTS_FILE));
    await expectCode(() => IdpBank.load(missing), 'FORMAT', /missing\/bank\.json: the bank's prompts\.safetensors is missing/);
    const wide = await loadModel(writeTinyModel(path.join(root, 'wide'), { ...TINY_SPECS.llamaTied, maxPositions: 64 }).dir);
    await expectCode(() => IdpBank.load(dir, wide), 'INPUT', /bank\.json: prompt 0 has width 32; the model's embeddings have width 16/);
    const layer = copy('layer');
    const jl = JSON.parse(fs.readFileSync(path.join(layer, BANK_FILE), 'utf8'));
    jl.selectionLayer = 5;
    fs.writeFileSync(path.join(layer, BANK_FILE), JSON.stringify(jl));
    await expectCode(() => IdpBank.load(layer, m), 'INPUT', /layer\/bank\.json: selection layer 5 does not exist: the model has layers 0…1/);
    await expectCode(() => IdpBank.fromPrompts(m, [randomPrompt(m, 5, 1)], { positions: 4 }), 'INPUT', /must be ≥ the longest prompt/);
    await expectCode(() => IdpBank.fromPrompts(m, []), 'INPUT', /at least one prompt/);
    await expectCode(() => new IdpLM(m, bank, { selectionLayer: 2 }), 'INPUT', /selection layer 2 does not exist/);
  });
});
