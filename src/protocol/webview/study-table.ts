// The shape of the Benchmarks table (study-table.ts builds it) with its validator and the number
// formats: shared by the extension and the webview (imports nothing with side effects).

import { arrayOf, bool, Check, literal, nullable, num, object, optional, str } from './validate';

export interface TableCell { value: number; stderr: number | null }

export interface StudyTable {
  /** `lowerBetter`: a perplexity column (↓), not an accuracy in percent. */
  columns: Array<{ key: string; label: string; group: 'task' | 'aggregate'; lowerBetter?: boolean }>;
  rows: Array<{
    id: string;
    label: string;
    kind: string;
    status: string;
    error?: string;
    cells: Array<TableCell | null>;
    params: number;
    /** Held-out perplexity (the training objective's view). */
    ppl?: number;
    decodeMs?: number;
    prefillMs?: number;
  }>;
}

const cell = nullable(object({ value: num, stderr: nullable(num) }));
export const studyTable: Check<StudyTable> = object({
  columns: arrayOf(object({ key: str, label: str, group: literal('task', 'aggregate'), lowerBetter: optional(bool) })),
  rows: arrayOf(object({
    id: str, label: str, kind: str, status: str, error: optional(str), cells: arrayOf(cell), params: num, ppl: optional(num),
    decodeMs: optional(num), prefillMs: optional(num),
  })),
});

export function formatParams(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export const formatCell = (c: TableCell | null, signed = false): string =>
  c ? `${signed && c.value > 0 ? '+' : ''}${c.value.toFixed(2)}${c.stderr !== null ? ` ± ${c.stderr.toFixed(2)}` : ''}` : '—';

