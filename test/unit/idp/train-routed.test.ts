// Selection-aware training on unlabelled mixed text (issue 12, at test size): stories sampled from
// stories260K in three variants (as is / UPPERCASE / Title Case), interleaved into one unlabelled file;
// a bank of three 16-token prompts trained with --routing assign (k-means start, 3 rounds of train +
// reassign by loss). The assignment must be ≥ 80 % pure (each prompt's documents mostly one variant) and
// the calibrated bank must route held-out stories of each variant consistently: one prompt per variant
// (a permutation) for ≥ 90 % of them. The building blocks (k-means, purity, the held-out split) are
// checked on their own first.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { makeData } from '../../../scripts/idp-routing/make-data';
import { VARIANTS } from '../../../scripts/idp-routing/variants';
import { loadModel } from '../../../src/engine/models/load';
import { IdpBank } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';
import { documentIds } from '../../../src/engine/train/data';
import { DEFAULT_SETTINGS } from '../../../src/engine/train/trainer';
import { kMeans, routingPurity, splitHoldout, trainRouted, RoutedProgress } from '../../../src/engine/idp/train-routed';

/** Best agreement of `selected` with `labels` over the one-to-one maps label → prompt (k ≤ 4: all permutations). */
function permutationAgreement(selected: number[], labels: number[], k: number): { agreement: number; map: number[] } {
  const perms = (xs: number[]): number[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));
  let best = { agreement: -1, map: [] as number[] };
  for (const map of perms(Array.from({ length: k }, (_, i) => i))) {
    const agreement = selected.filter((s, i) => s === map[labels[i]]).length / selected.length;
    if (agreement > best.agreement) best = { agreement, map };
  }
  return best;
}

describe('selection-aware bank training (--routing assign)', function () {
  it('k-means separates clusters, purity counts majorities, the held-out documents are spread', () => {
    const pts = [[0, 0], [0.1, 0], [0, 0.1], [5, 5], [5.1, 5], [5, 5.2], [-5, 5], [-5.1, 5]].map((p) => Float64Array.from(p));
    const { labels } = kMeans(pts, 3, 1);
    assert.equal(routingPurity(labels, [0, 0, 0, 1, 1, 1, 2, 2]), 1);
    assert.equal(new Set(labels).size, 3);
    assert.equal(routingPurity([0, 0, 1, 1], ['a', 'b', 'a', 'b']), 0.5);
    const { documents, heldout } = splitHoldout([[1], [2], [3], [4], [5], [6]], 0.5);
    assert.deepEqual(heldout, [[2], [4], [6]], 'evenly spaced: files joined one after another each give some');
    assert.deepEqual(documents, [[1], [3], [5]]);
    assert.deepEqual(splitHoldout([[1], [2], [3], [4], [5], [6], [7], [8], [9], [10]], 0.2).heldout, [[5], [10]]);
    assert.throws(() => kMeans(pts.slice(0, 2), 3, 0), /2 training document\(s\) for 3 prompts/);
  });

  it('specialises three prompts on the unlabelled union of three variants and calibrates the routing (stories260K)', async function () {
    this.timeout(180000);
    const gguf = path.join(dataPath(this, ...STORIES), 'stories260K.gguf');
    const dir = tmpDir('idp-routed-');
    const data = path.join(dir, 'data');
    const t0 = Date.now();
    await makeData({ model: gguf, out: data, trainDocs: 150, heldoutDocs: 20, seed: 5, docTokens: 128 });
    const m = await loadModel(gguf);
    const read = (f: string, maxTokens = Number.MAX_SAFE_INTEGER) => documentIds(path.join(data, f), m.tokenizer!, m.config, { maxTokens }).ids;
    const union = read('union.train.jsonl');
    const { documents, heldout } = splitHoldout(union, 0.2);
    // make-data: story k in variant k mod 3 (the labels only measure the routing; training never sees them)
    const idx = splitHoldout(union.map((_, k) => [k]), 0.2);
    const labels = [...idx.documents, ...idx.heldout].map(([k]) => k % VARIANTS.length);
    const events: RoutedProgress[] = [];
    const t1 = Date.now();
    const r = await trainRouted({
      model: m, lengths: [16, 16, 16], documents, heldout, rounds: 3, out: path.join(dir, 'bank'), session: { threads: 1 },
      settings: { ...DEFAULT_SETTINGS, seqLen: 64, batchSize: 8, tokens: 3 * 16 * 8 * 64, lr: 0.02, warmup: 1, seed: 1 },
      onProgress: (p) => events.push(p),
    });
    const t2 = Date.now();
    assert.equal(r.status, 'done');
    assert.equal(r.rounds.length, 4, 'k-means + 3 rounds');
    const purity = routingPurity([...r.assignment, ...r.heldoutAssignment], labels);   // all documents, held-out ones too
    const perRound = events.filter((e) => e.assignment).map((e) => routingPurity(e.assignment!, labels.slice(0, documents.length)));
    const lines = r.rounds.map((x) => `round ${x.round}: ${x.counts.join('/')} (held out ${x.heldoutCounts.join('/')}) purity ${(100 * perRound[x.round]).toFixed(1)} %` +
      (x.meanLoss ? ` loss ${x.meanLoss.map((v) => v.toFixed(3)).join('/')} overall ${x.loss!.toFixed(3)} moved ${x.moved}` : ''));
    const report = `${lines.join('\n')}\npurity ${(100 * purity).toFixed(1)} %; data ${(t1 - t0) / 1000} s, training ${(t2 - t1) / 1000} s`;
    console.log(report);
    assert.ok(purity >= 0.8, report);
    for (let k = 2; k < r.rounds.length; k++) assert.ok(r.rounds[k].loss! < r.rounds[k - 1].loss!, `the routed loss falls round by round: ${report}`);
    assert.ok(r.calibration, `calibrated: ${r.calibrationSkipped}`);

    // the bank as saved routes held-out stories of each variant to one prompt per variant
    const bank = IdpBank.load(r.dir, m);
    assert.ok(bank.calibrationAt(bank.selectionLayer), 'bank.json holds the calibration it selects with');
    assert.equal((bank.training?.routing as { rounds: number }).rounds, 3);
    assert.ok(fs.existsSync(path.join(r.dir, 'routing.json')));
    // whole documents (as `idp bank eval` reads them) and their first 64 tokens (the calibration fits halves too)
    const idp = new IdpLM(m, bank, { threads: 1 });
    for (const maxTokens of [idp.maxInput, 64]) {
      const selected: number[] = [];
      const truth: number[] = [];
      for (const [k, v] of VARIANTS.entries()) {
        for (const ids of read(`${v}.heldout.jsonl`, maxTokens)) {
          selected.push((await idp.score([ids])).selected[0]);
          truth.push(k);
        }
      }
      const agree = permutationAgreement(selected, truth, 3);
      const line = `held-out stories (${maxTokens} tokens at most): variant → prompt ${agree.map.join(',')}, agreement ${(100 * agree.agreement).toFixed(1)} % of ${selected.length}`;
      console.log(line);
      assert.ok(agree.agreement >= 0.9, `${line}\n${report}`);
    }
    await idp.release();
  });
});
