// Prompts with their own data (`idp bank train --prompt-data`, issue 12 part 1) on the embedded default
// model with three kinds of text of a few hundred tokens each (JSON records, Markdown prose, TypeScript):
// each prompt trains on its own file and its run folder's key follows that file (same file → reused, other
// file → retrained); with every prompt on its own data the bank is calibrated on their held-out documents,
// the table is printed and bank.json records it; the held-out documents are exactly the whole documents
// after the train/held-out split; bad combinations are input errors (exit 2).

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { loadModel } from '../../../src/engine/models/load';
import { encodeDocument, joinDocs, loadCorpus } from '../../../src/engine/train/data';
import { DEFAULT_SETTINGS } from '../../../src/engine/train/trainer';
import { trainBank } from '../../../src/engine/idp/train-bank';
import { IdpBank } from '../../../src/engine/idp/bank';

const root = tmpDir('idp-prompt-data-');
const idp = (...args: string[]) => spawnSync(process.execPath, [path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', timeout: 120000 });

const words = ['alpha', 'river', 'stone', 'cloud', 'amber', 'field', 'lantern', 'harbor', 'maple', 'signal'];
const KINDS: Record<string, (k: number) => string> = {
  json: (k) => JSON.stringify({ id: k, name: words[k % 10], tags: [words[(k * 3) % 10]], ok: k % 2 === 0 }),
  markdown: (k) => `## ${words[k % 10]} notes\n\nThe ${words[(k * 7) % 10]} was quiet.`,
  ts: (k) => `export const ${words[k % 10]}${k} = (x: number): number => x * ${k};`,
};

function writeKind(name: string, docs: number): string {
  const f = path.join(root, `${name}.jsonl`);
  fs.writeFileSync(f, Array.from({ length: docs }, (_, k) => JSON.stringify({ text: KINDS[name](k) })).join('\n') + '\n');
  return f;
}

describe('idp bank train --prompt-data (embedded model)', function () {
  this.timeout(120000);
  const files = Object.keys(KINDS).map((k) => writeKind(k, 40));
  const common = ['--model', DEFAULT_MODEL_DIR, '--prompts', '4,4,4', '--tokens', '512', '--seqlen', '16', '--batch', '4', '--lr', '0.03'];

  it('held-out documents: the whole documents after the split (none cut by it)', async () => {
    const m = await loadModel(DEFAULT_MODEL_DIR);
    const c = loadCorpus([files[0]], m.tokenizer!, m.config, { seqLen: 16 });
    const docs = fs.readFileSync(files[0], 'utf8').trim().split('\n').map((l) => encodeDocument(JSON.parse(l).text, m.tokenizer!, m.config));
    const stream = joinDocs(docs);
    const trainEnd = c.train.count * 16;
    let at = 0;
    const after = docs.filter((d) => { const s = at; at += d.length; return s >= trainEnd; });
    assert.ok(c.heldoutDocs.length >= 2, `${c.heldoutDocs.length} held-out documents`);
    assert.deepEqual(c.heldoutDocs, after);
    assert.deepEqual(Array.from(joinDocs(c.heldoutDocs)), Array.from(stream.subarray(stream.length - joinDocs(after).length)));
  });

  it('each prompt trains on its own file; the bank is calibrated on their held-out documents and records it', () => {
    const out = path.join(root, 'bank');
    const r = idp('bank', 'train', ...common, ...files.flatMap((f) => ['--prompt-data', f]), '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /layer {2}paper rule {2}calibrated \(cross-validated\)/);
    assert.match(r.stdout, /selection at layer \d \(calibrated on \d+ \/ \d+ \/ \d+ held-out documents per prompt\)/);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'bank.json'), 'utf8'));
    assert.equal(j.calibration.length, 4, 'every layer of the embedded model fitted');
    assert.equal(j.training.data.length, 3);
    assert.equal(new Set(j.training.data).size, 3, 'one data key per prompt');
    assert.match(j.training.calibration, /held-out/);
    assert.ok(j.calibration.some((c: { layer: number }) => c.layer === j.selectionLayer));

    // the same files reuse every prompt; swapping two files retrains those two (the key follows the prompt's data)
    const again = idp('bank', 'train', ...common, ...files.flatMap((f) => ['--prompt-data', f]), '--out', out, '--json');
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).prompts.map((p: { reused: boolean }) => p.reused), [true, true, true]);
    const swapped = idp('bank', 'train', ...common, '--prompt-data', files[0], '--prompt-data', files[2], '--prompt-data', files[1], '--out', out, '--json');
    assert.equal(swapped.status, 0, swapped.stderr);
    const s = JSON.parse(swapped.stdout);
    assert.deepEqual(s.prompts.map((p: { reused: boolean }) => p.reused), [true, false, false]);
    assert.ok(s.calibration && s.calibration.layers.length === 4);
  });

  it('a prompt without its own data trains on --data and the bank is not calibrated; bad combinations are input errors', () => {
    const out = path.join(root, 'mixed');
    const r = idp('bank', 'train', ...common, '--data', files[2], '--prompt-data', files[0], '--prompt-data', '-', '--out', out, '--json');
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.calibration, undefined);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'bank.json'), 'utf8'));
    assert.equal(j.calibration, undefined);
    assert.equal(j.training.data[1], j.training.data[2], 'prompts 2 and 3 on the shared data');
    assert.notEqual(j.training.data[0], j.training.data[1]);

    const noShared = idp('bank', 'train', ...common, '--prompt-data', files[0], '--out', path.join(root, 'x'));
    assert.equal(noShared.status, 2);
    assert.match(noShared.stderr, /give training data with --data/);
    const tooMany = idp('bank', 'train', ...common, ...[...files, files[0]].flatMap((f) => ['--prompt-data', f]), '--out', path.join(root, 'x'));
    assert.equal(tooMany.status, 2);
    assert.match(tooMany.stderr, /4 --prompt-data for 3 prompts/);
    const both = idp('bank', 'train', ...common, '--data', files[0], '--prompt-data', files[0], '--routing', 'assign', '--out', path.join(root, 'x'));
    assert.equal(both.status, 2);
    assert.match(both.stderr, /give one or the other/);
  });

  it('too few held-out documents: the bank is written, not calibrated, and says why', async () => {
    const m = await loadModel(DEFAULT_MODEL_DIR);
    const tiny = (f: string) => loadCorpus([f], m.tokenizer!, m.config, { seqLen: 16 });
    const data = [tiny(files[0]), tiny(files[1])];
    data[1] = { ...data[1], heldoutDocs: data[1].heldoutDocs.slice(0, 1) };
    const r = await trainBank({
      model: m, lengths: [4, 4], promptData: data, out: path.join(root, 'few'), session: { threads: 1 },
      settings: { ...DEFAULT_SETTINGS, seqLen: 16, batchSize: 4, tokens: 128, lr: 0.03, warmup: 1 },
    });
    assert.equal(r.status, 'done');
    assert.equal(r.calibration, undefined);
    assert.match(r.calibrationSkipped!, /prompt 2's data has 1 held-out document/);
    assert.equal(IdpBank.load(r.dir, m).calibration.length, 0);
  });
});
