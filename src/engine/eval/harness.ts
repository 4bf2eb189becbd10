// Runs loaded tasks on a model: the --limit subsample, the requests each document makes, scoring,
// per-document metrics, per-sample logs and the per-task aggregates. Cancellation is checked between
// forward passes; a cancelled task is dropped and the tasks finished before it are returned.

import { Rng } from '../rng';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { inputError } from '../errors';
import { Encoding, encodePair, LoglikelihoodResult, TokenPair } from './requests';
import { CancelledError, generateUntil, ScoringModel, scoreLoglikelihood, scoreRolling } from './scoring';
import { aggregateMetric, DocMetrics, DocValue, generationMetrics, loglikelihoodMetrics, mcMetrics, MetricValue, rollingMetrics } from './metrics';
import type { Doc, McDoc, MetricName, OutputType, Task } from './tasks/types';

export interface HarnessOptions {
  /** Score a seeded random subsample of this many documents per task (in their original order). */
  limit?: number;
  seed?: number;
  batchTokens?: number;
  /** Pack continuations after a shared context (default true; models without the packed path ignore it). */
  pack?: boolean;
  maxGenToks?: number;
  genBatch?: number;
  bootstrapIters?: number;
  onProgress?: (p: { task: string; done: number; total: number }) => void;
  isCancelled?: () => boolean;
  /** IDP: the bank's size, so that selection counts list every prompt. */
  prompts?: number;
}

export interface TaskResult {
  name: string;
  outputType: OutputType;
  split: string;
  files: string[];
  notes: string[];
  /** Documents scored / in the task. */
  n: number;
  total: number;
  metrics: Partial<Record<MetricName, MetricValue>>;
  requests: number;
  seconds: number;
  /** IDP: documents per selected prompt (a document counts once: the choice of its first request's context). */
  selection?: number[];
}

/** One scored document, as lm-eval's --log_samples writes it (context, choices, results, metrics). */
export interface SampleLog {
  task: string;
  doc: number;
  source?: string;
  context: string | string[];
  choices?: string[];
  continuation?: string;
  gold?: number | number[];
  targets?: string[];
  lls?: number[];
  is_greedy?: boolean[];
  pred?: number;
  pred_norm?: number;
  generated?: string;
  answer?: string;
  tokens?: number;
  /** IDP: the prompt each request selected (one per choice of a multiple-choice item). */
  selected?: number[];
  metrics: DocMetrics;
}

export interface HarnessResult {
  results: TaskResult[];
  samples: SampleLog[];
  cancelled: boolean;
  /** The task that was running when cancelled. */
  cancelledTask?: string;
}

/** Indices of a seeded subsample of `limit` of n documents, ascending (all of them when limit ≥ n). */
export function subsample(n: number, limit: number | undefined, seed: number, task: string): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (limit === undefined || limit >= n) return all;
  if (!(Number.isInteger(limit) && limit >= 1)) throw inputError(`--limit must be a positive integer, got ${limit}`);
  const rng = Rng.for(seed, 'limit', task);
  for (let i = 0; i < limit; i++) {
    const j = i + rng.int(n - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, limit).sort((a, b) => a - b);
}

/** Encoding whose tokenizer remembers encodings (contexts are encoded once per choice otherwise). */
function memoEncoding(e: Encoding): Encoding {
  const memo = new Map<string, number[]>();
  const tok = e.tokenizer;
  const t: Tokenizer = {
    vocabSize: tok.vocabSize, bosId: tok.bosId, eosId: tok.eosId,
    encode: (s) => {
      let ids = memo.get(s);
      if (!ids) { ids = tok.encode(s); if (memo.size > 50_000) memo.clear(); memo.set(s, ids); }
      return ids;
    },
    decode: (ids) => tok.decode(ids),
    decodeStep: tok.decodeStep?.bind(tok), idToPiece: tok.idToPiece?.bind(tok), tokenBytes: tok.tokenBytes?.bind(tok),
  };
  return { ...e, tokenizer: t };
}

function mcPairs(e: Encoding, d: McDoc): TokenPair[] {
  return d.contexts.length === 1
    ? d.continuations.map((c) => encodePair(e, d.contexts[0], c))
    : d.contexts.map((ctx) => encodePair(e, ctx, d.continuations[0]));
}

/** The selections of a document's requests, when the model selects (IDP). */
function selections(rs: Array<{ selected?: number }>): { selected?: number[] } {
  return rs.length && rs.every((r) => r.selected !== undefined) ? { selected: rs.map((r) => r.selected!) } : {};
}

async function runOne(model: ScoringModel, e: Encoding, task: Task, docs: Doc[], o: HarnessOptions, samples: SampleLog[]): Promise<{ values: DocMetrics[]; requests: number }> {
  const so = { batchTokens: o.batchTokens, pack: o.pack, isCancelled: o.isCancelled, onProgress: (done: number, total: number) => o.onProgress?.({ task: task.name, done, total }) };
  const values: DocMetrics[] = [];
  const log = (d: Doc, s: Omit<SampleLog, 'task' | 'doc' | 'source'>) => samples.push({ task: task.name, doc: d.index, source: d.source, ...s });
  switch (task.outputType) {
    case 'multiple_choice': {
      const pairs: TokenPair[] = [];
      const at: number[] = [];
      for (const d of docs as Array<McDoc & Doc>) { at.push(pairs.length); pairs.push(...mcPairs(e, d)); }
      const r = await scoreLoglikelihood(model, pairs, so);
      (docs as Array<McDoc & Doc>).forEach((d, k) => {
        const res: LoglikelihoodResult[] = r.slice(at[k], at[k] + Math.max(d.contexts.length, d.continuations.length));
        const { pred, predNorm, ...m } = mcMetrics(d, res);
        const kept: DocMetrics = {};
        for (const name of task.metrics) kept[name] = m[name];
        values.push(kept);
        log(d, {
          context: d.contexts.length === 1 ? d.contexts[0] : d.contexts, choices: d.choices,
          continuation: d.contexts.length > 1 ? d.continuations[0] : undefined, gold: d.gold,
          lls: res.map((x) => x.ll), is_greedy: res.map((x) => x.isGreedy), pred, pred_norm: predNorm, ...selections(res), metrics: kept,
        });
      });
      return { values, requests: pairs.length };
    }
    case 'loglikelihood': {
      const ds = docs as Array<Extract<Doc, { type: 'loglikelihood' }>>;
      const r = await scoreLoglikelihood(model, ds.map((d) => encodePair(e, d.context, d.continuation)), so);
      ds.forEach((d, k) => {
        const m = loglikelihoodMetrics(r[k]);
        values.push(m);
        log(d, { context: d.context, continuation: d.continuation, lls: [r[k].ll], is_greedy: [r[k].isGreedy], tokens: r[k].tokens, ...selections([r[k]]), metrics: m });
      });
      return { values, requests: ds.length };
    }
    case 'generate_until': {
      const ds = docs as Array<Extract<Doc, { type: 'generate_until' }>>;
      const r = await generateUntil(model, e, ds, { ...so, maxGenToks: o.maxGenToks, batch: o.genBatch });
      ds.forEach((d, k) => {
        const { answer, ...m } = generationMetrics(d, r[k].text);
        values.push(m);
        log(d, { context: d.context, targets: d.targets, generated: r[k].text, answer, tokens: r[k].tokens, ...selections([r[k]]), metrics: m });
      });
      return { values, requests: ds.length };
    }
    case 'loglikelihood_rolling': {
      const ds = docs as Array<Extract<Doc, { type: 'loglikelihood_rolling' }>>;
      const r = await scoreRolling(model, ds.map((d) => e.tokenizer.encode(d.text)), e.prefixToken, so);
      ds.forEach((d, k) => {
        const m = rollingMetrics(d.text, r[k]);
        values.push(m);
        log(d, { context: `${d.text.slice(0, 200)}${d.text.length > 200 ? '…' : ''}`, lls: [r[k].ll], tokens: r[k].tokens, ...selections([r[k]]), metrics: m });
      });
      return { values, requests: ds.length };
    }
  }
}

/** Documents per selected prompt (first request of each document), or undefined when nothing was selected. */
export function selectionCounts(samples: SampleLog[], prompts?: number): number[] | undefined {
  const firsts = samples.map((s) => s.selected?.[0]).filter((x): x is number => x !== undefined);
  if (!firsts.length) return undefined;
  const counts = new Array<number>(Math.max(prompts ?? 0, Math.max(...firsts) + 1)).fill(0);
  for (const k of firsts) counts[k]++;
  return counts;
}

export async function runTasks(model: ScoringModel, encoding: Encoding, tasks: Task[], o: HarnessOptions = {}): Promise<HarnessResult> {
  const seed = o.seed ?? 1234;
  const out: HarnessResult = { results: [], samples: [], cancelled: false };
  for (const task of tasks) {
    if (!task.docs.length) throw inputError(`task ${task.name} has no documents`, task.files[0]);
    const pick = subsample(task.docs.length, o.limit, seed, task.name).map((i) => task.docs[i]);
    const t0 = performance.now();
    const samples: SampleLog[] = [];
    let run;
    try {
      run = await runOne(model, memoEncoding(encoding), task, pick, o, samples);
    } catch (err) {
      if (err instanceof CancelledError) { out.cancelled = true; out.cancelledTask = task.name; return out; }
      throw err;
    }
    const metrics: TaskResult['metrics'] = {};
    for (const name of task.metrics) {
      const vals = run.values.map((v) => v[name]).filter((v): v is DocValue => v !== undefined);
      metrics[name] = aggregateMetric(name, vals, { bootstrapIters: o.bootstrapIters, seed });
    }
    out.samples.push(...samples);
    const selection = selectionCounts(samples, o.prompts);
    out.results.push({
      name: task.name, outputType: task.outputType, split: task.split, files: task.files, notes: task.notes,
      n: pick.length, total: task.docs.length, metrics, requests: run.requests, seconds: (performance.now() - t0) / 1000,
      ...(selection ? { selection } : {}),
    });
  }
  return out;
}
