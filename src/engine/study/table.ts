// table.md: the study as the paper's Table 1 — one row per model / method (uncompressed, compressed, then
// every recovery method), a column per task (headline metric ± standard error; accuracies in percent,
// perplexities as they are), the paper's domain aggregates where their tasks ran, parameter counts
// (appendix A), held-out perplexity and latency — followed by the analyses as small tables.

import { TABLE_COLUMNS } from '../eval/aggregate';
import { HEADLINE } from '../eval/aggregate';
import { isPaperTask } from '../eval/tasks';
import type { MetricValue } from '../eval/metrics';
import type { MetricName } from '../eval/tasks/types';
import { HIGHER_IS_BETTER } from '../eval/metrics';
import { formatCount } from '../idp/params';
import type { StudyReport, StudyRow } from '../../protocol/study-schema';

/** Headline metric of a task: the paper's for its tasks; acc for text_* accuracy tasks, word perplexity for text_ppl. */
export function headlineMetric(task: string, available: string[]): MetricName | undefined {
  if (isPaperTask(task)) return HEADLINE[task];
  for (const m of ['acc', 'word_perplexity', 'perplexity', 'exact_match'] as MetricName[]) if (available.includes(m)) return m;
  return available[0] as MetricName | undefined;
}

import { isAccuracy } from './accuracy';
export { isAccuracy };

function cell(v: (MetricValue & { metric: string }) | undefined): string {
  if (!v) return '–';
  const d = isAccuracy(v.metric) ? 2 : v.value >= 100 ? 1 : 3;
  return `${v.value.toFixed(d)}${v.stderr !== null && v.stderr !== undefined ? ` ± ${v.stderr.toFixed(d)}` : ''}`;
}

/** Task columns in the paper's order (with its aggregates), then the held-out text tasks. */
function columns(r: StudyReport): Array<{ key: string; label: string; aggregate: boolean }> {
  const tasks = new Set(r.rows.flatMap((x) => Object.keys(x.headline)));
  const aggs = new Set(r.rows.flatMap((x) => Object.keys(x.aggregates?.values ?? {})));
  const out: Array<{ key: string; label: string; aggregate: boolean }> = [];
  for (const c of TABLE_COLUMNS) {
    if (tasks.has(c.key)) out.push({ key: c.key, label: c.label, aggregate: false });
    else if (aggs.has(c.key)) out.push({ key: c.key, label: c.label, aggregate: true });
  }
  for (const t of tasks) if (!isPaperTask(t)) out.push({ key: t, label: t, aggregate: false });
  return out;
}

function metricOf(r: StudyReport, key: string): string | undefined {
  for (const row of r.rows) if (row.headline[key]) return row.headline[key].metric;
  return undefined;
}

export function studyTable(r: StudyReport): string {
  const L: string[] = [];
  const line = (cells: string[]) => L.push(`| ${cells.join(' | ')} |`);
  const cols = columns(r);
  L.push(`# Study: ${r.model.label}, ${r.compression.description}${r.status !== 'complete' ? ` (${r.status})` : ''}`, '');
  L.push(`Model \`${r.model.path}\` (${r.model.arch}, ${formatCount(r.model.parameters)} parameters). Every method trained on the compressed model with ` +
    `${r.settings.tokens.toLocaleString('en-US')} tokens, the same data and optimizer. ${r.created}, ${r.seconds.toFixed(0)} s.`, '');
  L.push('Accuracies in percent (± standard error); perplexities ↓. Params: trainable parameters as the paper\'s appendix A counts them.', '');
  const head = ['Model', 'Type', 'Params', ...cols.map((c) => {
    const m = c.aggregate ? 'acc' : metricOf(r, c.key);
    return `${c.label}${m && !isAccuracy(m) ? ` (${m}${HIGHER_IS_BETTER[m as MetricName] === false ? ' ↓' : ''})` : ''}`;
  }), 'held-out ppl', 'prefill ms', 'decode ms/tok'];
  line(head);
  line(head.map(() => '---'));
  for (const row of r.rows) line(rowCells(row, cols));
  const lat = r.rows.find((x) => x.latency)?.latency;
  if (lat) L.push('', `Latency: ${lat.batch} × ${lat.seqlen} input tokens; prefill per batch, decode per generated token (whole batch), fastest of the repeats.`);
  const sel = r.rows.filter((x) => x.selection);
  if (sel.length) {
    L.push('', '## IDP selection (documents per prompt)', '');
    const names = r.analyses.routing?.prompts.map((p) => p.row);
    for (const x of sel) L.push(`- ${x.label}: ${x.selection!.prompts.map((n, i) => `${names?.[i] ?? `prompt ${i} (${n})`}: ${x.selection!.counts[i]}`).join(', ')}`);
  }
  const rt = r.analyses.routing;
  if (rt) {
    const s = rt.selection;
    L.push('', `## Routing: each prompt's held-out text through the bank (${s.rule === 'calibrated' ? 'calibrated selection' : 'the paper\'s rule'}, layer ${s.layer})`, '');
    const h = ['Text of', 'docs', 'tokens', 'selected', 'routed right', 'IDP', 'none', ...rt.prompts.map((p) => `${p.row} alone`), 'oracle', ...(rt.extra ?? [])];
    line(h);
    line(h.map(() => '---'));
    const f = (x: number) => x.toFixed(4);
    for (const x of rt.sets) {
      line([rt.prompts[x.prompt].row, String(x.documents), String(x.tokens), x.selected.join(' / '), `${(100 * x.routingAccuracy).toFixed(1)} %`,
        f(x.nll.idp), f(x.nll.none), ...x.nll.prompts.map(f), f(x.nll.oracle), ...(x.nll.extra ?? []).map(f)]);
    }
    line(['all', String(rt.sets.reduce((a, x) => a + x.documents, 0)), String(rt.sets.reduce((a, x) => a + x.tokens, 0)), '', `${(100 * rt.routingAccuracy).toFixed(1)} %`,
      f(rt.nll.idp), f(rt.nll.none), ...rt.nll.prompts.map(f), f(rt.nll.oracle), ...(rt.nll.extra ?? []).map(f)]);
    L.push('', `Mean next-token NLL in nats per token (↓), the same tokens in every column; documents cut to ${rt.maxTokens} tokens.` +
      (rt.calibration ? ` Calibration, cross-validated routing per layer: ${rt.calibration.map((c) => `L${c.layer} ${(100 * c.cvAccuracy).toFixed(0)} % (paper's rule ${(100 * c.paperAccuracy).toFixed(0)} %)`).join(', ')}.` : '') +
      (rt.calibrationSkipped ? ` Not calibrated: ${rt.calibrationSkipped}.` : ''));
  }
  const sim = r.analyses.similarity;
  if (sim) {
    L.push('', `## Similarity to the uncompressed model (cosine, per layer, mean over ${sim.samples} held-out texts)`, '');
    const h = ['Row', ...Array.from({ length: sim.layers }, (_, l) => `attn L${l}`), ...Array.from({ length: sim.layers }, (_, l) => `hidden L${l}`)];
    line(h);
    line(h.map(() => '---'));
    for (const [id, v] of Object.entries(sim.rows)) line([r.rows.find((x) => x.id === id)?.label ?? id, ...v.attention.map((x) => x.toFixed(4)), ...v.hidden.map((x) => x.toFixed(4))]);
  }
  const failed = r.rows.filter((x) => x.status !== 'done');
  if (failed.length || r.notes.length) L.push('', '## Notes', '', ...failed.map((x) => `- ${x.label}: ${x.status}${x.error ? ` — ${x.error}` : ''}`), ...r.notes.map((n) => `- ${n}`));
  return `${L.join('\n')}\n`;
}

function rowCells(row: StudyRow, cols: Array<{ key: string; aggregate: boolean }>): string[] {
  const type = row.kind === 'base' || row.kind === 'compressed' ? '-' : row.kind;
  return [
    row.label, type, row.params.paper ? formatCount(row.params.paper) : '0',
    ...cols.map((c) => {
      if (!c.aggregate) return cell(row.headline[c.key]);
      const a = row.aggregates?.values[c.key as keyof NonNullable<StudyRow['aggregates']>['values']];
      return a ? cell({ metric: 'acc', value: a.value, stderr: a.stderr }) : '–';
    }),
    row.heldout ? row.heldout.ppl.toFixed(2) : '–',
    row.latency ? row.latency.prefillMs.toFixed(2) : '–',
    row.latency ? row.latency.decodeMsPerToken.toFixed(3) : '–',
  ];
}
