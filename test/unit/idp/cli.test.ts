// `idp bank train`, `idp bank compare` and `idp inspect` as child processes on a tiny model with a
// data-free corpus: the bank is written and a second run reuses every prompt; inspect --json reports a
// selection equal to the argmax of its scores, per-layer maps whose rows sum to 1, and the masking after
// the selection layer; compare prints every method with its parameter count; bad input exits 2/3.
// With the staged data, one short run on stories260K with real text and `inspect --prompt`.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { requirePrereq } from '../../helpers/skip';

const root = tmpDir('idp-bank-cli-');
const idp = (...args: string[]) => spawnSync(process.execPath, [path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', timeout: 120000 });

interface Report {
  selected: number; scores: number[]; selectionLayer: number; positions: number;
  prompts: Array<{ n: number; start: number; slots: [number, number] }>; tokens: Array<{ id: number; text?: string; position: number }>;
  layers: Array<{ layer: number; segments: number[][]; map: number[][] }>;
}

describe('idp bank / inspect (CLI)', function () {
  this.timeout(180000);
  const model = writeTinyModel(path.join(root, 'model'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }).dir;
  const bankDir = path.join(root, 'bank');
  const train = ['bank', 'train', '--model', model, '--prompts', '3,5', '--data', 'model', '--sample-tokens', '640', '--tokens', '256',
    '--seqlen', '16', '--batch', '4', '--lr', '0.03', '--out', bankDir];

  it('bank train writes the bank; a second run reuses every prompt', () => {
    const r = idp(...train, '--json');
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim());
    assert.equal(res.status, 'done');
    assert.equal(res.positions, 5);
    assert.deepEqual(res.prompts.map((p: { n: number; start: number; reused: boolean }) => [p.n, p.start, p.reused]), [[3, 2, false], [5, 0, false]]);
    assert.equal(res.params.paper, 8 * 32, 'appendix A: Σn · d');
    for (const f of ['bank.json', 'prompts.safetensors', 'kv.safetensors']) assert.ok(fs.existsSync(path.join(bankDir, f)), f);
    const again = idp(...train);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /prompt 3 at 2…4: held-out loss .* \(reused\)/);
    assert.match(again.stdout, /IDP bank of 2 prompts: 256 parameters/);
    assert.match(again.stderr, /prompt 1\/2 \(3 tokens\): reused/);
  });

  it('inspect --json: selection = argmax of the scores; maps are distributions; other prompts masked after the selection layer', () => {
    const ids = [1, 5, 9, 14, 20, 33, 2];
    const r = idp('inspect', '--model', model, '--bank', bankDir, '--ids', ids.join(','), '--json');
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.selected, rep.scores.indexOf(Math.max(...rep.scores)));
    assert.deepEqual(rep.tokens.map((t) => t.id), ids);
    assert.equal(rep.tokens[0].position, rep.positions);
    assert.equal(rep.layers.length, 2);
    const S = 8 + ids.length;
    for (const l of rep.layers) {
      assert.equal(l.map.length, ids.length);
      for (const row of l.map) {
        assert.equal(row.length, S);
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      }
    }
    // the selection layer's per-token masses average to the scores
    const sel = rep.layers[rep.selectionLayer];
    rep.scores.forEach((s, i) => assert.ok(Math.abs(sel.segments.reduce((a, row) => a + row[i], 0) / ids.length - s) < 1e-4));
    // layer 1 (after selection layer 0): the other prompt gets no attention
    const other = 1 - rep.selected;
    for (const row of rep.layers[1].segments) assert.equal(row[other], 0);
    const text = idp('inspect', '--model', model, '--bank', bankDir, '--ids', ids.join(','), '--selection-layer', '1');
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^selected prompt \d \(\d tokens\) at layer 1/);
    assert.match(text.stdout, /layer {2}1\* /);
  });

  it('bank compare: every method on the same held-out blocks, with parameter counts', () => {
    const r = idp('bank', 'compare', '--model', model, '--bank', bankDir, '--data', 'model', '--sample-tokens', '640', '--tokens', '256',
      '--seqlen', '16', '--batch', '4', '--lr', '0.03', '--prefix', '2', '--ranks', '1', '--targets', 'q,v', '--out', path.join(root, 'compare'));
    assert.equal(r.status, 0, r.stderr);
    for (const m of ['none', 'prompt 3 \\(at 2\\)', 'prompt 5 \\(at 0\\)', 'concat 3\\+5', 'IDP 3\\+5 \\(layer 0, mass\\)', 'prefix 2', 'LoRA r=1']) {
      assert.match(r.stdout, new RegExp(`^${m}\\s`, 'm'), m);
    }
    // appendix A: prefix L·t·d = 2·2·32 = 128 (trained: 2·L·t·K·D = 2·2·2·2·8 = 128 with GQA); LoRA r=1 on q,v: 2 layers × (32+32 + 32+16) = 224
    assert.match(r.stdout, /^prefix 2\s+128\s+128\s/m);
    assert.match(r.stdout, /^LoRA r=1\s+224\s+224\s/m);
    assert.ok(fs.existsSync(path.join(root, 'compare', 'compare.json')));
  });

  it('bad input: missing bank (exit 3), bad prompt list (exit 2), text without a tokenizer (exit 2), unknown layer (exit 2)', () => {
    const missing = idp('inspect', '--model', model, '--bank', path.join(root, 'nope'), '--ids', '1,2');
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /^idp: .*nope\/bank\.json: no prompt bank here/m);
    const bad = idp('bank', 'train', '--model', model, '--prompts', '3,0', '--data', 'model', '--out', path.join(root, 'x'));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--prompts must be comma-separated positive integers/);
    const text = idp('inspect', '--model', model, '--bank', bankDir, '--prompt', 'hello');
    assert.equal(text.status, 2);
    assert.match(text.stderr, /no tokenizer/);
    const layer = idp('inspect', '--model', model, '--bank', bankDir, '--ids', '1,2', '--selection-layer', '7');
    assert.equal(layer.status, 2);
    assert.match(layer.stderr, /selection layer 7 does not exist/);
  });

  it('stories260K: a short bank run on real text, then inspect --prompt', function () {
    const stories = dataPath(this, ...STORIES, 'stories260K.gguf');
    const text = dataPath(this, 'corpora', 'tinystories');
    const files = fs.readdirSync(text).filter((f) => /\.(txt|jsonl)$/.test(f));
    requirePrereq(this, files.length ? undefined : `staged data missing: no .txt or .jsonl file in ${text}`);
    const out = path.join(root, 'stories-bank');
    const r = idp('bank', 'train', '--model', stories, '--prompts', '4,8', '--data', path.join(text, files[0]), '--tokens', '2048',
      '--seqlen', '64', '--batch', '8', '--lr', '0.01', '--out', out, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim()).status, 'done');
    const ins = idp('inspect', '--model', stories, '--bank', out, '--prompt', 'Once upon a time', '--json');
    assert.equal(ins.status, 0, ins.stderr);
    const rep = JSON.parse(ins.stdout) as Report;
    assert.ok(rep.tokens.length >= 4 && rep.tokens.some((t) => /Once/.test(t.text ?? '')));
    assert.equal(rep.layers.length, 5);
  });
});
