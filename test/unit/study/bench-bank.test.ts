// IDP in the benchmark: loglikelihood requests are scored unpacked and only the context votes, so all
// choices of an item see the prompt the context alone selects (checked against IdpLM.score on the
// context by itself); `idp bench --bank` runs on a tiny model and its per-prompt selection counts sum to
// the documents scored; a bank whose prompts have another width than the model's → typed INPUT error
// naming the bank file.

import * as assert from 'assert';
import * as path from 'path';
import * as fs from 'fs';
import { spawnSync } from 'child_process';
import { tmpDir } from '../../helpers/data';
import { randomPrompt, randomRows } from '../../helpers/idp';
import { writeHeldoutText, writeTextModel } from '../../helpers/study';
import { expectIdpError } from '../../helpers/tiny-hf';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { IdpBank, BANK_FILE } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';
import { IdpScoringModel } from '../../../src/engine/idp/scoring-model';
import { scoreLoglikelihood } from '../../../src/engine/eval/scoring';

const root = tmpDir('idp-study-bank-');
const CLI = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');

describe('study: IDP banks in the benchmark', function () {
  this.timeout(60000);
  let m: LoadedModel;
  let bank: IdpBank;
  const bankDir = path.join(root, 'bank');
  const modelDir = path.join(root, 'model');

  before(async () => {
    m = await loadModel(writeTextModel(modelDir, { maxPositions: 96 }));
    // 'mean' scores: on this random model different inputs select different prompts
    bank = IdpBank.fromPrompts(m, [randomPrompt(m, 3, 1), randomPrompt(m, 6, 2), randomPrompt(m, 2, 3)], { score: 'mean' });
    await bank.save(bankDir, m, { threads: 1 });
  });

  it('only the context votes: every choice of an item gets the selection of its context alone', async () => {
    const idp = new IdpLM(m, bank, { threads: 1 });
    const model = new IdpScoringModel(idp);
    const contexts = randomRows(4096, [5, 9, 4, 12, 7, 3], 11);
    const conts = randomRows(4096, [1, 3, 6, 2], 12);
    const pairs = contexts.flatMap((context) => conts.map((continuation) => ({ context, continuation })));
    const r = await scoreLoglikelihood(model, pairs, { batchTokens: 64 });
    const seen = new Set<number>();
    for (const [i, context] of contexts.entries()) {
      const mine = r.slice(i * conts.length, (i + 1) * conts.length).map((x) => x.selected);
      const alone = (await idp.score([context])).selected[0];
      assert.deepEqual(mine, conts.map(() => alone), `item ${i}: choices selected ${mine}, the context alone ${alone}`);
      seen.add(alone);
    }
    // not vacuous: contexts select different prompts, and letting the continuation vote too would change some choices
    assert.ok(seen.size >= 2, `every context selected the same prompt (${[...seen]})`);
    const all = await idp.score(pairs.map((p) => [...p.context, ...p.continuation.slice(0, -1)]));
    const alone = (await idp.score(contexts)).selected;
    assert.ok(all.selected.some((s, j) => s !== alone[Math.floor(j / conts.length)]), 'all tokens voting never changes a selection');
  });

  it('idp bench --bank runs; selection counts sum to the documents', () => {
    const heldout = writeHeldoutText(path.join(root, 'heldout.txt'));
    const out = path.join(root, 'bench.json');
    const p = spawnSync(process.execPath, [CLI, 'bench', '--model', modelDir, '--bank', bankDir, '--tasks', 'text_next_sentence,text_lambada,text_ppl',
      '--heldout', heldout, '--limit', '6', '--out', out, '--json'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(p.status, 0, p.stderr);
    const rep = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(rep.model.type, 'IDP');
    assert.deepEqual(rep.selection.prompts, [3, 6, 2]);
    const docs = Object.values(rep.tasks as Record<string, { n: number }>).reduce((a, t) => a + t.n, 0);
    assert.equal(rep.selection.counts.reduce((a: number, b: number) => a + b, 0), docs);
    for (const [t, c] of Object.entries(rep.selection.byTask as Record<string, number[]>)) {
      assert.equal(c.reduce((a, b) => a + b, 0), rep.tasks[t].n, t);
    }
    assert.equal(rep.settings.pack, false);
    assert.match(fs.readFileSync(out.replace(/\.json$/, '.md'), 'utf8'), /IDP selection/);
  });

  it('a bank made for another width → typed INPUT error naming the bank file', async () => {
    const narrow = await loadModel(writeTextModel(path.join(root, 'narrow'), { hiddenSize: 16 }));
    await expectIdpError(() => IdpBank.load(bankDir, narrow), 'INPUT', path.join(bankDir, BANK_FILE), /width/);
    const p = spawnSync(process.execPath, [CLI, 'bench', '--model', path.join(root, 'narrow'), '--bank', bankDir, '--tasks', 'text_ppl',
      '--heldout', path.join(root, 'heldout.txt'), '--out', path.join(root, 'narrow.json')], { encoding: 'utf8', timeout: 60000 });
    assert.equal(p.status, 2, p.stderr);
    assert.match(p.stderr, /bank\.json: .*width/);
  });
});
