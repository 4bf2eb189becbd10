// The study's charts as Vega-Lite specs (data inlined) rendered to SVG headlessly with vega + vega-lite
// (SVG needs no canvas; text widths are vega's estimates):
//   accuracy-vs-params  paper Fig. 4: mean accuracy over the accuracy tasks vs trainable parameters
//   task-change         paper Fig. 7: per-task accuracy change of every method vs the compressed model, in
//                       percent of the compressed model's accuracy ("percentage performance improvement";
//                       the change in points is in the tooltip)
//   idp-prompt-size     paper Fig. 6: mean accuracy of each IDP bank vs its average prompt size (the mean
//                       of its prompts' lengths), single prompts at their length and the compressed model
//                       as a reference line
//   similarity          paper Fig. 5: per-layer cosine similarity of attention / hidden states to the base
//   ppl-vs-accuracy     paper Fig. 2: held-out perplexity vs mean accuracy of the prompt-based rows
//   latency             prefill per batch and decode per token of every row
// vega and vega-lite are ES modules (vega with top-level await), so they are loaded with a real
// dynamic import (TypeScript's CommonJS output would turn import() into require()).

import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { writeFileAtomic, writeJsonAtomic } from './store';
import { isAccuracy } from './table';
import type { StudyChart, StudyReport, StudyRow } from './schema';

type Spec = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const esmImport = new Function('s', 'return import(s)') as (s: string) => Promise<any>;   // eslint-disable-line @typescript-eslint/no-explicit-any

/** Mean headline accuracy (percent) over the accuracy tasks a row ran, or undefined. */
export function meanAccuracy(row: StudyRow): number | undefined {
  const accs = Object.values(row.headline).filter((v) => isAccuracy(v.metric)).map((v) => v.value);
  return accs.length ? accs.reduce((a, b) => a + b, 0) / accs.length : undefined;
}

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

export function chartSpecs(r: StudyReport): Array<{ name: string; title: string; spec: Spec }> {
  const done = r.rows.filter((x) => x.status === 'done');
  const out: Array<{ name: string; title: string; spec: Spec }> = [];
  const acc = done.map((x) => ({ row: x.label, kind: x.kind, params: x.params.paper, accuracy: meanAccuracy(x) })).filter((x) => x.accuracy !== undefined);
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
          color: { field: 'row', type: 'nominal', sort: null, title: 'row' }, shape: { field: 'kind', type: 'nominal' },
          tooltip: [{ field: 'row' }, { field: 'params' }, { field: 'accuracy', format: '.2f' }],
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

/** SVG of a Vega-Lite spec (headless: no canvas, no DOM). */
export async function renderSvg(spec: Spec): Promise<string> {
  const bundled = path.join(__dirname, 'svg-render.mjs');   // beside dist/cli.js and dist/server.js
  if (fs.existsSync(bundled)) return (await esmImport(pathToFileURL(bundled).href)).toSvg(spec);
  const [vega, vl] = await Promise.all([esmImport('vega'), esmImport('vega-lite')]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Write charts/<name>.vl.json and charts/<name>.svg for every chart the report has data for. A chart that
 * cannot be rendered (e.g. vega missing from a trimmed install) keeps its spec; `onProblem` says why.
 */
export async function writeCharts(dir: string, r: StudyReport, onProblem?: (msg: string) => void): Promise<StudyChart[]> {
  const out: StudyChart[] = [];
  for (const c of chartSpecs(r)) {
    const spec = path.join('charts', `${c.name}.vl.json`);
    const svg = path.join('charts', `${c.name}.svg`);
    writeJsonAtomic(path.join(dir, spec), c.spec);
    try {
      writeFileAtomic(path.join(dir, svg), await renderSvg(c.spec));
      out.push({ name: c.name, title: c.title, spec, svg });
    } catch (e) {
      onProblem?.(`chart ${c.name}: not rendered (${(e as Error).message}); its Vega-Lite spec is ${spec}`);
    }
  }
  return out;
}
