// Benchmark results as JSON (everything, machine-readable), Markdown (the paper's Table 1 layout plus
// per-task metrics with standard errors) and per-sample JSON lines. Files are written to a temporary
// name and renamed, so a reader never sees half a file.

import * as fs from 'fs';
import * as path from 'path';
import { aggregate, AggregateName, Aggregates, HEADLINE, TABLE_COLUMNS } from './aggregate';
import type { HarnessResult, SampleLog, TaskResult } from './harness';
import type { MetricValue } from './metrics';
import { HIGHER_IS_BETTER } from './metrics';
import { isPaperTask, PaperTask } from './tasks';
import { assertCallerAlive } from '../process/caller';
import { bosNote } from './requests';

export interface ModelInfo {
  path: string;
  /** Row label (Table 1 "Model"). */
  label: string;
  /** Table 1 "Type": "-" for the model alone, else the adapter kind (prompt, prefix, lora, IDP). */
  type: string;
  /** Table 1 "Param": trainable parameters of the adapter, if any. */
  adapterParams?: number;
  adapter?: string;
  arch: string;
  parameters: number;
  quantization?: string;
  /** IDP: the bank (prompt lengths in bank order, selection layer and score). */
  bank?: { path: string; prompts: number[]; selectionLayer: number; score: string };
}

export interface BenchSettings {
  tasks: string[];
  dataDir?: string;
  heldout: string[];
  limit?: number;
  seed: number;
  batchTokens?: number;
  maxGenToks?: number;
  pack: boolean;
  /** BOS first in encoded contexts (requests.ts: lm-eval's add_bos_token, `--add-bos`); absent in reports before it was recorded. */
  addBos: boolean;
}

export interface BenchReport {
  schema: 'idp-bench/1';
  status: 'complete' | 'cancelled';
  created: string;
  model: ModelInfo;
  settings: BenchSettings;
  tasks: Record<string, TaskResult>;
  /** Per paper task: the headline metric Table 1 uses. */
  headline: Partial<Record<PaperTask, MetricValue & { metric: string }>>;
  aggregates: Aggregates;
  notes: string[];
  seconds: number;
  /** IDP: documents per selected prompt over every task (counts[i] for prompts[i]), and per task. */
  selection?: { prompts: number[]; counts: number[]; byTask: Record<string, number[]> };
}

/** Selection counts summed over tasks (undefined when the model did not select). */
function selectionOf(model: ModelInfo, results: TaskResult[]): BenchReport['selection'] {
  const byTask: Record<string, number[]> = {};
  for (const r of results) if (r.selection) byTask[r.name] = r.selection;
  if (!model.bank && !Object.keys(byTask).length) return undefined;
  const m = Math.max(model.bank?.prompts.length ?? 0, ...Object.values(byTask).map((c) => c.length));
  const counts = new Array<number>(m).fill(0);
  for (const c of Object.values(byTask)) c.forEach((n, i) => { counts[i] += n; });
  return { prompts: model.bank?.prompts ?? counts.map((_, i) => i), counts, byTask };
}

export function buildReport(model: ModelInfo, settings: BenchSettings, run: HarnessResult, seconds: number): BenchReport {
  const tasks: Record<string, TaskResult> = {};
  const headline: BenchReport['headline'] = {};
  for (const r of run.results) {
    tasks[r.name] = r;
    if (isPaperTask(r.name)) {
      const m = r.metrics[HEADLINE[r.name]];
      if (m) headline[r.name] = { metric: HEADLINE[r.name], ...m };
    }
  }
  const notes: string[] = [bosNote(settings.addBos)];
  if (run.cancelled) notes.push(`cancelled during ${run.cancelledTask}: that task and the ones after it are missing`);
  if (settings.limit !== undefined) {
    notes.push(`--limit ${settings.limit}: a seeded subsample (seed ${settings.seed}) of each task — not comparable with full-task figures`);
  }
  for (const r of run.results) for (const n of r.notes) notes.push(`${r.name}: ${n}`);
  const aggregates = aggregate(headline);
  if (Object.keys(headline).length) {
    for (const [name, miss] of Object.entries(aggregates.missing)) notes.push(`${name} not computed: ${miss!.join(', ')} not run`);
  }
  const selection = selectionOf(model, run.results);
  return {
    schema: 'idp-bench/1', status: run.cancelled ? 'cancelled' : 'complete', created: new Date().toISOString(),
    model, settings, tasks, headline, aggregates, notes, seconds, ...(selection ? { selection } : {}),
  };
}

const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : (100 * v).toFixed(2));
const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(1) : Math.abs(v) >= 10 ? v.toFixed(3) : v.toFixed(4));

export function formatParams(n: number | undefined): string {
  if (n === undefined) return '–';
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : `${n}`;
}

/** The Table 1 row (percent, two decimals) of a report. */
export function tableRow(r: BenchReport): string[] {
  return [r.model.label, r.model.type, formatParams(r.model.adapterParams), ...TABLE_COLUMNS.map(({ key }) => (
    isPaperTask(key) ? pct(r.headline[key]?.value) : pct(r.aggregates.values[key as AggregateName]?.value)
  ))];
}

export function toMarkdown(r: BenchReport): string {
  const L: string[] = [];
  const row = (cells: string[]) => L.push(`| ${cells.join(' | ')} |`);
  L.push(`# Benchmark: ${r.model.label}${r.status === 'cancelled' ? ' (cancelled, partial)' : ''}`, '');
  L.push(`Model \`${r.model.path}\` (${r.model.arch}, ${formatParams(r.model.parameters)} parameters${r.model.quantization ? `, ${r.model.quantization}` : ''})` +
    `${r.model.adapter ? `, adapter \`${r.model.adapter}\`` : ''}. ${r.created}, ${r.seconds.toFixed(1)} s.`, '');
  if (Object.keys(r.headline).length) {
    L.push('## Paper tasks (Table 1 layout, %)', '');
    L.push('Headline metric: acc (exact_match for webqs and triviaqa). World / Common / Language are means over their tasks; Average is the mean over all nine.', '');
    const head = ['Model', 'Type', 'Param', ...TABLE_COLUMNS.map((c) => c.label)];
    row(head);
    row(head.map(() => '---'));
    row(tableRow(r));
    L.push('');
  }
  L.push('## Per task', '');
  row(['task', 'n', 'metric', 'value', '± stderr', 'split']);
  row(['---', '---', '---', '---', '---', '---']);
  for (const t of Object.values(r.tasks)) {
    for (const [name, m] of Object.entries(t.metrics)) {
      const arrow = HIGHER_IS_BETTER[name as keyof typeof HIGHER_IS_BETTER] ? '↑' : '↓';
      row([t.name, t.n === t.total ? `${t.n}` : `${t.n} of ${t.total}`, `${name} ${arrow}`, fmt(m!.value), m!.stderr === null ? '–' : fmt(m!.stderr), t.split]);
    }
  }
  const aggs = Object.entries(r.aggregates.values);
  if (aggs.length) {
    L.push('', '## Aggregates (headline metric, %)', '');
    row(['aggregate', 'value', '± stderr', 'tasks']);
    row(['---', '---', '---', '---']);
    for (const [name, a] of aggs) row([name, pct(a!.value), a!.stderr === null ? '–' : pct(a!.stderr), a!.tasks.join(', ')]);
  }
  if (r.selection) {
    L.push('', `## IDP selection (documents per prompt${r.model.bank ? `, layer ${r.model.bank.selectionLayer}, ${r.model.bank.score}` : ''})`, '');
    row(['task', ...r.selection.prompts.map((n) => `prompt ${n}`)]);
    row(['---', ...r.selection.prompts.map(() => '---')]);
    for (const [t, c] of Object.entries(r.selection.byTask)) row([t, ...r.selection.prompts.map((_, i) => `${c[i] ?? 0}`)]);
    row(['all', ...r.selection.counts.map(String)]);
  }
  if (r.notes.length) L.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  return `${L.join('\n')}\n`;
}

function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  assertCallerAlive(file);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** FILE.json → FILE.md and FILE.samples.jsonl beside it. */
export function reportPaths(out: string): { json: string; md: string; samples: string } {
  const abs = path.resolve(out);
  const stem = abs.replace(/\.json$/i, '');
  return { json: abs, md: `${stem}.md`, samples: `${stem}.samples.jsonl` };
}

export function writeReport(out: string, report: BenchReport, samples: SampleLog[]): { json: string; md: string; samples: string } {
  const p = reportPaths(out);
  writeAtomic(p.samples, samples.map((s) => JSON.stringify(s)).join('\n') + (samples.length ? '\n' : ''));
  writeAtomic(p.md, toMarkdown(report));
  writeAtomic(p.json, `${JSON.stringify(report, null, 2)}\n`);
  return p;
}
