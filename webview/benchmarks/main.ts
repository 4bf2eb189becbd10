// The Benchmarks webview view: the lab folder's study runs, the selected run's Table 1 (tasks, domain
// aggregates, average, parameters, latency, ± standard error), a run to compare with (the row-by-row
// differences), exports, and the paper's charts (specs.ts): Figures 4, 7, 6, 5, 2 and latency from the run,
// Figure 1 from the lab folder's studies of the same protocol. The extension reads the files and builds the
// tables; this page draws them.

import '../common/elements';
import '../common/base.css';
import './benchmarks.css';
import { clear, h, select, valueOf } from '../common/dom';
import { draw, redrawOnThemeChange } from '../common/charts';
import { onMessage, post, reportCspViolations } from '../common/vscode-api';
import { FromBenchmarks, toBenchmarks, ToBenchmarks } from '../../src/protocol/webview/benchmarks';
import { formatCell, formatParams, StudyTable } from '../../src/protocol/webview/study-table';
import { benchmarkCharts } from './specs';

const app = document.getElementById('app')!;
const send = (m: FromBenchmarks) => post(m);

type Runs = Extract<ToBenchmarks, { type: 'runs' }>;
type Study = Extract<ToBenchmarks, { type: 'study' }>;

const header = h('div', { id: 'header' });
const body = h('div', { id: 'body' });
app.replaceChildren(header, body);

function runsBar(m: Runs): void {
  clear(header);
  if (!m.runs.length) {
    header.append(h('p', { class: 'muted' }, `Lab folder: ${m.lab}`), refreshButton());
    return;
  }
  const label = (r: Runs['runs'][number]) => `${r.label}${r.status !== 'complete' ? ` (${r.status})` : ''} — ${r.id}`;
  const runSel = select('run', 'Study run', m.runs.map((r) => ({ value: r.id, label: label(r) })), m.selected ?? '');
  runSel.addEventListener('change', () => send({ type: 'select', id: valueOf(runSel) }));
  const others = m.runs.filter((r) => r.id !== m.selected && !r.error);
  const cmpSel = select('compare', 'Compare with', [{ value: '', label: 'no comparison' }, ...others.map((r) => ({ value: r.id, label: label(r) }))], m.compare ?? '');
  cmpSel.addEventListener('change', () => send({ type: 'compare', id: valueOf(cmpSel) || null }));
  const md = h('vscode-button', { id: 'export-md', secondary: true, title: 'Open the table as Markdown' }, 'Export Markdown');
  md.addEventListener('click', () => send({ type: 'export', format: 'markdown' }));
  const csv = h('vscode-button', { id: 'export-csv', secondary: true, title: 'Open the table as CSV' }, 'Export CSV');
  csv.addEventListener('click', () => send({ type: 'export', format: 'csv' }));
  header.append(h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Study runs' },
    h('label', {}, 'Run', runSel), h('label', {}, 'Compare with', cmpSel), md, csv, refreshButton()));
}

function refreshButton(): HTMLElement {
  const b = h('vscode-button', { id: 'refresh', secondary: true, title: 'Look for study runs again' }, 'Refresh');
  b.addEventListener('click', () => send({ type: 'refresh' }));
  return b;
}

function table(t: StudyTable, caption: string, id: string, signed = false): HTMLElement {
  const cls = (c: StudyTable['columns'][number]) => (c.group === 'aggregate' ? 'aggregate' : undefined);
  const sign = (x: number | undefined, lowerBetter?: boolean) => (!signed || x === undefined || x === 0 ? undefined : (x > 0) !== !!lowerBetter ? 'pos' : 'neg');
  return h('div', { class: 'scroll' }, h('table', { id, tabindex: 0 },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Method'),
      ...t.columns.map((c) => h('th', { scope: 'col', class: cls(c), title: c.key }, c.label)),
      h('th', { scope: 'col', title: 'appendix A count' }, 'Params'),
      h('th', { scope: 'col', title: 'held-out perplexity (lower is better)' }, 'ppl ↓'),
      h('th', { scope: 'col', title: 'decode latency per token (prefill per batch in the tooltip)' }, 'ms/token'))),
    h('tbody', {}, ...t.rows.map((r) => h('tr', { 'data-row': r.id, title: r.error },
      h('th', { scope: 'row' }, r.status === 'done' ? r.label : `${r.label} (${r.status})`),
      ...r.cells.map((c, i) => h('td', { class: [cls(t.columns[i]), sign(c?.value, t.columns[i].lowerBetter)].filter(Boolean).join(' ') || undefined }, formatCell(c, signed))),
      h('td', {}, `${signed && r.params > 0 ? '+' : ''}${formatParams(r.params)}`),
      h('td', {}, r.ppl !== undefined ? `${signed && r.ppl > 0 ? '+' : ''}${r.ppl.toFixed(2)}` : '—'),
      h('td', { title: r.prefillMs !== undefined ? `prefill ${r.prefillMs.toFixed(1)} ms` : undefined }, r.decodeMs !== undefined ? r.decodeMs.toFixed(2) : '—'))))));
}

async function showStudy(m: Study): Promise<void> {
  clear(body);
  const { run, compare } = m;
  const rep = run.report;
  body.append(
    h('h1', {}, `${rep.model.label} · ${rep.compression.description || rep.compression.spec}`),
    h('p', { class: 'muted' }, `${rep.status} study of ${rep.created.slice(0, 19).replace('T', ' ')} · ${rep.settings.tokens.toLocaleString('en-US')} training tokens per method${rep.settings.limit ? ` · ${rep.settings.limit} examples per task` : ''} · seed ${rep.settings.seed}`),
    ...(rep.status !== 'complete' ? [h('p', { class: 'error', role: 'note' }, `This study is ${rep.status}: some rows are missing or failed.`)] : []),
    table(run.table, 'Table 1: accuracy (%) per task, domain means and the average, ± standard error', 'results'),
  );
  if (compare) body.append(table(compare.delta, `Difference ${run.id} − ${compare.id} (rows both runs have)`, 'delta', true));
  for (const n of rep.notes) body.append(h('p', { class: 'muted' }, n));
  const charts = benchmarkCharts(run, compare, m.sweep);
  const drawn: Array<Promise<void>> = [];
  for (const { id, caption, spec, label } of charts) {
    const el = h('div', { class: 'chart', id, tabindex: 0 });
    body.append(h('figure', {}, h('figcaption', {}, caption), el));
    drawn.push(draw(el, spec, label));
  }
  if (!charts.length) body.append(h('p', { class: 'muted' }, 'No chart: the study has no rows with scores yet.'));
  await Promise.all(drawn);
  send({ type: 'rendered', id: run.id, rows: run.table.rows.length, charts: charts.length });
}

reportCspViolations();
redrawOnThemeChange();
onMessage(toBenchmarks, async (m) => {
  switch (m.type) {
    case 'runs':
      runsBar(m);
      break;
    case 'study':
      await showStudy(m);
      break;
    case 'empty':
      clear(body);
      body.append(h('p', { id: 'empty', role: 'status' }, m.message));
      break;
  }
});
send({ type: 'ready' });
