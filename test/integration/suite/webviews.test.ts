// In the real extension host: the IDP Inspector on the embedded default model with a tiny prompt bank
// (trained by the CLI), the report reaching the webview and drawn there (its `rendered` reply), the
// comparison run, bad input; the Benchmarks view showing study runs of the lab folder, and its exports.
// No CSP violation or rejected message may be reported by either webview.

import { strict as assert } from 'assert';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as vscode from 'vscode';
import { api, resetSettings, waitFor } from './helpers';
import { defaultModelPath } from '../../../src/engine/defaults';
import { studyFixture, writeStudy } from '../../helpers/study-fixture';
import type { InspectorView } from '../../../src/protocol/webview/inspector';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');

describe('extension host: IDP Inspector and Benchmarks', function () {
  this.timeout(180000);
  let bank: string;

  before(async () => {
    await resetSettings();
    const a = await api();
    bank = path.join(a.labRoot(), 'runs', 'bank-host-test', 'bank');
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'cli.js'), 'bank', 'train', '--data', 'model', '--prompts', '4,8', '--tokens', '256',
      '--seqlen', '32', '--batch', '4', '--sample-tokens', '2048', '--out', bank], { encoding: 'utf8', timeout: 120000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => {
    // the exports are untitled documents: revert them, so closing asks nothing
    for (let i = 0; i < 10 && vscode.window.activeTextEditor?.document.isUntitled; i++) {
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('Open IDP Inspector reports the selected prompt and the webview draws it', async () => {
    const a = await api();
    assert.ok((await a.engine.capabilities()).includes('inspect'));
    const view = await vscode.commands.executeCommand<InspectorView | undefined>('idp.openInspector', { bank, text: 'export function add(a: number, b: number) {' });
    assert.ok(view, 'a view');
    assert.equal(view!.model, defaultModelPath());
    const r = view!.report;
    assert.equal(r.selected, r.scores.indexOf(Math.max(...r.scores)));
    assert.ok(r.layers.every((l) => (l.heads?.length ?? 0) > 1), 'per-head maps');
    const st = a.views.inspector()!;
    const drawn = await waitFor('the inspector webview to draw', () => st.rendered?.seq === view!.seq && st.rendered, 60000);
    assert.equal(drawn.selected, r.selected);
    assert.equal(drawn.layer, r.selectionLayer);
    assert.equal(drawn.heatmapCells, r.tokens.length * (r.tokens.length + 12), 'T × (Σn + T) cells');
    assert.deepEqual(st.problems, [], 'no rejected message, no CSP violation');
  });

  it('compares with another model on the same input and bank', async () => {
    const a = await api();
    const view = await vscode.commands.executeCommand<InspectorView | undefined>('idp.openInspector', { bank, text: 'let total = 0;', compare: defaultModelPath() });
    assert.ok(view?.compare, 'a comparison');
    assert.deepEqual(view!.compare!.report.scores, view!.report.scores, 'the same model gives the same scores');
    const st = a.views.inspector()!;
    const drawn = await waitFor('two heatmaps', () => st.rendered?.seq === view!.seq && st.rendered, 60000);
    const T = view!.report.tokens.length;
    assert.equal(drawn.heatmapCells, 2 * T * (T + 12));
    assert.deepEqual(st.problems, []);
  });

  it('bad input: a missing bank and malformed arguments change nothing and leave no job', async () => {
    const a = await api();
    const before = a.views.inspector()!.view;
    assert.equal(await vscode.commands.executeCommand('idp.openInspector', { bank: path.join(a.labRoot(), 'no-bank'), text: 'x' }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.openInspector', { bank, text: 42 }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.openInspector', 'not an object'), undefined);
    // a bank of the uncompressed model has no uncompressed model to compare with: said, not crashed
    assert.equal(await vscode.commands.executeCommand('idp.openInspector', { bank, text: 'x', compare: true }), undefined);
    assert.equal(a.views.inspector()!.view, before, 'the last good view stays');
    assert.deepEqual(a.views.inspector()!.problems, []);
    assert.equal(a.jobs.running.size, 0);
    assert.equal(await vscode.commands.executeCommand('idp.showBenchmarks', 7), undefined);
  });

  it('Show Benchmarks lists the lab folder\'s studies and the webview draws the table and five charts', async () => {
    const a = await api();
    const runs = path.join(a.labRoot(), 'runs');
    writeStudy(path.join(runs, 'study-old'), studyFixture({ created: '2026-01-01T00:00:00.000Z' }));
    writeStudy(path.join(runs, 'study-new'), studyFixture({ created: '2026-03-01T00:00:00.000Z', shift: 1 }));
    const st = await vscode.commands.executeCommand<any>('idp.showBenchmarks', { study: 'runs/study-old' });
    assert.ok(st);
    assert.deepEqual(a.views.benchmarks.runs.map((r) => r.id), ['runs/study-new', 'runs/study-old']);
    assert.equal(a.views.benchmarks.selected, 'runs/study-old');
    const drawn = await waitFor('the benchmarks webview to draw', () => a.views.benchmarks.rendered?.id === 'runs/study-old' && a.views.benchmarks.rendered, 60000);
    assert.deepEqual({ rows: drawn.rows, charts: drawn.charts }, { rows: 5, charts: 5 });   // Figs. 4, 7, 6, 5 and latency (one compression setting: no Fig. 1)
    assert.deepEqual(a.views.benchmarks.problems, [], 'no rejected message, no CSP violation');
    const csv = await a.views.exportBenchmarks('csv');
    assert.match(csv!.split('\n')[0], /^id,method,status,arc_easy,arc_easy_stderr,/);
    assert.equal(csv!.trim().split('\n').length, 6);
    const md = await a.views.exportBenchmarks('markdown');
    assert.match(md!, /\| RTN 4-bit \+ IDP \(4, 8\) \|/);
    assert.equal(vscode.window.activeTextEditor?.document.languageId, 'markdown');
  });
});
