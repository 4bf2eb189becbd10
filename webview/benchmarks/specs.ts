// Vega-Lite specs of the Benchmarks charts, from study reports (engine/study/schema.ts).

import type { Spec } from '../common/charts';
import type { StudyReport, StudyRow } from '../../src/engine/study/schema';

interface Shown { id: string; report: StudyReport }

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const done = (r: StudyRow) => r.status === 'done';

/** A row's headline accuracy: the paper's Average when every task ran, else the mean of the tasks that did. */
export function headlineAccuracy(r: StudyRow): { value: number; what: string } | undefined {
  const avg = r.aggregates?.values.Average;
  if (avg && Number.isFinite(avg.value)) return { value: avg.value, what: 'Average' };
  const vals = Object.values(r.headline).filter((v) => v.metric === 'acc' || v.metric === 'exact_match' || v.metric === 'acc_norm').map((v) => v.value);
  if (!vals.length) return undefined;
  return { value: vals.reduce((a, b) => a + b, 0) / vals.length, what: 'mean accuracy of the tasks that ran' };
}

/** Figure 4: headline accuracy against trainable parameters (symlog: the base and compressed rows train none). */
export function accuracyVsParams(run: Shown, compare: Shown | null): { spec: Spec; label: string } | undefined {
  const values: Array<{ method: string; kind: string; params: number; accuracy: number; run: string }> = [];
  let what = '';
  for (const s of compare ? [run, compare] : [run]) {
    for (const r of s.report.rows.filter(done)) {
      const a = headlineAccuracy(r);
      if (!a) continue;
      what ||= a.what;
      values.push({ method: r.label, kind: r.kind, params: r.params.paper, accuracy: a.value, run: s.id });
    }
  }
  if (!values.length) return undefined;
  // symlog: the base and compressed rows train nothing; ticks at 0 and the powers of ten
  const max = Math.max(1, ...values.map((v) => v.params));
  const ticks = [0];
  for (let p = 1000; p <= max * 10; p *= 10) ticks.push(p);
  const x = { field: 'params', type: 'quantitative', scale: { type: 'symlog', constant: 100 }, title: 'trainable parameters (appendix A, symlog)', axis: { values: ticks, format: '~s', labelExpr: "datum.value == 0 ? '0' : datum.label", grid: false } };
  const point = {
    mark: { type: 'point', filled: true, size: 90 },
    encoding: {
      x,
      y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, title: `${what} (%)` },
      color: { field: 'kind', type: 'nominal', title: 'method', legend: { orient: 'bottom' } },
      ...(compare ? { shape: { field: 'run', type: 'nominal', title: 'run', legend: { orient: 'bottom', direction: 'vertical' } } } : {}),
      tooltip: [{ field: 'method' }, { field: 'run' }, { field: 'params', format: ',' }, { field: 'accuracy', format: '.2f' }],
    },
  };
  // labels on the shown run's points only (the compared run's sit beside them)
  const text = {
    transform: [{ filter: { field: 'run', equal: run.id } }],
    mark: { type: 'text', align: 'left', dx: 7, dy: -6, fontSize: 10 },
    encoding: { x, y: { field: 'accuracy', type: 'quantitative' }, text: { field: 'method' } },
  };
  return {
    spec: { $schema: SCHEMA, data: { values }, width: 520, height: 280, layer: [point, text] } as Spec,
    label: `Scatter plot of ${what} against trainable parameters for ${values.length} methods`,
  };
}

/** Figure 7: each method's change per task relative to the compressed model (percentage points). */
export function taskChangeSpec(run: Shown): Spec | undefined {
  const rows = run.report.rows.filter(done);
  const base = rows.find((r) => r.kind === 'compressed');
  if (!base) return undefined;
  const values: Array<{ method: string; task: string; change: number }> = [];
  for (const r of rows) {
    if (r === base) continue;
    for (const [task, v] of Object.entries(r.headline)) {
      const b = base.headline[task];
      if (!b || v.metric !== b.metric || v.metric === 'perplexity' || v.metric === 'word_perplexity') continue;
      values.push({ method: r.label, task, change: v.value - b.value });
    }
  }
  if (!values.length) return undefined;
  return {
    $schema: SCHEMA,
    data: { values },
    width: { step: 14 },
    height: 220,
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'task', type: 'nominal', title: null, sort: run.report.settings.tasks, axis: { labelAngle: -30 } },
      xOffset: { field: 'method' },
      y: { field: 'change', type: 'quantitative', title: 'change vs compressed (points)' },
      color: { field: 'method', type: 'nominal', title: 'method' },
      tooltip: [{ field: 'method' }, { field: 'task' }, { field: 'change', format: '+.2f' }],
    },
  } as Spec;
}

/** Figure 5: per layer, cosine similarity of each row's attention maps and hidden states to the uncompressed model's. */
export function similaritySpec(run: Shown): Spec | undefined {
  const sim = run.report.analyses.similarity;
  if (!sim) return undefined;
  const label = (id: string) => run.report.rows.find((r) => r.id === id)?.label ?? id;
  const values: Array<{ method: string; layer: number; measure: string; cosine: number }> = [];
  for (const [id, r] of Object.entries(sim.rows)) {
    r.attention.forEach((c, layer) => values.push({ method: label(id), layer, measure: 'attention maps', cosine: c }));
    r.hidden.forEach((c, layer) => values.push({ method: label(id), layer, measure: 'hidden states', cosine: c }));
  }
  if (!values.length) return undefined;
  return {
    $schema: SCHEMA,
    data: { values },
    facet: { column: { field: 'measure', type: 'nominal', title: null } },
    spec: {
      width: 240,
      height: 200,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'layer', type: 'ordinal', title: 'layer' },
        y: { field: 'cosine', type: 'quantitative', scale: { zero: false }, title: 'cosine similarity' },
        color: { field: 'method', type: 'nominal', title: 'method' },
        tooltip: [{ field: 'method' }, { field: 'measure' }, { field: 'layer' }, { field: 'cosine', format: '.4f' }],
      },
    },
  } as Spec;
}
