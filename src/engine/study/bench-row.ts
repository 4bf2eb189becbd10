// One study row through the benchmark harness (eval/harness.ts, the same code as `idp bench`), its report
// written to rows/<id>/bench.json (+ .md, .samples.jsonl), and its held-out NLL (mean next-token NLL of
// the held-out blocks; IDP: every token votes).

import * as path from 'path';
import { parameterCount } from '../models/config';
import { describeModel } from '../models/load';
import { encodingFor } from '../eval/requests';
import { runTasks } from '../eval/harness';
import { buildReport, ModelInfo, writeReport } from '../eval/report';
import { windowNll } from '../eval/perplexity';
import type { Aggregates } from '../eval/aggregate';
import type { MetricValue } from '../eval/metrics';
import type { Task } from '../eval/tasks/types';
import type { Blocks } from '../train/data';
import { IdpScoringModel } from '../idp/scoring-model';
import { CausalLM } from '../runtime/lm';
import { headlineMetric, isAccuracy } from './table';
import type { RowRuntime } from './rows';
import type { StudyRow } from '../../protocol/study-schema';

export interface RowBench {
  /** Bench report, relative to the study folder. */
  file: string;
  headline: Record<string, MetricValue & { metric: string }>;
  aggregates?: Aggregates;
  selection?: { counts: number[]; prompts: number[] };
}

const pct = (v: MetricValue): MetricValue => ({ value: 100 * v.value, stderr: v.stderr === null ? null : 100 * v.stderr });

export async function benchRow(row: RowRuntime, tasks: Task[], out: string, o: {
  limit?: number; seed: number; addBos?: boolean; isCancelled: () => boolean; onProgress?: (p: { task: string; done: number; total: number }) => void;
}): Promise<RowBench | undefined> {
  const t0 = performance.now();
  const m = row.model;
  const model = row.bench();
  const prompts = model instanceof IdpScoringModel ? model.prompts : undefined;
  const encoding = encodingFor(m.config, m.tokenizer, { addBos: o.addBos });
  const run = await runTasks(model, encoding, tasks, { limit: o.limit, seed: o.seed, prompts, isCancelled: o.isCancelled, onProgress: o.onProgress });
  if (run.cancelled) return undefined;
  const info: ModelInfo = {
    path: m.source, label: row.label, type: row.kind === 'base' || row.kind === 'compressed' ? '-' : row.kind, adapterParams: row.params.paper || undefined,
    arch: m.config.hfArchitecture, parameters: parameterCount(m), quantization: describeModel(m).quantization,
    ...(model instanceof IdpScoringModel ? { bank: { path: 'train/bank', prompts: row.prompts!, selectionLayer: model.idp.selectionLayer, score: model.idp.bank.score } } : {}),
  };
  const report = buildReport(info, { tasks: tasks.map((t) => t.name), heldout: [], limit: o.limit, seed: o.seed, pack: model instanceof CausalLM, addBos: encoding.addBos }, run, (performance.now() - t0) / 1000);
  const file = path.join('rows', row.id, 'bench.json');
  writeReport(path.join(out, file), report, run.samples);
  const headline: RowBench['headline'] = {};
  for (const r of run.results) {
    const metric = headlineMetric(r.name, Object.keys(r.metrics));
    const v = metric ? r.metrics[metric] : undefined;
    if (metric && v) headline[r.name] = { metric, ...(isAccuracy(metric) ? pct(v) : v) };
  }
  const a = report.aggregates;
  const values = Object.fromEntries(Object.entries(a.values).map(([k, v]) => [k, { ...v!, ...pct(v!) }]));
  return {
    file, headline, ...(Object.keys(values).length ? { aggregates: { ...a, values } } : {}),
    ...(report.selection ? { selection: { counts: report.selection.counts, prompts: report.selection.prompts } } : {}),
  };
}

export async function heldoutNll(row: RowRuntime, blocks: Blocks, batch: number): Promise<NonNullable<StudyRow['heldout']>> {
  const scorer = row.scorer();
  const V = scorer.config.vocabSize;
  let total = 0;
  for (let i = 0; i < blocks.count; i += batch) {
    const seqs = Array.from({ length: Math.min(batch, blocks.count - i) }, (_, k) => Array.from(blocks.get(i + k)));
    const logits = await scorer.logits(seqs);
    seqs.forEach((s, k) => { total += windowNll(logits[k], s, V); });
  }
  const nll = total / blocks.count;
  return { nll: +nll.toFixed(6), ppl: +Math.exp(nll).toFixed(4), tokens: blocks.count * (blocks.T - 1) };
}
