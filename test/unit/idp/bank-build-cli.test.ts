// `idp bank assemble` and `idp bank calibrate` through the real CLI on the embedded default model: a bank from
// two PEFT prompt-tuning adapters (their embeddings kept exactly), bad input refused with the documented exit
// codes and nothing written, and a calibration that rewrites bank.json only (the prompts and K/V stay).

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { loadModel } from '../../../src/engine/models/load';
import { PROMPT_INPUT, SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { IdpBank, BANK_FILE, KV_FILE, PROMPTS_FILE } from '../../../src/engine/idp/bank';

const CLI = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const idp = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120000 });

describe('cli: idp bank assemble / calibrate', function () {
  this.timeout(120000);
  const root = tmpDir('idp-bank-build-');
  const adapters = [path.join(root, 'a'), path.join(root, 'b')];
  const bank = path.join(root, 'bank');
  const ts = path.join(root, 'ts.jsonl');
  const md = path.join(root, 'md.jsonl');

  before(async () => {
    const m = await loadModel(DEFAULT_MODEL_DIR);
    SoftPrompt.create(m, { tokens: 4, seed: 1 }).export(adapters[0]);
    SoftPrompt.create(m, { tokens: 6, seed: 2 }).export(adapters[1]);
    const docs = (f: (i: number) => string) => Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: f(i) })).join('\n');
    fs.writeFileSync(ts, docs((i) => `export function f${i}(x: number): number {\n  return x * ${i} + ${i + 1};\n}\n`));
    fs.writeFileSync(md, docs((i) => `# Section ${i}\n\nThis page explains feature number ${i}. Read the notes, then try it.\n`));
  });

  it('assemble keeps each adapter\'s embeddings; refuses a foreign non-empty folder, a bank without --overwrite and a bad adapter', async () => {
    const r = idp('bank', 'assemble', '--model', DEFAULT_MODEL_DIR, '--out', bank, ...adapters);
    assert.equal(r.status, 0, r.stderr);
    const m = await loadModel(DEFAULT_MODEL_DIR);
    const b = IdpBank.load(bank, m);
    assert.deepEqual(b.info.map((p) => p.n), [4, 6]);
    assert.equal(b.positions, 6);
    adapters.forEach((a, i) => assert.deepEqual(Array.from(b.prompts[i]), Array.from(SoftPrompt.load(m, a).params.get(PROMPT_INPUT)!.data)));

    const again = idp('bank', 'assemble', '--model', DEFAULT_MODEL_DIR, '--out', bank, ...adapters);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already holds a bank: give --overwrite/);
    const foreign = path.join(root, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine\n');
    const f = idp('bank', 'assemble', '--model', DEFAULT_MODEL_DIR, '--out', foreign, ...adapters);
    assert.equal(f.status, 2, f.stderr);
    assert.deepEqual(fs.readdirSync(foreign), ['notes.txt'], 'nothing written into a folder IDP Lab did not make');
    const bad = idp('bank', 'assemble', '--model', DEFAULT_MODEL_DIR, '--out', path.join(root, 'never'), adapters[0], ts);
    assert.equal(bad.status, 3, bad.stderr);
    assert.ok(bad.stderr.includes(ts), bad.stderr);
    assert.equal(fs.existsSync(path.join(root, 'never', BANK_FILE)), false);
  });

  it('calibrate needs one --prompt-data per prompt; a calibration rewrites bank.json only', async () => {
    const wrong = idp('bank', 'calibrate', '--model', DEFAULT_MODEL_DIR, '--bank', bank, '--prompt-data', ts);
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /one --prompt-data per prompt.*2 prompts, got 1/);
    const kvBefore = fs.readFileSync(path.join(bank, KV_FILE));
    const promptsBefore = fs.readFileSync(path.join(bank, PROMPTS_FILE));
    const r = idp('bank', 'calibrate', '--model', DEFAULT_MODEL_DIR, '--bank', bank, '--prompt-data', ts, '--prompt-data', md, '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.layers.length, 4, 'every layer of the 4-layer model fitted');
    assert.ok(fs.readFileSync(path.join(bank, KV_FILE)).equals(kvBefore), 'the K/V file is not rewritten');
    assert.ok(fs.readFileSync(path.join(bank, PROMPTS_FILE)).equals(promptsBefore), 'the prompts file is not rewritten');
    const b = IdpBank.load(bank, await loadModel(DEFAULT_MODEL_DIR));   // same build id across the three files
    assert.equal(b.selectionLayer, out.layer);
    assert.ok(b.calibrationAt(out.layer));
  });
});
