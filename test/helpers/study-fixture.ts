// A study.json typed by the study schema (src/protocol/study-schema.ts), for the Benchmarks view's tests:
// rows base → compressed → prompt / IDP / LoRA with the paper's nine tasks, domain aggregates made by
// the engine's own aggregate(), latency, selection counts and a layer-wise similarity analysis. The
// numbers are deterministic (an offset per row and a seed), not measurements.

import * as fs from 'fs';
import * as path from 'path';
import { aggregate } from '../../src/engine/eval/aggregate';
import { HEADLINE } from '../../src/engine/eval/aggregate';
import { PAPER_TASKS, PaperTask } from '../../src/engine/eval/tasks';
import type { MetricValue } from '../../src/engine/eval/metrics';
import { STUDY_SCHEMA, StudyReport, StudyRow } from '../../src/protocol/study-schema';

interface RowSpec { id: string; label: string; kind: StudyRow['kind']; offset: number; params: number; status?: StudyRow['status'] }

const PARAM_LABEL: Partial<Record<StudyRow['kind'], string>> = { prompt: '8 tokens', idp: '4 + 8 tokens', lora: 'r = 2 (q,v)' };

const ROWS: RowSpec[] = [
  { id: 'base', label: 'Uncompressed', kind: 'base', offset: 6, params: 0 },
  { id: 'compressed', label: 'RTN 4-bit', kind: 'compressed', offset: 0, params: 0 },
  { id: 'prompt-8', label: 'RTN 4-bit + prompt (8)', kind: 'prompt', offset: 2, params: 1536 },
  { id: 'idp-4+8', label: 'RTN 4-bit + IDP (4, 8)', kind: 'idp', offset: 3, params: 2304 },
  { id: 'lora-r2', label: 'RTN 4-bit + LoRA r=2', kind: 'lora', offset: 4, params: 23040 },
];

/** A study report whose numbers shift by `shift` points (two runs to compare). */
export function studyFixture(o: { shift?: number; created?: string; label?: string; compression?: { spec: string; description: string } } = {}): StudyReport {
  const shift = o.shift ?? 0;
  const rows: StudyRow[] = ROWS.map((r, k) => {
    const headline: StudyRow['headline'] = {};
    const scores: Partial<Record<PaperTask, MetricValue>> = {};
    PAPER_TASKS.forEach((t, i) => {
      const value = 20 + ((i * 7) % 30) + r.offset + shift + (k === 3 && i % 2 ? 1.5 : 0);
      const v = { value, stderr: 0.5 + (i % 3) * 0.25 };
      scores[t] = v;
      headline[t] = { ...v, metric: HEADLINE[t] };
    });
    headline.wikitext = { value: 40 - r.offset, stderr: null, metric: 'word_perplexity' };
    return {
      id: r.id, label: r.label, kind: r.kind,
      // the labels idp/params.ts gives (Fig. 6 reads a single prompt's length from it)
      params: { method: r.kind === 'base' || r.kind === 'compressed' ? 'none' : (r.kind as 'prompt'), label: PARAM_LABEL[r.kind] ?? 'compressed only', paper: r.params, trained: r.params, stored: r.params * 2 },
      bench: `${r.id}/bench.json`,
      headline,
      aggregates: aggregate(scores),
      heldout: { nll: 3.5 - r.offset / 10, ppl: Math.exp(3.5 - r.offset / 10), tokens: 4096 },
      latency: { batch: 1, seqlen: 128, prefillMs: 4 + k, decodeMsPerToken: 0.4 + k / 10 },
      ...(r.kind === 'idp' ? { selection: { counts: [12, 30], prompts: [4, 8] } } : {}),
      ...(r.params ? { training: { tokens: 8192, seconds: 3 + k, finalLoss: 3.1 } } : {}),
      status: r.status ?? 'done',
    };
  });
  const layers = 4;
  const sim = (k: number, what: number) => Array.from({ length: layers }, (_, l) => Math.round((0.99 - l * 0.02 * (4 - k) / 4 - what * 0.01) * 1e4) / 1e4);
  return {
    schema: STUDY_SCHEMA,
    status: 'complete',
    created: o.created ?? '2026-01-01T00:00:00.000Z',
    seconds: 42,
    model: { path: 'models/default', label: o.label ?? 'default (2.4M)', arch: 'LlamaForCausalLM', parameters: 2_360_000 },
    compression: { spec: o.compression?.spec ?? 'rtn:4', path: 'compressed/', description: o.compression?.description ?? 'RTN 4-bit' },
    settings: { methods: ['prompt:8', 'idp:4,8', 'lora:2'], tokens: 8192, tasks: [...PAPER_TASKS], heldout: ['wikitext'], limit: 50, seed: 0 },
    rows,
    analyses: {
      similarity: { layers, samples: 8, rows: Object.fromEntries(ROWS.filter((r) => r.kind !== 'base').map((r, k) => [r.id, { attention: sim(k, 0), hidden: sim(k, 1) }])) },
    },
    charts: [],
    table: 'table.md',
    notes: ['fixture: numbers are made up for the view tests'],
  };
}

/** Writes `report` as <dir>/study.json (and the table file it names). */
export function writeStudy(dir: string, report: StudyReport): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'study.json'), JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, report.table), '(table)\n');
  return dir;
}
