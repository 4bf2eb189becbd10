// Paper Figure 1 over several study folders (`idp study-figure --fig 1`, study/sweep-chart.ts): three tiny
// studies of one model, each compressing another way (GPTQ 4-bit, GPTQ 2-bit, SparseGPT 50 %), give one
// bar each in the order given and the uncompressed model as the reference line; studies that differ in
// their protocol (here --limit) or repeat a setting are typed INPUT errors naming the file.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { tmpDir } from '../../helpers/data';
import { writeHeldoutText, writeTextModel } from '../../helpers/study';
import { runStudy } from '../../../src/engine/study/run';
import { meanAccuracy } from '../../../src/engine/study/charts';
import type { StudyReport } from '../../../src/protocol/study-schema';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const idp = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000 });

describe('study figures over several studies (Fig. 1)', function () {
  this.timeout(120000);
  const root = tmpDir('idp-fig1-');
  const specs = ['gptq:4:g32', 'gptq:2:g32', 'sparsegpt:0.5'];
  const dirs = specs.map((s) => path.join(root, s.replace(/[:.]/g, '_')));
  const reports: StudyReport[] = [];

  before(async () => {
    const model = writeTextModel(path.join(root, 'model'), { maxPositions: 96 });
    const heldout = writeHeldoutText(path.join(root, 'heldout.txt'));
    for (const [i, compress] of specs.entries()) {
      reports.push(await runStudy({
        model, compress, methods: ['none'], tokens: 64, tasks: ['text_next_sentence', 'text_lambada'], heldout: [heldout], out: dirs[i],
        limit: 6, seed: 3, seqLen: 16, batch: 4, calibSamples: 4, latency: false, similarity: false,
      }));
    }
  });

  it('one bar per study in the order given, the uncompressed model as a rule; the points are the compressed rows', () => {
    const out = path.join(root, 'fig');
    const r = idp('study-figure', '--fig', '1', '--out', out, ...dirs);
    assert.equal(r.status, 0, r.stderr);
    const sweep = JSON.parse(fs.readFileSync(path.join(out, 'fig1-compression.json'), 'utf8'));
    assert.deepEqual(sweep.points.map((p: { spec: string }) => p.spec), specs);
    assert.deepEqual(sweep.points.map((p: { bits?: number; sparsity?: number }) => [p.bits, p.sparsity]), [[4, undefined], [2, undefined], [undefined, 0.5]]);
    reports.forEach((rep, i) => assert.equal(sweep.points[i].accuracy, meanAccuracy(rep.rows.find((x) => x.kind === 'compressed')!)));
    assert.equal(sweep.base.accuracy, meanAccuracy(reports[0].rows.find((x) => x.kind === 'base')!));
    const spec = JSON.parse(fs.readFileSync(path.join(out, 'fig1-compression.vl.json'), 'utf8'));
    assert.deepEqual(spec.layer.map((l: { mark: string | { type: string } }) => (typeof l.mark === 'string' ? l.mark : l.mark.type)), ['bar', 'rule']);
    assert.match(fs.readFileSync(path.join(out, 'fig1-compression.svg'), 'utf8'), /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(r.stdout, /SparseGPT 50 % unstructured/);
  });

  it('studies with another protocol or a repeated setting are typed INPUT errors', () => {
    const other = path.join(root, 'other');
    fs.cpSync(dirs[1], other, { recursive: true });
    const file = path.join(other, 'study.json');
    const rep = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...rep, settings: { ...rep.settings, limit: 99 } }));
    const bad = idp('study-figure', '--fig', '1', '--out', path.join(root, 'x'), dirs[0], other);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /other\/study\.json: limit is 99, but 6 in .*study\.json: not comparable/);
    const twice = idp('study-figure', '--fig', '1', '--out', path.join(root, 'x'), dirs[0], dirs[0]);
    assert.equal(twice.status, 2);
    assert.match(twice.stderr, /two study folders compress with gptq:4:g32/);
    const missing = idp('study-figure', '--fig', '1', '--out', path.join(root, 'x'), dirs[0], path.join(root, 'nope'));
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /nope\/study\.json: no such file or folder/);
    assert.ok(!fs.existsSync(path.join(root, 'x')));
  });
});
