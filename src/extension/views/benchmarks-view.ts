// The Benchmarks view (activity bar "IDP Lab" → Benchmarks): the study runs of the lab folder, the
// selected run's Table 1 with its charts, a second run to compare with, and exports. The files are
// read here (study-runs.ts) and the table is built here (study-table.ts); the webview draws. Every
// message from the webview is checked; a malformed one is logged and dropped.

import * as vscode from 'vscode';
import { Ctx, lab } from '../context';
import { listStudies, readStudy, StudyRun } from './study-runs';
import { deltaTable, studyTableOf, tableCsv, tableMarkdown } from './study-table';
import { FromBenchmarks, fromBenchmarks, ToBenchmarks } from '../../protocol/webview/benchmarks';
import { validate } from '../../protocol/webview/validate';
import { webviewHtml, webviewOptions } from './webview-html';
import { labSweep } from './study-sweep';

export const BENCHMARKS_VIEW = 'idp.benchmarks';

export interface BenchmarksState {
  runs: StudyRun[];
  selected: string | null;
  compare: string | null;
  rendered?: Extract<FromBenchmarks, { type: 'rendered' }>;
  problems: string[];
  /** The last export opened (format, document text). */
  exported?: { format: 'markdown' | 'csv'; text: string };
}

export class BenchmarksView implements vscode.WebviewViewProvider, vscode.Disposable {
  readonly state: BenchmarksState = { runs: [], selected: null, compare: null, problems: [] };
  private view?: vscode.WebviewView;
  private watcher?: vscode.FileSystemWatcher;
  private watchedRoot?: string;
  private disposables: vscode.Disposable[] = [];

  constructor(private readonly ctx: Ctx) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = webviewOptions(this.ctx.ext.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.ctx.ext.extensionUri, 'benchmarks', 'IDP Benchmarks');
    this.disposables.push(
      view.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      view.onDidDispose(() => { this.view = undefined; }),
    );
    this.watch();
  }

  /** Re-reads the lab folder when a study.json appears, changes or goes. */
  private watch(): void {
    const root = lab(this.ctx).root;
    if (this.watchedRoot === root) return;
    this.watcher?.dispose();
    this.watchedRoot = root;
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(root), '**/study.json'));
    const again = () => this.refresh();
    this.watcher.onDidCreate(again);
    this.watcher.onDidChange(again);
    this.watcher.onDidDelete(again);
  }

  private post(m: ToBenchmarks): void {
    void this.view?.webview.postMessage(m);
  }

  /** Lists the runs again and shows the selected one (the newest when none is, or it is gone). */
  refresh(select?: string): void {
    const root = lab(this.ctx).root;
    this.state.runs = listStudies(root);
    const has = (id: string | null) => id !== null && this.state.runs.some((r) => r.id === id);
    if (select !== undefined) this.state.selected = select;
    if (!has(this.state.selected)) this.state.selected = this.state.runs.find((r) => !r.error)?.id ?? this.state.runs[0]?.id ?? null;
    if (!has(this.state.compare) || this.state.compare === this.state.selected) this.state.compare = null;
    this.post({ type: 'runs', runs: this.state.runs, selected: this.state.selected, compare: this.state.compare, lab: root });
    this.showSelected();
  }

  private shown(id: string) {
    const run = this.state.runs.find((r) => r.id === id);
    if (!run) return { error: `no study '${id}' in the lab folder` };
    const r = readStudy(run.dir);
    if (!r.ok) return { error: r.error };
    return { id, report: r.report, table: studyTableOf(r.report) };
  }

  private showSelected(): void {
    if (this.state.selected === null) {
      this.post({ type: 'empty', message: `No study yet in ${lab(this.ctx).root}. Run one with IDP: Run Study… (or idp study --out there).` });
      return;
    }
    const a = this.shown(this.state.selected);
    if ('error' in a) {
      this.post({ type: 'empty', message: `Cannot show this run: ${a.error}` });
      return;
    }
    let compare: Extract<ToBenchmarks, { type: 'study' }>['compare'] = null;
    if (this.state.compare !== null) {
      const b = this.shown(this.state.compare);
      if ('error' in b) this.ctx.log.warn(`Benchmarks: cannot compare with ${this.state.compare}: ${b.error}`);
      else compare = { ...b, delta: deltaTable(a.table, b.table) };
    }
    const sweep = labSweep(this.state.runs, a.report, (msg) => this.ctx.log.info(`Benchmarks: Figure 1: ${msg}`));
    this.post({ type: 'study', run: a, compare, sweep });
  }

  private receive(raw: unknown): void {
    const r = validate(fromBenchmarks, raw, 'benchmarks message');
    if (!r.ok) {
      this.ctx.log.error(`Benchmarks: rejected a message from the webview: ${r.error.message}`);
      this.state.problems.push(r.error.message);
      return;
    }
    const m = r.value;
    switch (m.type) {
      case 'ready':
      case 'refresh':
        this.refresh();
        break;
      case 'select':
        this.refresh(m.id);
        break;
      case 'compare':
        this.state.compare = m.id;
        this.refresh();
        break;
      case 'export':
        void this.export(m.format);
        break;
      case 'rendered':
        this.state.rendered = m;
        break;
      case 'problem':
        this.ctx.log.warn(`Benchmarks (webview): ${m.message}`);
        this.state.problems.push(m.message);
        break;
    }
  }

  /** Opens the selected run's table (and the comparison, when there is one) as a new Markdown or CSV document. */
  async export(format: 'markdown' | 'csv'): Promise<string | undefined> {
    if (this.state.selected === null) return undefined;
    const a = this.shown(this.state.selected);
    if ('error' in a) {
      void vscode.window.showErrorMessage(`IDP: cannot export: ${a.error}`);
      return undefined;
    }
    const b = this.state.compare !== null ? this.shown(this.state.compare) : undefined;
    let text: string;
    if (format === 'csv') text = tableCsv(a.table);
    else {
      text = `## ${a.report.model.label} · ${a.report.compression.description || a.report.compression.spec} (${a.id})\n\n${tableMarkdown(a.table)}`;
      if (b && !('error' in b)) text += `\n${tableMarkdown(deltaTable(a.table, b.table), `Difference: ${a.id} − ${b.id}`, true)}`;
    }
    this.state.exported = { format, text };
    const doc = await vscode.workspace.openTextDocument({ content: text, language: format === 'csv' ? 'csv' : 'markdown' });
    await vscode.window.showTextDocument(doc, { preview: false });
    return text;
  }

  dispose(): void {
    this.watcher?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

export const showBenchmarks = (ctx: Ctx, view: BenchmarksView) => async (arg?: unknown): Promise<BenchmarksState | undefined> => {
  if (arg !== undefined && !(arg && typeof arg === 'object' && typeof (arg as { study?: unknown }).study === 'string')) {
    void vscode.window.showErrorMessage('IDP: Show Benchmarks expects {study: <run id or folder>}.');
    return undefined;
  }
  await vscode.commands.executeCommand(`${BENCHMARKS_VIEW}.focus`);
  const want = (arg as { study?: string } | undefined)?.study;
  const root = lab(ctx).root;
  view.refresh(want === undefined ? undefined : (listStudies(root).find((r) => r.id === want || r.dir === want)?.id ?? want));
  return view.state;
};
