// Table 1 of the paper from a study report: one row per method, the tasks that ran in the paper's
// column order with the domain aggregates between them, then the average, the parameter count
// (appendix A) and the latency; every score with its standard error. Also the comparison of two runs
// (per row id, run A − run B) and the Markdown / CSV exports. Imports no `vscode`.

import { TABLE_COLUMNS } from '../../engine/eval/aggregate';
import type { StudyReport, StudyRow } from '../../protocol/study-schema';
import { formatCell, formatParams, StudyTable, TableCell } from '../../protocol/webview/study-table';

export { formatCell, formatParams, studyTable } from '../../protocol/webview/study-table';
export type { StudyTable, TableCell } from '../../protocol/webview/study-table';

const AGGREGATES = new Set(['World', 'Common', 'Language', 'Average']);

function cellOf(row: StudyRow, key: string): TableCell | null {
  const v = AGGREGATES.has(key) ? row.aggregates?.values[key as 'Average'] : row.headline[key];
  return v && Number.isFinite(v.value) ? { value: v.value, stderr: v.stderr ?? null } : null;
}

/** The paper's table for every row of a study. */
export function studyTableOf(rep: StudyReport): StudyTable {
  const present = new Set<string>();
  for (const r of rep.rows) {
    for (const k of Object.keys(r.headline)) present.add(k);
    for (const k of Object.keys(r.aggregates?.values ?? {})) present.add(k);
  }
  const known = new Set<string>(TABLE_COLUMNS.map((c) => c.key));
  const columns: StudyTable['columns'] = TABLE_COLUMNS.filter((c) => present.has(c.key))
    .map((c) => ({ key: c.key, label: c.label, group: AGGREGATES.has(c.key) ? 'aggregate' as const : 'task' as const }));
  // tasks beyond the paper's nine (held-out text, extra benchmarks) after the paper's columns, before nothing else
  const extra = [...present].filter((k) => !known.has(k)).sort();
  const metric = (k: string) => rep.rows.find((r) => r.headline[k])?.headline[k].metric ?? '';
  const avgAt = columns.findIndex((c) => c.key === 'Average');
  columns.splice(avgAt < 0 ? columns.length : avgAt, 0, ...extra.map((k) => {
    const lower = /perplexity|bits_per_byte/.test(metric(k));
    return { key: k, label: lower ? `${k} ↓` : k, group: 'task' as const, ...(lower ? { lowerBetter: true } : {}) };
  }));
  return {
    columns,
    rows: rep.rows.map((r) => ({
      id: r.id, label: r.label, kind: r.kind, status: r.status, ...(r.error ? { error: r.error } : {}),
      cells: columns.map((c) => cellOf(r, c.key)), params: r.params.paper, ...(r.heldout ? { ppl: r.heldout.ppl } : {}),
      ...(r.latency ? { decodeMs: r.latency.decodeMsPerToken, prefillMs: r.latency.prefillMs } : {}),
    })),
  };
}

/** Run A − run B for every row id both have (stderr of a difference of independent runs: √(a² + b²)). */
export function deltaTable(a: StudyTable, b: StudyTable): StudyTable {
  const columns = a.columns.filter((c) => b.columns.some((d) => d.key === c.key));
  const rows: StudyTable['rows'] = [];
  for (const ra of a.rows) {
    const rb = b.rows.find((r) => r.id === ra.id);
    if (!rb) continue;
    rows.push({
      id: ra.id, label: ra.label, kind: ra.kind, status: ra.status,
      cells: columns.map((c) => {
        const x = ra.cells[a.columns.indexOf(c)];
        const y = rb.cells[b.columns.findIndex((d) => d.key === c.key)];
        if (!x || !y) return null;
        const se = x.stderr !== null && y.stderr !== null ? Math.sqrt(x.stderr ** 2 + y.stderr ** 2) : null;
        return { value: x.value - y.value, stderr: se };
      }),
      params: ra.params - rb.params,
      ...(ra.ppl !== undefined && rb.ppl !== undefined ? { ppl: ra.ppl - rb.ppl } : {}),
      ...(ra.decodeMs !== undefined && rb.decodeMs !== undefined ? { decodeMs: ra.decodeMs - rb.decodeMs } : {}),
      ...(ra.prefillMs !== undefined && rb.prefillMs !== undefined ? { prefillMs: ra.prefillMs - rb.prefillMs } : {}),
    });
  }
  return { columns, rows };
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The table as GitHub Markdown. */
export function tableMarkdown(t: StudyTable, title?: string, signed = false): string {
  const head = ['Method', ...t.columns.map((c) => c.label), 'Params', 'Held-out ppl', 'Decode ms/token'];
  const lines = [
    ...(title ? [`### ${mdEscape(title)}`, ''] : []),
    `| ${head.map(mdEscape).join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const r of t.rows) {
    const label = r.status === 'done' ? r.label : `${r.label} (${r.status})`;
    lines.push(`| ${[label, ...r.cells.map((c) => formatCell(c, signed)), formatParams(r.params), r.ppl !== undefined ? r.ppl.toFixed(2) : '—', r.decodeMs !== undefined ? r.decodeMs.toFixed(2) : '—'].map(mdEscape).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The table as CSV: one value and one stderr column per task / aggregate. */
export function tableCsv(t: StudyTable): string {
  const head = ['id', 'method', 'status', ...t.columns.flatMap((c) => [c.key, `${c.key}_stderr`]), 'params', 'heldout_ppl', 'prefill_ms', 'decode_ms_per_token'];
  const num = (x: number | null | undefined) => (x === null || x === undefined ? '' : String(x));
  const lines = [head.join(',')];
  for (const r of t.rows) {
    lines.push([r.id, r.label, r.status, ...r.cells.flatMap((c) => [num(c?.value), num(c?.stderr)]), String(r.params), num(r.ppl), num(r.prefillMs), num(r.decodeMs)].map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}
