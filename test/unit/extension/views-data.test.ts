// The data behind the webviews, without an editor: Table 1 from a study report (paper column order,
// aggregates, extra tasks, params, latency), the difference of two runs, the Markdown and CSV exports,
// the study runs and prompt banks of a lab folder, and the Inspector's text (selection or cursor).

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { deltaTable, formatCell, formatParams, studyTableOf, tableCsv, tableMarkdown } from '../../../src/extension/views/study-table';
import { listStudies, readStudy } from '../../../src/extension/views/study-runs';
import { findBanks } from '../../../src/extension/views/banks';
import { inspectorInput, MAX_CHARS } from '../../../src/extension/views/inspector-input';
import { studyFixture, writeStudy } from '../../helpers/study-fixture';
import { labSweep } from '../../../src/extension/views/study-sweep';
import { meanAccuracy } from '../../../src/engine/study/accuracy';
import type { StudyReport } from '../../../src/protocol/study-schema';
import { REPO_ROOT, tmpDir } from '../../helpers/data';
import { spawnSync } from 'child_process';
import { studyReport } from '../../../src/protocol/webview/study-report';
import { validate } from '../../../src/protocol/webview/validate';

describe('Benchmarks data: Table 1', () => {
  const rep = studyFixture();
  const t = studyTableOf(rep);
  it('has the paper\'s columns in order, aggregates between the tasks, extra tasks before the average', () => {
    assert.deepEqual(t.columns.map((c) => c.label), ['arcE', 'arcC', 'sciq', 'webqs', 'triviaqa', 'World', 'piqa', 'Common', 'hellaswag', 'lambada', 'winogrande', 'Language', 'wikitext ↓', 'Average']);
    assert.equal(t.columns.find((c) => c.key === 'wikitext')?.lowerBetter, true, 'a perplexity column');
    assert.deepEqual(t.columns.filter((c) => c.group === 'aggregate').map((c) => c.key), ['World', 'Common', 'Language', 'Average']);
  });
  it('one row per method with value ± stderr, params and latency', () => {
    assert.deepEqual(t.rows.map((r) => r.id), ['base', 'compressed', 'prompt-8', 'idp-4+8', 'lora-r2']);
    const idp = t.rows[3];
    const avg = idp.cells[t.columns.findIndex((c) => c.key === 'Average')]!;
    assert.ok(Math.abs(avg.value - rep.rows[3].aggregates!.values.Average!.value) < 1e-12);
    assert.equal(idp.params, 2304);
    assert.equal(idp.decodeMs, 0.7);
    assert.ok(Math.abs(idp.ppl! - Math.exp(3.2)) < 1e-9, 'held-out perplexity');
    assert.equal(formatCell({ value: 41.234, stderr: 0.5 }), '41.23 ± 0.50');
    assert.equal(formatCell({ value: 1.5, stderr: null }, true), '+1.50');
    assert.equal(formatCell(null), '—');
    assert.equal(formatParams(23040), '23.0K');
    assert.equal(formatParams(2_360_000), '2.36M');
  });
  it('a missing task is an empty cell, not a zero', () => {
    const r = studyFixture();
    delete r.rows[2].headline.piqa;
    r.rows[2].aggregates = { values: {}, missing: { Common: ['piqa'] } };
    const t2 = studyTableOf(r);
    assert.equal(t2.rows[2].cells[t2.columns.findIndex((c) => c.key === 'piqa')], null);
    assert.equal(t2.rows[2].cells[t2.columns.findIndex((c) => c.key === 'Average')], null);
  });
  it('the difference of two runs matches rows by id (A − B, stderr combined)', () => {
    const b = studyTableOf(studyFixture({ shift: 2 }));
    const d = deltaTable(t, b);
    assert.equal(d.rows.length, 5);
    const arcE = d.rows[0].cells[0]!;
    assert.ok(Math.abs(arcE.value + 2) < 1e-9);
    assert.ok(Math.abs(arcE.stderr! - Math.sqrt(2) * 0.5) < 1e-9);
    const fewer = { ...b, rows: b.rows.slice(0, 2) };
    assert.deepEqual(deltaTable(t, fewer).rows.map((r) => r.id), ['base', 'compressed']);
  });
  it('exports Markdown and CSV', () => {
    const md = tableMarkdown(t, 'Run A');
    const lines = md.trim().split('\n');
    assert.equal(lines[0], '### Run A');
    assert.match(lines[2], /^\| Method \| arcE \| arcC .* \| Average \| Params \| Held-out ppl \| Decode ms\/token \|$/);
    assert.match(lines[3], /^\| --- \| ---: \|/);
    assert.match(lines[7], /^\| RTN 4-bit \+ IDP \(4, 8\) \| \d+\.\d\d ± 0\.50 \|.* \| 2\.3K \| 24\.53 \| 0\.70 \|$/);
    assert.equal(lines.length, 4 + 5);
    const csv = tableCsv(t).trim().split('\n');
    assert.equal(csv.length, 6);
    const head = csv[0].split(',');
    assert.deepEqual(head.slice(0, 5), ['id', 'method', 'status', 'arc_easy', 'arc_easy_stderr']);
    assert.equal(head[head.length - 1], 'decode_ms_per_token');
    assert.equal(csv[4].split(',')[0], 'idp-4+8');
    assert.match(csv[4], /^idp-4\+8,"RTN 4-bit \+ IDP \(4, 8\)",done,/, 'a field with a comma is quoted');
    assert.equal(csv[1].split(',').length, head.length + 0, 'every row has every column');
  });
});

describe('Benchmarks data: the lab folder', () => {
  it('lists study folders (newest first) and says why an unreadable one cannot be shown', () => {
    const lab = tmpDir('idp-lab-studies-');
    writeStudy(path.join(lab, 'runs', 'a-study'), studyFixture({ created: '2026-01-01T00:00:00.000Z' }));
    writeStudy(path.join(lab, 'runs', 'b-study'), studyFixture({ created: '2026-02-01T00:00:00.000Z', label: 'second' }));
    fs.mkdirSync(path.join(lab, 'runs', 'broken'), { recursive: true });
    fs.writeFileSync(path.join(lab, 'runs', 'broken', 'study.json'), '{"schema": "idp-study/9"}');
    fs.mkdirSync(path.join(lab, '.hidden', 'x'), { recursive: true });
    fs.writeFileSync(path.join(lab, '.hidden', 'x', 'study.json'), '{}');
    const runs = listStudies(lab);
    assert.deepEqual(runs.filter((r) => !r.error).map((r) => r.id), ['runs/b-study', 'runs/a-study']);
    assert.equal(runs[0].label, 'second · RTN 4-bit');
    const broken = runs.find((r) => r.id === 'runs/broken')!;
    assert.equal(broken.status, 'unreadable');
    assert.match(broken.error!, /study\.json: study\.json\.schema: expected "idp-study\/1", got "idp-study\/9"/);
    assert.ok(!runs.some((r) => r.id.includes('hidden')), 'hidden folders are skipped');
    const r = readStudy(path.join(lab, 'runs', 'missing'));
    assert.equal(r.ok, false);
    assert.deepEqual(listStudies(path.join(lab, 'nothing-here')), []);
  });
  it('Figure 1 over the lab folder: one bar per compression setting of the same protocol, the newest study for each', () => {
    const lab = tmpDir('idp-lab-sweep-');
    const put = (name: string, r: StudyReport) => writeStudy(path.join(lab, 'runs', name), r);
    put('rtn-old', studyFixture({ created: '2026-01-01T00:00:00.000Z', shift: -3 }));
    put('rtn-new', studyFixture({ created: '2026-02-01T00:00:00.000Z' }));
    put('gptq3', studyFixture({ created: '2026-01-15T00:00:00.000Z', shift: -5, compression: { spec: 'gptq:3', description: 'GPTQ 3-bit, group 128' } }));
    const other = studyFixture({ created: '2026-03-01T00:00:00.000Z', compression: { spec: 'gptq:2', description: 'GPTQ 2-bit' } });
    other.settings.seed = 7;   // another protocol: not in the same figure
    put('other-seed', other);
    const runs = listStudies(lab);
    const shown = readStudy(path.join(lab, 'runs', 'rtn-new'));
    assert.ok(shown.ok);
    const s = labSweep(runs, shown.report)!;
    assert.deepEqual(s.points.map((p) => [p.spec, path.basename(p.study)]), [['gptq:3', 'gptq3'], ['rtn:4', 'rtn-new']]);
    // each bar is that study's compressed row's mean accuracy (the engine's one definition)
    const acc = (r: StudyReport) => meanAccuracy(r.rows.find((x) => x.kind === 'compressed')!)!;
    assert.equal(s.points[1].accuracy, acc(shown.report));
    assert.equal(s.base!.label, 'Uncompressed');
    // the older RTN study shown: its own bar, not the newer one's
    const old = readStudy(path.join(lab, 'runs', 'rtn-old'));
    assert.ok(old.ok);
    assert.equal(path.basename(labSweep(runs, old.report)!.points[1].study), 'rtn-old');
    // one setting only: no figure
    const alone = readStudy(path.join(lab, 'runs', 'other-seed'));
    assert.ok(alone.ok);
    assert.equal(labSweep(runs, alone.report), null);
  });
  it('finds prompt banks (not inside a bank\'s own folders), newest first', () => {
    const lab = tmpDir('idp-lab-banks-');
    const mk = (rel: string, prompts: number[], t: number) => {
      const d = path.join(lab, rel);
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, 'bank.json'), JSON.stringify({ format: 'idp-bank', prompts: prompts.map((n) => ({ n })) }));
      fs.utimesSync(path.join(d, 'bank.json'), t, t);
    };
    mk('runs/one/bank', [4, 8], 1000);
    mk('runs/two/bank', [26, 100], 2000);
    mk('runs/two/bank/prompts/p0', [1], 3000);
    fs.mkdirSync(path.join(lab, 'runs', 'half'), { recursive: true });
    fs.writeFileSync(path.join(lab, 'runs', 'half', 'bank.json'), '{');
    const b = findBanks(lab);
    assert.deepEqual(b.map((x) => path.relative(lab, x.dir)), [path.join('runs', 'two', 'bank'), path.join('runs', 'one', 'bank')]);
    assert.deepEqual(b[0].prompts, [26, 100]);
  });
});

describe('Inspector input: selection or cursor', () => {
  const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
  it('the selection when there is one (one line or several)', () => {
    assert.deepEqual(inspectorInput(lines, { startLine: 3, startChar: 2, endLine: 3, endChar: 6 }), { text: 'ne 3', kind: 'selection' });
    assert.deepEqual(inspectorInput(lines, { startLine: 3, startChar: 5, endLine: 5, endChar: 4 }), { text: '3\nline 4\nline', kind: 'selection' });
  });
  it('else the lines before the cursor through its line', () => {
    const r = inspectorInput(lines, { startLine: 20, startChar: 2, endLine: 20, endChar: 2 }, 3);
    assert.deepEqual(r, { text: 'line 18\nline 19\nline 20', kind: 'cursor' });
    assert.equal(inspectorInput(lines, { startLine: 0, startChar: 0, endLine: 0, endChar: 0 }, 5).text, 'line 0');
  });
  it('keeps the end of a very long text', () => {
    const long = ['x'.repeat(MAX_CHARS + 10) + 'END'];
    const r = inspectorInput(long, { startLine: 0, startChar: 0, endLine: 0, endChar: long[0].length });
    assert.equal(r.text.length, MAX_CHARS);
    assert.ok(r.text.endsWith('END'));
  });
});

describe('Benchmarks data: a report written by idp study', function () {
  this.timeout(300000);
  it('reads, validates and tabulates (the producer and the view agree on the schema)', () => {
    const lab = tmpDir('idp-lab-real-study-');
    const out = path.join(lab, 'runs', 'x-study', 'study');
    // the smallest study that has every part: compression, a prompt and IDP trained, a task, similarity
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'out', 'src', 'cli', 'main.js'), 'study', '--compress', 'rtn:4:g64', '--methods', 'prompt:4,idp',
      '--tokens', '64', '--tasks', 'text_next_line', '--heldout', path.join(REPO_ROOT, 'src', 'extension', 'lab.ts'), '--seqlen', '32', '--batch', '4',
      '--similarity-samples', '1', '--no-latency', '--out', out], { encoding: 'utf8', timeout: 280000 });
    assert.equal(r.status, 0, r.stderr);
    const runs = listStudies(lab);
    assert.deepEqual(runs.map((x) => [x.id, x.status, x.error]), [['runs/x-study/study', 'complete', undefined]]);
    const rd = readStudy(out);
    assert.ok(rd.ok);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'study.json'), 'utf8'));
    assert.ok(validate(studyReport, json).ok);
    const t = studyTableOf(rd.report);
    assert.deepEqual(t.rows.map((x) => x.kind), ['base', 'compressed', 'prompt', 'idp']);
    assert.deepEqual(t.columns.map((c) => c.key), ['text_next_line']);
    assert.ok(t.rows.every((x) => x.cells[0] !== null && x.ppl !== undefined), 'every row has its score and held-out perplexity');
    assert.ok(rd.report.analyses.similarity && Object.keys(rd.report.analyses.similarity.rows).length >= 2, 'the similarity analysis (Figure 5)');
    assert.match(tableMarkdown(t), /\| RTN-4bit \+ IDP \(4\) \|/);
  });
});
