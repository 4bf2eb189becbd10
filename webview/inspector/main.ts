// The IDP Inspector webview: the selected prompt, the per-prompt scores (bar chart) and an attention
// heatmap for the chosen layer and head (rows: input tokens; columns: each prompt's slots, then the
// input tokens), beside the uncompressed model's when the comparison is on. Layer and head pickers
// and the comparison toggle are vscode-elements controls (keyboard operable); the segment table
// below the heatmap says in text what the colours show.

import '../common/elements';
import '../common/base.css';
import './inspector.css';
import { clear, h, select, valueOf } from '../common/dom';
import { draw, redrawOnThemeChange, Spec, themeColors } from '../common/charts';
import { getState, onMessage, post, problem, reportCspViolations, setState } from '../common/vscode-api';
import { checkReportShape, FromInspector, InspectorView, toInspector } from '../../src/protocol/webview/inspector';
import type { InspectReport } from '../../src/protocol/inspect-report';

const app = document.getElementById('app')!;
const send = (m: FromInspector) => post(m);

interface UiState { layer?: number; head: number }
const ui: UiState = getState<UiState>() ?? { head: -1 };
let view: InspectorView | undefined;
let compareOn = false;

const tokenLabel = (t: InspectReport['tokens'][number], i: number) => {
  const text = t.text === undefined ? `#${t.id}` : t.text === '' ? '⟨bos⟩' : JSON.stringify(t.text).slice(1, -1).replace(/ /g, '·');
  return `${i} ${text}`;
};

/** Column labels: P<i>:<slot> for prompt slots, then the input tokens. */
function columns(r: InspectReport): string[] {
  const cols: string[] = [];
  for (const p of r.prompts) for (let j = 0; j < p.n; j++) cols.push(`P${p.index}:${j}`);
  r.tokens.forEach((t, i) => cols.push(tokenLabel(t, i)));
  return cols;
}

function mapOf(r: InspectReport, layer: number, head: number): number[][] | undefined {
  const l = r.layers.find((x) => x.layer === layer);
  if (!l) return undefined;
  if (head < 0) return l.map;
  return l.heads?.[head];
}

function heatmapSpec(r: InspectReport, layer: number, head: number, title: string): { spec: Spec; cells: number } | undefined {
  const m = mapOf(r, layer, head);
  if (!m) return undefined;
  const cols = columns(r);
  const rows = r.tokens.map(tokenLabel);
  const values: Array<{ row: string; col: string; p: number; segment: string }> = [];
  const segOf = (j: number) => {
    for (const p of r.prompts) if (j >= p.slots[0] && j < p.slots[1]) return `prompt ${p.index}`;
    return 'input';
  };
  m.forEach((row, i) => row.forEach((p, j) => values.push({ row: rows[i], col: cols[j], p, segment: segOf(j) })));
  const c = themeColors();
  const max = Math.max(1e-6, ...values.map((v) => v.p));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: `layer ${layer}${layer === r.selectionLayer ? ' (selection layer)' : ''}, ${head < 0 ? 'mean of heads' : `head ${head}`}` },
    data: { values },
    mark: { type: 'rect' },
    width: { step: Math.max(6, Math.min(14, Math.floor(900 / cols.length))) },
    height: { step: Math.max(8, Math.min(14, Math.floor(600 / rows.length))) },
    encoding: {
      x: { field: 'col', type: 'ordinal', sort: cols, title: 'attended: prompt slots (bank order), then input tokens', axis: { labelAngle: -60, labelFontSize: 9, labelLimit: 90 } },
      y: { field: 'row', type: 'ordinal', sort: rows, title: 'input token (query)', axis: { labelFontSize: 9, labelLimit: 120 } },
      // Lab, not Vega's default HCL: HCL gives white no hue, so a light theme's zero would be drawn light blue
      color: { field: 'p', type: 'quantitative', title: 'attention', scale: { domain: [0, max], range: [c.bg, c.accent], interpolate: 'lab' } },
      tooltip: [{ field: 'row', title: 'query' }, { field: 'col', title: 'key' }, { field: 'segment' }, { field: 'p', format: '.4f', title: 'attention' }],
    },
  };
  return { spec: spec as Spec, cells: values.length };
}

function scoresSpec(v: InspectorView): Spec {
  const values: Array<{ prompt: string; score: number; model: string; selected: boolean }> = [];
  const add = (r: InspectReport, model: string) => r.prompts.forEach((p, i) => values.push({ prompt: `P${p.index} (${p.n})`, score: r.scores[i], model, selected: i === r.selected }));
  add(v.report, 'this model');
  if (v.compare) add(v.compare.report, 'uncompressed');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: v.report.rule === 'calibrated' ? `Prompt scores (calibrated rule over every head's attention ${v.report.score})` : `Prompt scores (attention ${v.report.score}, the paper's rule)`, subtitle: `layer ${v.report.selectionLayer}; the highest is selected` },
    data: { values },
    width: { step: v.compare ? 32 : 48 },
    height: 160,
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'prompt', type: 'nominal', title: 'prompt (tokens)', axis: { labelAngle: 0 } },
      ...(v.compare ? { xOffset: { field: 'model' }, color: { field: 'model', title: 'model' } } : {}),
      y: { field: 'score', type: 'quantitative', title: 'score' },
      opacity: { condition: { test: 'datum.selected', value: 1 }, value: 0.45 },
      tooltip: [{ field: 'prompt' }, { field: 'model' }, { field: 'score', format: '.4f' }, { field: 'selected' }],
    },
  } as Spec;
}

function segmentTable(r: InspectReport, layer: number): HTMLTableElement {
  const l = r.layers.find((x) => x.layer === layer)!;
  const names = [...r.prompts.map((p) => `P${p.index}`), 'input'];
  const T = l.segments.length;
  const mean = names.map((_, k) => l.segments.reduce((a, row) => a + row[k], 0) / T);
  return h('table', { id: 'segments', tabindex: 0 },
    h('caption', {}, `Layer ${layer}: mean attention mass of the input tokens (heads averaged) on each segment`),
    h('thead', {}, h('tr', {}, ...names.map((n) => h('th', { scope: 'col' }, n)))),
    h('tbody', {}, h('tr', {}, ...mean.map((m) => h('td', {}, m.toFixed(3))))));
}

async function render(): Promise<void> {
  const v = view;
  if (!v) return;
  const r = v.report;
  const bad = checkReportShape(r) ?? (v.compare ? checkReportShape(v.compare.report, 'compare.report') : undefined);
  if (bad) {
    problem(`inconsistent report: ${bad}`);
    showError(`The engine's report is inconsistent (${bad}).`, v.compareOn);
    return;
  }
  const layers = r.layers.map((l) => l.layer);
  if (ui.layer === undefined || !layers.includes(ui.layer)) ui.layer = r.selectionLayer;
  // per-head maps may be left out for some layers of a large model (the engine caps the reply)
  const heads = r.layers.find((l) => l.layer === ui.layer)?.heads?.length ?? 0;
  if (ui.head >= heads) ui.head = -1;
  setState(ui);
  const sel = r.prompts[r.selected];
  clear(app);
  app.setAttribute('aria-busy', 'false');
  app.append(
    h('h1', {}, 'IDP Inspector'),
    h('p', { class: 'muted' }, `${v.source} · ${r.tokens.length} tokens${v.dropped ? ` (the first ${v.dropped} dropped to fit)` : ''} · model ${v.model} · bank ${v.bank}`),
    toolbar(layers, heads, v.compareOn),
    h('p', { id: 'selected', class: 'big', role: 'status' }, `Selected prompt: P${sel.index} (${sel.n} tokens, positions ${sel.start}…${sel.start + sel.n - 1})`),
  );
  if (v.compare) app.append(h('p', { id: 'selected-uncompressed' }, `Uncompressed model (${v.compare.model}) selects P${v.compare.report.selected}${v.compare.report.selected === r.selected ? ' — the same prompt' : ' — a different prompt'}.`));
  const scores = h('div', { class: 'chart', id: 'scores', tabindex: 0 });
  app.append(h('figure', {}, h('figcaption', {}, 'Per-prompt scores'), scores));
  const maps = h('div', { class: 'side-by-side' });
  app.append(h('h2', {}, 'Attention'), maps, segmentTable(r, ui.layer));
  const jobs: Array<Promise<void>> = [draw(scores, scoresSpec(v), `Bar chart of the prompt scores; prompt ${r.selected} is highest`)];
  let cells = 0;
  const sides: Array<[InspectReport, string]> = [[r, v.compare ? 'This model' : 'Attention map']];
  if (v.compare) sides.push([v.compare.report, 'Uncompressed model']);
  for (const [rep, title] of sides) {
    const hm = heatmapSpec(rep, ui.layer, ui.head, title);
    if (!hm) continue;
    cells += hm.cells;
    const el = h('div', { class: 'chart heatmap', tabindex: 0 });
    maps.append(h('figure', {}, el));
    // the heatmap's colour range is the theme's: built again when the theme changes
    const layer = ui.layer, head = ui.head;
    jobs.push(draw(el, () => heatmapSpec(rep, layer, head, title)?.spec ?? hm.spec, `${title}: attention heatmap, layer ${ui.layer}, ${ui.head < 0 ? 'mean of heads' : `head ${ui.head}`}; ${rep.tokens.length} input tokens by ${hm.cells / rep.tokens.length} attended positions`));
  }
  await Promise.all(jobs);
  send({ type: 'rendered', seq: v.seq, selected: r.selected, layer: ui.layer, head: ui.head, heatmapCells: cells });
}

function toolbar(layers: number[], heads: number, compare: boolean): HTMLElement {
  const layerSel = select('layer', 'Layer', layers.map((l) => ({ value: String(l), label: `layer ${l}` })), String(ui.layer));
  const headSel = select('head', 'Head', [{ value: '-1', label: 'mean of heads' }, ...Array.from({ length: heads }, (_, i) => ({ value: String(i), label: `head ${i}` }))], String(ui.head));
  layerSel.addEventListener('change', () => { ui.layer = Number(valueOf(layerSel)); void render(); });
  headSel.addEventListener('change', () => { ui.head = Number(valueOf(headSel)); void render(); });
  return h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Inspector controls' },
    h('label', {}, 'Layer', layerSel),
    h('label', {}, 'Head', headSel),
    compareBox(compare),
    refreshButton());
}

function compareBox(on: boolean): HTMLElement {
  const box = h('vscode-checkbox', { id: 'compare', label: 'Compare with the uncompressed model', checked: on });
  box.addEventListener('change', () => {
    compareOn = (box as unknown as { checked: boolean }).checked;
    send({ type: 'setCompare', on: compareOn });
  });
  return box;
}

function refreshButton(): HTMLElement {
  const b = h('vscode-button', { id: 'refresh', secondary: true, title: 'Inspect the current selection or cursor again' }, 'Inspect selection');
  b.addEventListener('click', () => send({ type: 'refresh' }));
  return b;
}

function showBusy(text: string): void {
  app.setAttribute('aria-busy', 'true');
  const old = document.getElementById('busy');
  if (old) old.remove();
  const busy = h('p', { id: 'busy', role: 'status' }, h('vscode-progress-ring', {}), ` Inspecting ${text}…`);
  if (!view) clear(app);
  app.prepend(busy);
}

function showError(message: string, compare: boolean): void {
  document.getElementById('busy')?.remove();
  document.getElementById('problem')?.remove();
  app.setAttribute('aria-busy', 'false');
  const box = h('div', { id: 'problem', class: 'error', role: 'alert' }, message);
  if (!view) {
    clear(app);
    app.append(h('h1', {}, 'IDP Inspector'), h('div', { class: 'toolbar' }, compareBox(compare), refreshButton()));
  }
  app.insertBefore(box, app.children[1] ?? null);
}

reportCspViolations();
redrawOnThemeChange();
onMessage(toInspector, async (m) => {
  switch (m.type) {
    case 'busy':
      showBusy(m.text);
      break;
    case 'view':
      view = m.view;
      compareOn = m.view.compareOn;
      await render();
      break;
    case 'error':
      compareOn = m.compareOn;
      showError(m.message, m.compareOn);
      break;
  }
});
send({ type: 'ready' });
