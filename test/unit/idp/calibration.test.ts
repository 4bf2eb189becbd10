// The selection's calibration (engine/idp/calibration.ts): the paper's rule as weights, the LDA fit
// against the Bayes rule of known Gaussians (a float64 reference written here), the layer choice, and
// the calibration's round trip through bank.json with typed errors for malformed ones.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../../../src/engine/rng';
import { chooseLayer, fitCalibration, paperAccuracy, paperWeights, SelectionCalibration } from '../../../src/engine/idp/calibration';
import { IdpBank, BANK_FILE } from '../../../src/engine/idp/bank';
import { loadModel } from '../../../src/engine/models/load';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { randomPrompt } from '../../helpers/idp';
import { IdpError } from '../../../src/engine/errors';

/** n samples per class of F-dim Gaussians with class means mu[i] and a shared correlated covariance. */
function gaussians(mu: number[][], n: number, seed: number): { x: Float32Array[]; y: number[] } {
  const rng = Rng.for(seed, 'lda-test');
  const F = mu[0].length;
  const x: Float32Array[] = [];
  const y: number[] = [];
  for (const [i, m] of mu.entries()) {
    for (let k = 0; k < n; k++) {
      const z = Array.from({ length: F }, () => rng.normal());
      // correlated noise: feature f gets z_f + 0.8·z_{f−1} (scale 0.05), as heads that look alike
      x.push(Float32Array.from(m, (v, f) => v + 0.05 * (z[f] + (f ? 0.8 * z[f - 1] : 0))));
      y.push(i);
    }
  }
  return { x, y };
}

describe('IDP selection calibration', () => {
  it('the paper\'s weights turn per-head masses into the head-mean mass', () => {
    const H = 4;
    const m = 3;
    const W = paperWeights(H, m);
    const f = Array.from({ length: H * m }, (_, k) => (k * 7919) % 13 / 13);
    for (let i = 0; i < m; i++) {
      const viaW = f.reduce((a, x, k) => a + x * W[k * m + i], 0);
      const mean = Array.from({ length: H }, (_, h) => f[h * m + i]).reduce((a, b) => a + b, 0) / H;
      assert.ok(Math.abs(viaW - mean) < 1e-7);
    }
  });

  it('fits the Bayes rule of shared-covariance Gaussians: held-out accuracy near the optimum, far above the paper\'s rule', () => {
    // 2 heads × 3 prompts; the class means differ where the head-mean mass does not (prompt 0 draws the
    // most mass on average for every class, as equal-length prompts do): the paper's rule is stuck
    const mu = [
      [0.50, 0.20, 0.20, 0.30, 0.25, 0.25],
      [0.45, 0.25, 0.20, 0.35, 0.20, 0.25],
      [0.45, 0.20, 0.25, 0.35, 0.25, 0.20],
    ];
    const train = gaussians(mu, 60, 1);
    const test = gaussians(mu, 200, 2);
    const c = fitCalibration(2, train.x, train.y, 3);
    assert.equal(c.layer, 2);
    assert.equal(c.weight.length, 6);
    assert.ok(c.weight.every((r) => r.length === 3));
    const pick = (v: Float32Array) => {
      const s = c.bias.map((b, i) => v.reduce((a, x, f) => a + x * c.weight[f][i], b));
      return s.indexOf(Math.max(...s));
    };
    const acc = test.x.filter((v, n) => pick(v) === test.y[n]).length / test.x.length;
    // the Bayes rule with the true parameters: whiten by the noise's A (x = μ + 0.05·A z, A = I + 0.8·shift),
    // then the nearest true mean
    const whiten = (v: ArrayLike<number>) => {
      const out: number[] = [];
      for (let f = 0; f < v.length; f++) out.push(v[f] - (f ? 0.8 * out[f - 1] : 0));
      return out;
    };
    const muW = mu.map(whiten);
    const bayes = test.x.filter((v, n) => {
      const w = whiten(v);
      const d = muW.map((c) => c.reduce((a, x, f) => a + (w[f] - x) ** 2, 0));
      return d.indexOf(Math.min(...d)) === test.y[n];
    }).length / test.x.length;
    assert.ok(bayes > 0.8, `the test's classes should be separable: Bayes accuracy ${bayes}`);
    assert.ok(acc >= bayes - 0.04, `held-out accuracy ${acc}, Bayes rule ${bayes}`);
    assert.ok(Math.abs(c.fit.cvAccuracy - acc) < 0.1, `cross-validated ${c.fit.cvAccuracy} vs held-out ${acc}`);
    const paper = paperAccuracy(test.x, test.y, 2, 3);
    assert.ok(paper < 0.5, `the paper's rule: ${paper}`);
    // scores are centred over the prompts (same argmax, log-likelihood ratios)
    for (const row of c.weight) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0)) < 1e-9);
    assert.throws(() => fitCalibration(0, train.x.slice(0, 61), train.y.slice(0, 61), 3), (e: Error) => e instanceof IdpError && /at least 2 documents/.test(e.message));
  });

  it('chooses the lowest layer within the slack of the best cross-validated accuracy', () => {
    const fit = (layer: number, cvAccuracy: number) => ({ layer, fit: { cvAccuracy } }) as SelectionCalibration;
    assert.equal(chooseLayer([fit(0, 0.9), fit(1, 0.99), fit(2, 1)], 0.02).layer, 1);
    assert.equal(chooseLayer([fit(0, 0.985), fit(1, 0.99), fit(2, 1)], 0.02).layer, 0);
    assert.equal(chooseLayer([fit(3, 0.5), fit(1, 0.7)], 0).layer, 1);
  });

  it('round-trips through bank.json; a malformed calibration is a FORMAT error naming bank.json', async () => {
    const dir = tmpDir('idp-cal-');
    const m = await loadModel(writeTinyModel(path.join(dir, 'llama'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }).dir);
    const bank = IdpBank.fromPrompts(m, [randomPrompt(m, 2, 1), randomPrompt(m, 3, 2)]);
    const H = m.config.numHeads;
    const cal: SelectionCalibration = {
      layer: 1, weight: Array.from({ length: H * 2 }, (_, k) => [k / 10, -k / 10]), bias: [0.5, -0.5],
      fit: { method: 'lda', shrinkage: 0.3, documents: [4, 4], cvAccuracy: 1, folds: 4, trainAccuracy: 1 },
    };
    bank.calibration = [cal];
    bank.selectionLayer = 1;
    const out = path.join(dir, 'bank');
    await bank.save(out, m);
    const back = IdpBank.load(out, m);
    assert.deepEqual(back.calibrationAt(1), cal);
    assert.equal(back.calibrationAt(0), undefined);
    const file = path.join(out, BANK_FILE);
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const bad of [{ ...cal, bias: [1] }, { ...cal, weight: cal.weight.slice(1) }, { ...cal, weight: cal.weight.map(() => [1, Number.NaN]) }, { ...cal, layer: -1 }]) {
      fs.writeFileSync(file, JSON.stringify({ ...j, calibration: [bad] }));
      assert.throws(() => IdpBank.load(out, m), (e: Error) => e instanceof IdpError && (e as IdpError).code === 'FORMAT' && e.message.includes(file), JSON.stringify(bad).slice(0, 80));
    }
    // a calibration for more heads than the model has fails the model check (typed, names the file)
    fs.writeFileSync(file, JSON.stringify({ ...j, calibration: [{ ...cal, weight: Array.from({ length: (H + 1) * 2 }, () => [0, 0]) }] }));
    assert.throws(() => IdpBank.load(out, m), (e: Error) => e instanceof IdpError && e.message.includes(file) && /heads/.test(e.message));
  });
});
