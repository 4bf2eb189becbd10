// `idp bank eval` on the embedded default model with a bank of random prompts (IdpBank.fromPrompts, saved
// and loaded as the CLI does) and real text from this repository (JSONL of code chunks, a plain-text
// README excerpt, JSONL of JSON files):
//  - the columns are consistent per document: the oracle is the best prompt alone; at selection layer 0
//    IDP's NLL is the selected prompt's (the other prompts are masked from layer 0 on, so nothing of them
//    reaches the logits), and at layer 1 it is not (layer 0 still attends to every prompt);
//  - the figures are means over the same tokens: 'none' equals the perplexity code's NLL on the same
//    window, a prompt alone equals the training engine's inline soft prompt, and the file and overall
//    means are the token-weighted means of the documents';
//  - counts sum to the documents; a plain-text file is one document, a JSONL file one per line; --max-docs,
//    --max-tokens and --vote do what they say (one voting token — BOS — gives every document one prompt);
//  - --expect accuracy from the per-document selections; the CLI's JSON shape and text table; bad files
//    and options are typed errors naming the file (exit 3 / 2).

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { REPO_ROOT, tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { randomPrompt } from '../../helpers/idp';
import { expectIdpError } from '../../helpers/tiny-hf';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { IdpBank } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';
import { BankEval, evalBank, NllColumns } from '../../../src/engine/idp/eval-bank';
import { cachedPromptScorer } from '../../../src/engine/idp/baselines';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { perplexity } from '../../../src/engine/eval/perplexity';
import { encodeDocument } from '../../../src/engine/train/data';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { AdaptedLM } from '../../../src/engine/train/adapted';
import { windowNll } from '../../../src/engine/eval/perplexity';

const root = tmpDir('idp-bank-eval-');
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', timeout: 120000 });

const read = (rel: string, from: number, len: number) => fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8').slice(from, from + len);
const CODE = ['src/engine/idp/runner.ts', 'src/engine/idp/bank.ts', 'src/engine/idp/graph.ts', 'src/engine/idp/past.ts', 'src/engine/idp/kv.ts'].map((f) => read(f, 0, 900));
const JSONS = ['package.json', 'models/default/config.json', 'tsconfig.json'].map((f) => read(f, 0, 700));
const code = path.join(root, 'code.jsonl');
const readme = path.join(root, 'readme.txt');
const json = path.join(root, 'json.jsonl');
fs.writeFileSync(code, CODE.map((text) => JSON.stringify({ text })).join('\n') + '\n');
fs.writeFileSync(readme, read('README.md', 0, 1000));
fs.writeFileSync(json, JSONS.map((text) => JSON.stringify({ text, source: 'test' })).join('\n') + '\n');
const LENGTHS = [5, 5, 5];
const SEED = 3;   // random prompts that send these documents to more than one prompt at layer 0
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;

function assertWeighted(parts: Array<{ tokens: number; nll: NllColumns }>, whole: { tokens: number; nll: NllColumns }, what: string): void {
  assert.equal(parts.reduce((a, p) => a + p.tokens, 0), whole.tokens, `${what}: tokens`);
  const mean = (get: (n: NllColumns) => number) => parts.reduce((a, p) => a + get(p.nll) * p.tokens, 0) / whole.tokens;
  const cols: Array<[string, (n: NllColumns) => number]> = [['idp', (n) => n.idp], ['none', (n) => n.none], ['oracle', (n) => n.oracle],
    ...LENGTHS.map((_, i): [string, (n: NllColumns) => number] => [`prompt ${i}`, (n) => n.prompts[i]])];
  for (const [name, get] of cols) assert.ok(close(mean(get), get(whole.nll), 1e-9), `${what}: ${name} is the token-weighted mean: ${mean(get)} vs ${get(whole.nll)}`);
}

describe('idp bank eval: routing and NLL per data file', function () {
  this.timeout(300000);
  let m: LoadedModel;
  let bank: IdpBank;
  const bankDir = path.join(root, 'bank');
  let layer0: BankEval;

  before(async () => {
    m = await loadModel(DEFAULT_MODEL_DIR);
    await IdpBank.fromPrompts(m, LENGTHS.map((n, i) => randomPrompt(m, n, SEED + i))).save(bankDir, m, { threads: 1 });
    bank = IdpBank.load(bankDir, m);
    layer0 = await evalBank({ idp: new IdpLM(m, bank, { threads: 1 }), data: [code, readme, json], perDocument: true });
  });

  it('extra methods are scored on the same tokens: a bank prompt\'s own K/V as an extra equals its column; encoded sets equal files', async () => {
    const idp = new IdpLM(m, bank, { threads: 1 });
    const kv = await bank.computeKv(m, { threads: 1 });
    const docs = CODE.map((t) => encodeDocument(t, m.tokenizer!, m.config));
    const r = await evalBank({ idp, data: [], sets: [{ name: 'code', documents: docs }], extra: [{ name: 'again-1', scorer: cachedPromptScorer(idp.lm, kv[1]) }] });
    assert.deepEqual(r.extra, ['again-1']);
    assert.equal(r.files[0].file, 'code');
    assert.ok(close(r.nll.extra![0], r.nll.prompts[1], 1e-9), `${r.nll.extra![0]} vs ${r.nll.prompts[1]}`);
    // the same documents read from the file give the same figures
    assert.ok(close(r.files[0].nll.idp, layer0.files[0].nll.idp, 1e-9) && r.files[0].tokens === layer0.files[0].tokens);
    await idp.release();
  });

  it('documents per file (JSONL: one per line; plain text: one), counts that sum to them, the bank and its selection rule', () => {
    const r = layer0;
    assert.deepEqual(r.files.map((f) => f.documents), [CODE.length, 1, JSONS.length]);
    for (const f of r.files) {
      assert.equal(f.selected.length, LENGTHS.length);
      assert.equal(f.selected.reduce((a, b) => a + b, 0), f.documents, `${f.file}: every document goes to one prompt`);
      assert.deepEqual(f.selected, LENGTHS.map((_, i) => f.docs!.filter((d) => d.selected === i).length));
      assert.equal(f.expected, null);
      assert.equal(f.routingAccuracy, null);
    }
    assert.equal(r.documents, CODE.length + 1 + JSONS.length);
    assert.deepEqual(r.prompts, [{ n: 5, start: 0 }, { n: 5, start: 0 }, { n: 5, start: 0 }]);
    assert.deepEqual(r.selection, { layer: 0, score: 'mass', rule: 'paper', vote: 'all' });
    assert.equal(r.maxTokens, m.config.maxPositions - 5, 'default: the context left after the bank');
    assert.equal(r.routingAccuracy, null);
  });

  it('per document: oracle = best prompt alone; at layer 0 IDP = the selected prompt alone; means are token-weighted', () => {
    const docs = layer0.files.flatMap((f) => f.docs!);
    const used = new Set(docs.map((d) => d.selected));
    assert.ok(used.size >= 2, `the seed's prompts should route these documents to several prompts: ${[...used]}`);
    let differs = 0;
    for (const d of docs) {
      for (const p of d.nll.prompts) assert.ok(d.nll.oracle <= p, 'oracle ≤ every prompt alone');
      assert.equal(d.nll.oracle, Math.min(...d.nll.prompts));
      assert.equal(d.nll.prompts[d.best], d.nll.oracle);
      // layer 0: the other prompts are masked in the selection layer itself, so IDP is the selected prompt alone
      assert.ok(close(d.nll.idp, d.nll.prompts[d.selected], 1e-5), `IDP ${d.nll.idp} vs its prompt alone ${d.nll.prompts[d.selected]}`);
      if (d.nll.prompts.some((p, i) => i !== d.selected && !close(p, d.nll.idp, 1e-3))) differs++;
    }
    assert.ok(differs > 0, 'the other prompts give other NLLs (the equality is not vacuous)');
    for (const f of layer0.files) {
      assertWeighted(f.docs!, f, f.file);
      assert.ok(f.nll.oracle <= Math.min(...f.nll.prompts) + 1e-12);
      assert.ok(f.nll.oracle <= f.nll.idp + 1e-12);
    }
    assertWeighted(layer0.files, layer0, 'overall');
  });

  it('the same tokens in every column: none = the perplexity code on that window; a prompt alone = the inline soft prompt (prompts of 3 and 6 tokens, text from N = 6)', async () => {
    const mixed = IdpBank.fromPrompts(m, [randomPrompt(m, 3, 1), randomPrompt(m, 6, 2)]);
    const r = await evalBank({ idp: new IdpLM(m, mixed, { threads: 1 }), data: [readme] });
    const f = r.files[0];                                       // readme.txt: one document
    assert.equal(r.maxTokens, m.config.maxPositions - 6);
    const ids = encodeDocument(fs.readFileSync(readme, 'utf8'), m.tokenizer!, m.config).slice(0, r.maxTokens);
    assert.equal(f.tokens, ids.length - 1);
    const none = await perplexity(new CausalLM(m, { threads: 1 }), ids, { seqlen: ids.length });
    assert.ok(close(none.nll, f.nll.none, 1e-6), `none: ${f.nll.none} vs perplexity ${none.nll}`);
    assert.ok(close(f.nll.none, layer0.files[1].nll.none, 1e-6), 'the same tokens as under the other bank (the README excerpt fits both whole)');
    for (const [i, p] of mixed.info.entries()) {
      const sp = new SoftPrompt(m, mixed.prompts[i], p.n, 'random', undefined, p.start);
      const inline = windowNll((await new AdaptedLM(sp, { threads: 1 }).logits([ids]))[0], ids, m.config.vocabSize);
      assert.ok(close(inline, f.nll.prompts[i], 1e-4), `prompt ${i}: ${f.nll.prompts[i]} vs inline ${inline}`);
    }
  });

  it('selection layer 1: layer 0 attends to every prompt, so IDP is no longer the selected prompt alone', async () => {
    const r = await evalBank({ idp: new IdpLM(m, bank, { threads: 1, selectionLayer: 1 }), data: [code, json], perDocument: true });
    assert.deepEqual(r.selection, { layer: 1, score: 'mass', rule: 'paper', vote: 'all' });
    const docs = r.files.flatMap((f) => f.docs!);
    const gap = Math.max(...docs.map((d) => Math.abs(d.nll.idp - d.nll.prompts[d.selected])));
    assert.ok(gap > 1e-3, `largest |IDP − selected prompt alone| at layer 1: ${gap}`);
    // the single-prompt columns do not depend on the selection layer
    for (const [k, f] of r.files.entries()) {
      const before = layer0.files[k === 0 ? 0 : 2];
      f.nll.prompts.forEach((p, i) => assert.ok(close(p, before.nll.prompts[i], 1e-9)));
      assert.ok(close(f.nll.none, before.nll.none, 1e-9));
    }
  });

  it('--expect: routing accuracy per file and over the documents with an expectation', async () => {
    const r = await evalBank({ idp: new IdpLM(m, bank, { threads: 1 }), data: [code, readme, json], expect: [2, null, 0], perDocument: true });
    const right = (k: number, want: number) => r.files[k].docs!.filter((d) => d.selected === want).length;
    assert.deepEqual(r.files.map((f) => f.expected), [2, null, 0]);
    assert.equal(r.files[0].routingAccuracy, right(0, 2) / CODE.length);
    assert.equal(r.files[1].routingAccuracy, null);
    assert.equal(r.files[2].routingAccuracy, right(2, 0) / JSONS.length);
    assert.equal(r.routingAccuracy, (right(0, 2) + right(2, 0)) / (CODE.length + JSONS.length));
    assert.ok(r.routingAccuracy! > 0 && r.routingAccuracy! < 1, `a mixed result here: ${r.routingAccuracy}`);
    // same scoring as without --expect
    assert.deepEqual(r.files.map((f) => f.nll), layer0.files.map((f) => f.nll));
  });

  it('--max-docs, --max-tokens and --vote', async () => {
    const r = await evalBank({ idp: new IdpLM(m, bank, { threads: 1 }), data: [code, json], maxDocs: 2, maxTokens: 40, vote: 1, perDocument: true });
    assert.deepEqual(r.files.map((f) => f.documents), [2, 2]);
    for (const d of r.files.flatMap((f) => f.docs!)) assert.equal(d.tokens, 39, 'each document cut to 40 tokens: 39 predicted');
    assert.equal(r.tokens, 4 * 39);
    assert.equal(r.selection.vote, 1);
    // only BOS votes, and BOS at position N is the same in every document: one prompt for all of them
    assert.equal(new Set(r.files.flatMap((f) => f.docs!.map((d) => d.selected))).size, 1);
  });

  it('bad files and options: typed errors naming the file', async () => {
    const idp = new IdpLM(m, bank, { threads: 1 });
    const bad = path.join(root, 'bad.jsonl');
    fs.writeFileSync(bad, '{"text":"ok"}\n{"body":"no text"}\n');
    await expectIdpError(() => evalBank({ idp, data: [code, bad] }), 'FORMAT', bad, /line 2 has no string "text"/);
    const notJson = path.join(root, 'broken.jsonl');
    fs.writeFileSync(notJson, '{"text":\n');
    await expectIdpError(() => evalBank({ idp, data: [notJson] }), 'FORMAT', notJson, /line 1 is not JSON/);
    const empty = path.join(root, 'empty.txt');
    fs.writeFileSync(empty, '');
    await expectIdpError(() => evalBank({ idp, data: [empty] }), 'FORMAT', empty, /empty/);
    await expectIdpError(() => evalBank({ idp, data: [path.join(root, 'missing.txt')] }), 'NOT_FOUND', 'missing.txt');
    await expectIdpError(() => evalBank({ idp, data: [code, json], expect: [0] }), 'INPUT', undefined, /one per file/);
    await expectIdpError(() => evalBank({ idp, data: [code], expect: [3] }), 'INPUT', undefined, /prompt 3 is not in the bank/);
    await expectIdpError(() => evalBank({ idp, data: [code], maxTokens: 600 }), 'INPUT', undefined, /does not fit/);
  });

  it('CLI: --json has the documented shape; the default is a table; bad input exits 3 / 2 naming the file', () => {
    const r = cli('bank', 'eval', '--bank', bankDir, '--data', code, readme, '--expect', '0,2', '--max-tokens', '64', '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j).sort(), ['documents', 'files', 'maxTokens', 'nll', 'prompts', 'routingAccuracy', 'selection', 'tokens']);
    assert.deepEqual(j.selection, { layer: 0, score: 'mass', rule: 'paper', vote: 'all' });
    assert.equal(j.files.length, 2);
    for (const f of j.files) {
      assert.deepEqual(Object.keys(f).sort(), ['documents', 'expected', 'file', 'nll', 'routingAccuracy', 'selected', 'tokens']);
      assert.deepEqual(Object.keys(f.nll).sort(), ['idp', 'none', 'oracle', 'prompts']);
      assert.equal(f.nll.prompts.length, 3);
      assert.equal(typeof f.routingAccuracy, 'number');
    }
    assert.deepEqual(j.files.map((f: { file: string }) => f.file), [code, readme]);
    assert.deepEqual(j.files.map((f: { expected: number }) => f.expected), [0, 2]);
    assert.equal(j.routingAccuracy, (j.files[0].selected[0] + j.files[1].selected[2]) / (CODE.length + 1));
    assert.equal(j.tokens, j.files[0].tokens + j.files[1].tokens);
    const t = cli('bank', 'eval', '--bank', bankDir, '--data', code, '--data', readme, '--max-tokens', '64', '--score', 'mean', '--selection-layer', '2');
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /^selection at layer 2 by the paper's rule, head-mean attention mean per prompt token \(every token votes\); documents cut to 64 tokens/);
    assert.match(t.stdout, /^data\s+docs\s+tokens\s+selected\s+routing\s+IDP\s+none\s+prompt 0 \(5\)\s+prompt 1 \(5\)\s+prompt 2 \(5\)\s+oracle$/m);
    assert.match(t.stdout, new RegExp(`^${code.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+5\\s+315\\s+\\d/\\d/\\d\\s+(\\d\\.\\d{4}\\s+){5}\\d\\.\\d{4}$`, 'm'));
    assert.match(t.stdout, /^all\s+6\s+378\s/m);
    const bad = path.join(root, 'bad2.jsonl');
    fs.writeFileSync(bad, '{"title":"x"}\n');
    const e = cli('bank', 'eval', '--bank', bankDir, '--data', code, bad);
    assert.equal(e.status, 3);
    assert.match(e.stderr, new RegExp(`idp: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 1 has no string "text" field`));
    const x = cli('bank', 'eval', '--bank', bankDir, '--data', code, '--expect', '0,x');
    assert.equal(x.status, 2);
    assert.match(x.stderr, /--expect must list one prompt index/);
  });
});
