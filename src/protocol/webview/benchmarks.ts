// Messages of the Benchmarks webview view, both directions, with their validators.

import { arrayOf, int, literal, messageUnion, nullable, num, object, optional, str } from './validate';
import { studyReport } from './study-report';
import { studyTable } from './study-table';

export const studyRun = object({ id: str, dir: str, label: str, created: str, status: str, error: optional(str) });

const shown = object({ id: str, report: studyReport, table: studyTable });

/** Figure 1's points (engine/study/sweep-chart.ts: one study per compression setting, the same protocol). */
export const sweep = object({
  points: arrayOf(object({ study: str, spec: str, setting: str, method: str, bits: optional(num), sparsity: optional(num), accuracy: num }), 64),
  base: optional(object({ label: str, accuracy: num })),
});

export const toBenchmarks = messageUnion({
  /** The study runs in the lab folder and which are shown. */
  runs: { runs: arrayOf(studyRun), selected: nullable(str), compare: nullable(str), lab: str },
  /** The selected run (and the one compared with it, with the row-by-row differences A − B). */
  study: { run: shown, compare: nullable(object({ id: str, report: studyReport, table: studyTable, delta: studyTable })), sweep: nullable(sweep) },
  /** No run to show, or the selected one is unreadable. */
  empty: { message: str },
});
export type ToBenchmarks = ReturnType<typeof toBenchmarks>;

export const fromBenchmarks = messageUnion({
  ready: {},
  refresh: {},
  select: { id: str },
  compare: { id: nullable(str) },
  export: { format: literal('markdown', 'csv') },
  /** After drawing: rows in the table and charts drawn (tests, log). */
  rendered: { id: str, rows: int(0), charts: int(0) },
  problem: { message: str },
});
export type FromBenchmarks = ReturnType<typeof fromBenchmarks>;
