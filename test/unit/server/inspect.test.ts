// `idp/inspect` through the real engine process (EngineClient over vscode-jsonrpc): a tiny prompt
// bank trained by the CLI on an RTN-compressed copy of the embedded default model; the reply's
// selection, per-head maps (whose mean is the head-averaged map), the input cut to fit, the comparison
// with the uncompressed model found through idp-compress.json, and bad parameters refused with typed
// errors — the process stays up.

import { strict as assert } from 'assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { EngineClient } from '../../../src/extension/engine-client';
import { IdpError } from '../../../src/engine/errors';
import { checkReportShape } from '../../../src/protocol/webview/inspector';
import { fitInput, limitHeads } from '../../../src/engine/jobs/inspect';
import type { InspectParams } from '../../../src/protocol/engine-rpc';

const OUT = path.resolve(__dirname, '..', '..', '..');
const SERVER = path.join(OUT, 'src', 'server', 'main.js');
const CLI = path.join(OUT, 'src', 'cli', 'main.js');

function cli(...args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, r.stderr);
}

const isIdp = (code: string, re?: RegExp) => (e: unknown) =>
  (e instanceof IdpError && e.code === code && (!re || re.test(e.message))) || assert.fail(`expected IdpError ${code} ${re ?? ''}, got ${e}`);

describe('engine process: idp/inspect', function () {
  this.timeout(180000);
  const root = tmpDir('idp-inspect-');
  const compressed = path.join(root, 'rtn4');
  const bank = path.join(root, 'bank');
  let engine: EngineClient;

  before(async () => {
    cli('compress', '--model', DEFAULT_MODEL_DIR, '--method', 'rtn', '--bits', '4', '--group-size', '64', '--out', compressed);
    cli('bank', 'train', '--model', compressed, '--data', 'model', '--prompts', '4,8', '--tokens', '256', '--seqlen', '32', '--batch', '4',
      '--sample-tokens', '2048', '--out', bank);
    engine = new EngineClient({ serverScript: SERVER, log: () => undefined });
    await engine.load({ model: compressed });
  });
  after(() => engine?.dispose());

  it('reports the selection, the scores and per-head maps whose mean is the head-averaged map', async () => {
    assert.ok((await engine.capabilities()).includes('inspect'));
    const r = await engine.inspect({ bank, text: 'export function add(a: number, b: number) {', heads: true });
    const rep = r.report;
    assert.equal(r.model, compressed);
    assert.equal(r.dropped, 0);
    assert.equal(checkReportShape(rep), undefined);
    assert.equal(rep.prompts.length, 2);
    assert.equal(rep.selected, rep.scores.indexOf(Math.max(...rep.scores)), 'the selection is the argmax');
    assert.equal(rep.tokens[0].text, '', 'BOS first');
    for (const l of rep.layers) {
      const H = l.heads!.length;
      assert.ok(H > 1);
      for (let t = 0; t < l.map.length; t++) {
        const sum = l.map[t].reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-3, `layer ${l.layer} row ${t} sums to ${sum}`);
        for (let j = 0; j < l.map[t].length; j++) {
          const mean = l.heads!.reduce((a, h) => a + h[t][j], 0) / H;
          assert.ok(Math.abs(mean - l.map[t][j]) < 1e-5, `layer ${l.layer} [${t}, ${j}]: mean of heads ${mean} vs ${l.map[t][j]}`);
        }
      }
    }
    // a reply too large for every head keeps the selection layer's first
    const capped = JSON.parse(JSON.stringify(rep)) as typeof rep;
    const one = capped.layers[0].heads!.length * capped.layers[0].map.length * capped.layers[0].map[0].length;
    capped.selectionLayer = 2;
    limitHeads(capped, 2 * one);
    assert.deepEqual(capped.layers.map((l) => !!l.heads), [true, false, true, false]);
    const plain = await engine.inspect({ bank, text: 'export function add(a: number, b: number) {' });
    assert.equal(plain.report.layers[0].heads, undefined, 'no per-head maps unless asked');
    assert.deepEqual(plain.report.scores, rep.scores);
  });

  it('keeps BOS and the last tokens of a long input', async () => {
    const text = 'const x = 1;\n'.repeat(40);
    const r = await engine.inspect({ bank, text, maxTokens: 24 });
    assert.equal(r.report.tokens.length, 24);
    assert.ok(r.dropped > 0);
    assert.equal(r.report.tokens[0].text, '');
    assert.deepEqual(fitInput([1, 5, 6, 7, 8], 3, 1), { ids: [1, 7, 8], dropped: 2 });
    assert.deepEqual(fitInput([5, 6, 7], 3, 1), { ids: [5, 6, 7], dropped: 0 });
    assert.deepEqual(fitInput([5, 6, 7, 8], 2, 1), { ids: [7, 8], dropped: 2 });
  });

  it('compares with the uncompressed model named in idp-compress.json (same input, same bank)', async () => {
    const r = await engine.inspect({ bank, text: 'function f(x) { return x', compare: true });
    assert.ok(r.compare, 'a comparison');
    assert.equal(path.resolve(r.compare!.model), path.resolve(DEFAULT_MODEL_DIR));
    assert.deepEqual(r.compare!.report.tokens.map((t) => t.id), r.report.tokens.map((t) => t.id), 'the same tokens');
    assert.equal(checkReportShape(r.compare!.report), undefined);
    const differs = r.compare!.report.layers.some((l, i) => l.map.some((row, t) => row.some((v, j) => v !== r.report.layers[i].map[t][j])));
    assert.ok(differs, 'a 4-bit model attends differently somewhere');
  });

  it('runs on the model named (the bank\'s own) without changing the loaded one', async () => {
    await engine.load({ model: DEFAULT_MODEL_DIR });
    const r = await engine.inspect({ bank, model: compressed, text: 'const a = 1;', compare: true });
    assert.equal(r.model, compressed);
    assert.equal(path.resolve(r.compare!.model), path.resolve(DEFAULT_MODEL_DIR));
    assert.equal((await engine.info())?.path, DEFAULT_MODEL_DIR, 'the loaded model stays');
    await engine.load({ model: compressed });
  });

  it('refuses bad parameters with typed errors and stays up', async () => {
    const bad: Array<[unknown, string, RegExp]> = [
      [{ text: 'x' }, 'INPUT', /no bank folder/],
      [{ bank, text: 'x', extra: 1 }, 'INPUT', /unknown parameter 'extra'/],
      [{ bank, ids: [] }, 'INPUT', /ids must be a non-empty array/],
      [{ bank, text: 'x', ids: [1] }, 'INPUT', /text or ids, not both/],
      [{ bank, text: 'x', maxTokens: 0 }, 'INPUT', /maxTokens/],
      [{ bank, text: 'x', score: 'max' }, 'INPUT', /score must be/],
      [{ bank, text: 'x', compare: 3 }, 'INPUT', /compare must be/],
      [{ bank, text: 'x', model: '' }, 'INPUT', /model must be a model path/],
      [{ bank, text: 'x', model: path.join(root, 'no-model') }, 'NOT_FOUND', /./],
      [{ bank: path.join(root, 'nope'), text: 'x' }, 'NOT_FOUND', /no prompt bank here/],
      [{ bank, ids: [1, 999999] }, 'INPUT', /outside the vocabulary/],
    ];
    for (const [p, code, re] of bad) await engine.inspect(p as InspectParams).then(() => assert.fail(`accepted ${JSON.stringify(p)}`), isIdp(code, re));
    // the loaded model is the uncompressed one: there is nothing to compare with
    await engine.load({ model: DEFAULT_MODEL_DIR });
    await engine.inspect({ bank, text: 'x', compare: true }).then(() => assert.fail('compared'), isIdp('INPUT', /not compressed by IDP Lab/));
    const ok = await engine.inspect({ bank, text: 'let y =' });
    assert.equal(ok.model, DEFAULT_MODEL_DIR, 'the bank runs on the uncompressed model too (K/V recomputed)');
  });
});
