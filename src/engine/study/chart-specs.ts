// The study's charts as Vega-Lite specs with their data inlined — one home for every figure, used by the
// engine (charts.ts renders them to SVG beside study.json) and by the Benchmarks webview (drawn with the
// editor's theme). Pure: no Node modules.
//   accuracy-vs-params  paper Fig. 4: mean accuracy over the accuracy tasks vs trainable parameters (with a
//                       second run to compare, its points too, shaped by run)
//   task-change         paper Fig. 7: per-task accuracy change of every method vs the compressed model, in
//                       percent of the compressed model's accuracy ("percentage performance improvement";
//                       the change in points is in the tooltip)
//   idp-prompt-size     paper Fig. 6: mean accuracy of each IDP bank vs its average prompt size (the mean
//                       of its prompts' lengths), single prompts at their length and the compressed model
//                       as a reference line
//   similarity          paper Fig. 5: per-layer cosine similarity of attention / hidden states to the base
//   ppl-vs-accuracy     paper Fig. 2: perplexity vs mean accuracy of the prompt-based rows
//   latency             prefill per batch and decode per token of every row
//   fig1-compression    paper Fig. 1 (sweepSpec): the compressed model's mean accuracy per compression
//                       setting, over several studies

import { isAccuracy, meanAccuracy } from './accuracy';
import type { StudyReport, StudyRow } from '../../protocol/study-schema';

export type Spec = Record<string, unknown>;

export interface PromptSizePoint {
  row: string;
  kind: 'idp' | 'prompt';
  /** IDP: the mean of the bank's prompt lengths; a single prompt: its length. */
  tokens: number;
  /** IDP: the bank's prompt lengths ("26+100"). */
  prompts: string;
  /** IDP: the prompt length the benchmark's inputs got on average (selection counts as weights). */
  selectedTokens?: number;
  accuracy: number;
}

/** Paper Fig. 6's points from a study's rows: every IDP bank at its average prompt size, every single prompt at its length. */
export function promptSizePoints(rows: StudyRow[]): PromptSizePoint[] {
  const out: PromptSizePoint[] = [];
  for (const x of rows) {
    const accuracy = meanAccuracy(x);
    if (accuracy === undefined) continue;
    if (x.kind === 'idp' && x.selection?.prompts.length) {
      const p = x.selection.prompts;
      const n = x.selection.counts.reduce((a, b) => a + b, 0);
      out.push({
        row: x.label, kind: 'idp', tokens: p.reduce((a, b) => a + b, 0) / p.length, prompts: p.join('+'), accuracy,
        ...(n > 0 ? { selectedTokens: x.selection.counts.reduce((a, c, i) => a + c * p[i], 0) / n } : {}),
      });
    } else if (x.kind === 'prompt') {
      const tokens = promptTokens(x);
      if (tokens !== undefined) out.push({ row: x.label, kind: 'prompt', tokens, prompts: `${tokens}`, accuracy });
    }
  }
  return out;
}

/** A single prompt row's length, from its parameter count's label ("26 tokens", idp/params.ts). */
function promptTokens(x: StudyRow): number | undefined {
  const m = /^(\d+) tokens$/.exec(x.params.label);
  return m ? Number(m[1]) : undefined;
}

const base = (title: string): Spec => ({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, background: 'white', config: { font: 'sans-serif', legend: { labelLimit: 0 }, axis: { labelLimit: 0 } } });

export function chartSpecs(r: StudyReport, compare?: { id: string; report: StudyReport }): Array<{ name: string; title: string; spec: Spec }> {
  const done = r.rows.filter((x) => x.status === 'done');
  const out: Array<{ name: string; title: string; spec: Spec }> = [];
  const fig4 = (rows: StudyRow[], run: string) => rows.filter((x) => x.status === 'done')
    .map((x) => ({ row: x.label, kind: x.kind, params: x.params.paper, accuracy: meanAccuracy(x), run })).filter((x) => x.accuracy !== undefined);
  const acc = [...fig4(done, compare ? 'this run' : ''), ...(compare ? fig4(compare.report.rows, compare.id) : [])];
  if (acc.length) {
    const title = 'Mean accuracy vs trainable parameters (Fig. 4)';
    const smallest = Math.min(...acc.map((x) => x.params).filter((p) => p > 0), 1000);
    out.push({
      name: 'accuracy-vs-params', title, spec: {
        ...base(title), width: 420, height: 280, data: { values: acc },
        mark: { type: 'point', filled: true, size: 90 },
        encoding: {
          x: { field: 'params', type: 'quantitative', scale: { type: 'symlog', constant: Math.max(1, smallest / 4) }, title: 'trainable parameters (appendix A, symlog)' },
          y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, axis: { format: '.1f' }, title: 'mean accuracy (%)' },
          color: { field: 'row', type: 'nominal', sort: null, title: 'row' }, shape: { field: compare ? 'run' : 'kind', type: 'nominal', title: compare ? 'run' : 'kind' },
          tooltip: [{ field: 'row' }, ...(compare ? [{ field: 'run' }] : []), { field: 'params' }, { field: 'accuracy', format: '.2f' }],
        },
      },
    });
  }
  const ref = done.find((x) => x.kind === 'compressed');
  // a task the compressed model scores 0 on has no relative change (it is left out)
  const change = ref ? done.filter((x) => x.kind !== 'compressed').flatMap((x) => Object.entries(x.headline)
    .filter(([t, v]) => isAccuracy(v.metric) && ref.headline[t] && ref.headline[t].value > 0)
    .map(([t, v]) => ({ row: x.label, task: t, change: +(100 * (v.value - ref.headline[t].value) / ref.headline[t].value).toFixed(3), points: +(v.value - ref.headline[t].value).toFixed(3) }))) : [];
  if (change.length) {
    const title = 'Accuracy change vs the compressed model, per task, in percent (Fig. 7)';
    out.push({
      name: 'task-change', title, spec: {
        ...base(title), width: { step: 14 }, height: 260, data: { values: change }, mark: 'bar',
        encoding: {
          x: { field: 'task', type: 'nominal', title: null }, xOffset: { field: 'row', sort: null },
          y: { field: 'change', type: 'quantitative', title: 'Δ accuracy (% of the compressed model\'s)' },
          color: { field: 'row', type: 'nominal', title: 'row', sort: null },
          tooltip: [{ field: 'row' }, { field: 'task' }, { field: 'change', title: 'Δ %' }, { field: 'points', title: 'Δ points' }],
        },
      },
    });
  }
  const fig6 = promptSizePoints(done);
  if (fig6.some((p) => p.kind === 'idp')) {
    const title = 'IDP mean accuracy vs average prompt size (Fig. 6)';
    const refAcc = ref ? meanAccuracy(ref) : undefined;
    out.push({
      name: 'idp-prompt-size', title, spec: {
        ...base(title), width: 380, height: 260,
        layer: [
          { data: { values: fig6 }, mark: { type: 'point', filled: true, size: 90 }, encoding: {
            x: { field: 'tokens', type: 'quantitative', title: 'average prompt size (tokens)' },
            y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, axis: { format: '.1f' }, title: 'mean accuracy (%)' },
            shape: { field: 'kind', type: 'nominal', title: null }, color: { field: 'kind', type: 'nominal', title: null },
            tooltip: [{ field: 'row' }, { field: 'tokens', format: '.1f' }, { field: 'prompts' }, { field: 'selectedTokens', format: '.1f', title: 'selection-weighted size' }, { field: 'accuracy', format: '.2f' }] } },
          { data: { values: fig6 }, mark: { type: 'text', dx: 6, align: 'left', fontSize: 9 }, encoding: {
            x: { field: 'tokens', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' }, text: { field: 'row' } } },
          ...(refAcc === undefined ? [] : [{ data: { values: [{ accuracy: refAcc, row: ref!.label }] }, mark: { type: 'rule', strokeDash: [4, 3], color: 'gray' },
            encoding: { y: { field: 'accuracy', type: 'quantitative' }, tooltip: [{ field: 'row' }, { field: 'accuracy', format: '.2f' }] } }]),
        ],
      },
    });
  }
  const sim = r.analyses.similarity;
  if (sim) {
    const label = (id: string) => r.rows.find((x) => x.id === id)?.label ?? id;
    const values = Object.entries(sim.rows).flatMap(([id, v]) => [
      ...v.attention.map((y, layer) => ({ row: label(id), layer, what: 'attention maps', cosine: y })),
      ...v.hidden.map((y, layer) => ({ row: label(id), layer, what: 'hidden states', cosine: y })),
    ]);
    const title = 'Cosine similarity to the uncompressed model per layer (Fig. 5)';
    out.push({
      name: 'similarity', title, spec: {
        ...base(title), data: { values }, facet: { column: { field: 'what', type: 'nominal', title: null } },
        spec: { width: 260, height: 220, mark: { type: 'line', point: true }, encoding: {
          x: { field: 'layer', type: 'ordinal' }, y: { field: 'cosine', type: 'quantitative', scale: { zero: false } },
          color: { field: 'row', type: 'nominal', sort: null }, tooltip: [{ field: 'row' }, { field: 'layer' }, { field: 'cosine', format: '.4f' }] } },
      },
    });
  }
  const points = r.analyses.promptLengths ?? [];
  if (points.length) {
    const word = points.every((p) => p.perplexity === 'word');
    const axis = word ? `word perplexity (${points[0].pplTask})` : 'held-out perplexity (per token)';
    const title = `${word ? 'Word' : 'Held-out'} perplexity vs mean accuracy across prompt lengths (Fig. 2)`;
    out.push({
      name: 'ppl-vs-accuracy', title, spec: {
        ...base(title), width: 380, height: 260, data: { values: points.map((p) => ({ ...p, row: r.rows.find((x) => x.id === p.row)?.label ?? p.row })) },
        layer: [
          { mark: { type: 'point', filled: true, size: 80 }, encoding: {
            x: { field: 'ppl', type: 'quantitative', scale: { zero: false }, title: axis },
            y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, title: 'mean accuracy (%)' },
            color: { field: 'tokens', type: 'ordinal', title: 'prompt tokens' }, tooltip: [{ field: 'row' }, { field: 'ppl', format: '.2f' }, { field: 'accuracy', format: '.2f' }] } },
          { mark: { type: 'text', dx: 6, align: 'left', fontSize: 9 }, encoding: { x: { field: 'ppl', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' }, text: { field: 'row' } } },
        ],
      },
    });
  }
  const lat = done.filter((x) => x.latency).flatMap((x) => [
    { row: x.label, what: `prefill (ms per batch of ${x.latency!.batch} × ${x.latency!.seqlen})`, ms: x.latency!.prefillMs },
    { row: x.label, what: 'decode (ms per token)', ms: x.latency!.decodeMsPerToken },
  ]);
  if (lat.length) {
    const title = 'Latency per method';
    out.push({
      name: 'latency', title, spec: {
        ...base(title), data: { values: lat }, facet: { column: { field: 'what', type: 'nominal', title: null } }, resolve: { scale: { x: 'independent' } },
        spec: { width: 240, height: { step: 16 }, mark: 'bar', encoding: { y: { field: 'row', type: 'nominal', sort: null, title: null }, x: { field: 'ms', type: 'quantitative' }, tooltip: [{ field: 'row' }, { field: 'ms' }] } },
      },
    });
  }
  return out;
}


export interface SweepPoint {
  /** The study folder as given. */
  study: string;
  /** "gptq:3", "sparsegpt:0.5" … */
  spec: string;
  /** "GPTQ 3-bit, group 128" … (the bar's label). */
  setting: string;
  method: string;
  bits?: number;
  sparsity?: number;
  accuracy: number;
}

export interface Sweep { points: SweepPoint[]; base?: { label: string; accuracy: number } }

export function sweepSpec(s: Sweep): Spec {
  const title = 'Mean accuracy of the compressed model per compression setting (Fig. 1)';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, background: 'white', config: { font: 'sans-serif', legend: { labelLimit: 0 }, axis: { labelLimit: 0 } },
    width: { step: 36 }, height: 260,
    layer: [
      { data: { values: s.points }, mark: 'bar', encoding: {
        x: { field: 'setting', type: 'nominal', sort: null, title: null, axis: { labelAngle: -30 } },
        y: { field: 'accuracy', type: 'quantitative', axis: { format: '.1f' }, title: 'mean accuracy (%)' },
        color: { field: 'method', type: 'nominal', title: null },
        tooltip: [{ field: 'setting' }, { field: 'study' }, { field: 'accuracy', format: '.2f' }] } },
      ...(s.base ? [{ data: { values: [s.base] }, mark: { type: 'rule', strokeDash: [4, 3], color: 'gray' },
        encoding: { y: { field: 'accuracy', type: 'quantitative' }, tooltip: [{ field: 'label' }, { field: 'accuracy', format: '.2f' }] } }] : []),
    ],
  };
}

