// Messages of the IDP Inspector webview, both directions, with their validators. The report is the
// engine's InspectReport (engine/idp/report.ts) as `idp/inspect` returns it.

import type { InspectReport } from '../inspect-report';
import { arrayOf, bool, Check, int, literal, messageUnion, num, object, optional, str } from './validate';

const numRows = arrayOf(arrayOf(num));

/** The engine's report, checked field by field (unknown fields are ignored: the engine may add some). */
export const inspectReport: Check<InspectReport> = object({
  selected: int(0),
  scores: arrayOf(num),
  mass: arrayOf(num),
  rule: literal('paper', 'calibrated'),
  selectionLayer: int(0),
  score: literal('mass', 'mean'),
  positions: int(0),
  prompts: arrayOf(object({ index: int(0), n: int(1), start: int(0), slots: arrayOf(int(0), 2) }, 'loose')),
  tokens: arrayOf(object({ id: int(0), text: optional(str), position: int(0) }, 'loose')),
  layers: arrayOf(object({ layer: int(0), segments: numRows, map: numRows, heads: optional(arrayOf(numRows)) }, 'loose')),
}, 'loose') as Check<InspectReport>;

const side = object({ model: str, report: inspectReport });

/** What the panel shows: one inspection, and the uncompressed model's when compared. */
export const inspectorView = object({
  /** Counts the views a panel was sent; `rendered` names the one drawn. */
  seq: int(1),
  /** Where the text came from ("selection in a.ts", "around the cursor in a.ts", "argument"). */
  source: str,
  text: str,
  model: str,
  bank: str,
  dropped: int(0),
  report: inspectReport,
  compareOn: bool,
  compare: optional(side),
});
export type InspectorView = ReturnType<typeof inspectorView>;

export const toInspector = messageUnion({
  busy: { text: str },
  view: { view: inspectorView },
  error: { message: str, compareOn: bool },
});
export type ToInspector = ReturnType<typeof toInspector>;

export const fromInspector = messageUnion({
  ready: {},
  /** Run again on the current selection / cursor. */
  refresh: {},
  setCompare: { on: bool },
  /** Sent after drawing, for tests and the log: what is on screen. */
  rendered: { seq: int(1), selected: int(0), layer: int(0), head: int(-1), heatmapCells: int(0) },
  /** Something the webview could not do (a rejected message, a chart that failed). */
  problem: { message: str },
});
export type FromInspector = ReturnType<typeof fromInspector>;

/** Validates an InspectReport fully (check that consistent sizes hold, beyond the field types). */
export function checkReportShape(r: InspectReport, at = 'report'): string | undefined {
  const m = r.prompts.length;
  const T = r.tokens.length;
  const S = r.prompts.reduce((a, p) => a + p.n, 0) + T;
  if (r.scores.length !== m) return `${at}: ${r.scores.length} scores for ${m} prompts`;
  if (r.mass.length !== m) return `${at}: ${r.mass.length} attention masses for ${m} prompts`;
  if (r.selected >= m) return `${at}: selected prompt ${r.selected} of ${m}`;
  for (const l of r.layers) {
    if (l.map.length !== T || l.map.some((row) => row.length !== S)) return `${at}: layer ${l.layer}'s map is not ${T}×${S}`;
    if (l.heads && l.heads.some((h) => h.length !== T || h.some((row) => row.length !== S))) return `${at}: layer ${l.layer}'s head maps are not ${T}×${S}`;
  }
  return undefined;
}
