// The bench job (`idp bench`, idp/bench): the paper's nine tasks (lm-eval semantics) and held-out-text
// tasks on a model alone, with a PEFT adapter, or with an IDP prompt bank (each request's context selects
// a prompt; per-prompt selection counts in the report). An abort stops after the current forward pass
// and the report says "cancelled" with the tasks finished so far. Files, written atomically: the report
// JSON, .md (Table 1 layout) and .samples.jsonl (one line per scored document).

import * as path from 'path';
import { performance } from 'perf_hooks';
import { describeModel } from '../models/load';
import { parameterCount } from '../models/config';
import { CausalLM } from '../runtime/lm';
import { dataDir as defaultDataDir } from '../defaults';
import { inputError } from '../errors';
import { AdaptedLM, loadAdapter } from '../train/adapted';
import { countParams } from '../train/tensors';
import { encodingFor } from '../eval/requests';
import { parseTaskList } from '../eval/tasks';
import { loadBenchTasks } from '../eval/bench';
import { runTasks } from '../eval/harness';
import { buildReport, BenchReport, ModelInfo, reportPaths, writeReport } from '../eval/report';
import { claimReportFiles } from '../formats/output-folder';
import type { ScoringModel } from '../eval/scoring';
import { IdpScoringModel } from '../idp/scoring-model';
import { IdpBank, SelectionScore } from '../idp/bank';
import { IdpLM } from '../idp/runner';
import { promptParams } from '../idp/params';
import { ParamChecker } from './check';
import { cancelledBy, JobHooks } from './hooks';
import { checkModelOptions, openModel, providerFor, RUN_KEYS, RunOptions } from './model';

export interface BenchOptions extends RunOptions {
  /** A PEFT adapter folder, or an IDP bank folder (not both). */
  adapter?: string;
  bank?: string;
  /** With a bank: override its selection layer and score. */
  selectionLayer?: number;
  score?: SelectionScore;
  /** Task names (paper tasks, 'all', text_* held-out tasks; name=FILE reads a task from FILE). */
  tasks: string[];
  /** Held-out text for the text_* tasks (files / globs). */
  heldout?: string[];
  /** Staged data root for the paper's tasks (default $IDP_DATA). */
  dataDir?: string;
  /** Score a seeded random subsample of n documents per task. */
  limit?: number;
  /** Seed of the subsample, held-out distractors and bootstrap (default 1234). */
  seed?: number;
  /** Choices per held-out multiple-choice item (default 4). */
  choices?: number;
  /** Row label (default: the model's file name). */
  label?: string;
  /** Contexts with BOS first; default lm-eval's rule (none except for Gemma). */
  addBos?: boolean;
  /** Token slots per forward pass (default from the vocabulary size). */
  batchTokens?: number;
  /** Shared-context packing (default true; a bank scores unpacked). */
  pack?: boolean;
  /** Most tokens generated per answer (triviaqa; default 256). */
  maxGenToks?: number;
  /** Report JSON; .md and .samples.jsonl are written beside it. */
  out: string;
}

export interface BenchProgress {
  task: string;
  /** Index of the task and how many there are. */
  taskIndex: number;
  tasks: number;
  done: number;
  total: number;
  /** 0..1 of the whole run. */
  fraction: number;
  requestsPerSecond: number;
}

export interface BenchResult {
  status: BenchReport['status'];
  files: { json: string; md: string; samples: string };
  /** Headline metric per task (value in 0..1 for accuracies), as the report's table shows it. */
  results: Array<{ task: string; metric: string; value: number; stderr?: number; n: number }>;
  seconds: number;
  /** The whole report (the engine process replies without it: it is in files.json). */
  report: BenchReport;
}

const KEYS = [...RUN_KEYS, 'adapter', 'bank', 'selectionLayer', 'score', 'tasks', 'heldout', 'dataDir', 'limit', 'seed', 'choices', 'label', 'addBos',
  'batchTokens', 'pack', 'maxGenToks', 'out'] as const;

export function checkBenchOptions(o: BenchOptions, absolutePaths = false): void {
  const c = ParamChecker.of('bench', o, KEYS, absolutePaths);
  checkModelOptions(c, true);
  c.path('adapter');
  c.path('bank');
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.array('tasks', (x) => typeof x === 'string' && x.trim() !== '' && !x.includes(','), 'a non-empty array of task names', true);
  c.paths('heldout');
  c.path('dataDir');
  c.int('limit', 1);
  c.int('seed', 0);
  c.int('choices', 2, 64);
  c.str('label');
  c.bool('addBos');
  c.int('batchTokens', 1);
  c.bool('pack');
  c.int('maxGenToks', 1);
  c.path('out', true);
  if (o.adapter !== undefined && o.bank !== undefined) throw inputError('bench: give adapter or bank, not both (--adapter / --bank)');
  if (o.bank === undefined && (o.selectionLayer !== undefined || o.score !== undefined)) throw inputError('bench: selectionLayer and score need a bank (--selection-layer / --score need --bank)');
  if (!/\.json$/i.test(o.out)) c.fail('out', 'a path ending in .json');
}

/** Throttle of the progress stream: at most every 100 ms, and every task's first and last event. */
const PROGRESS_MS = 100;

export async function run(o: BenchOptions, hooks: JobHooks<BenchProgress> = {}): Promise<BenchResult> {
  checkBenchOptions(o, hooks.absolutePaths);
  const paths = reportPaths(o.out);
  const claim = claimReportFiles(paths.json, [paths.md, paths.samples]);   // before any compute
  try {
    return await benchClaimed(o, hooks);
  } finally {
    claim.release();
  }
}

async function benchClaimed(o: BenchOptions, hooks: JobHooks<BenchProgress>): Promise<BenchResult> {
  const t0 = performance.now();
  const specs = parseTaskList(o.tasks.join(','));
  const seed = o.seed ?? 1234;
  const heldout = o.heldout ?? [];
  const dataDir = o.dataDir ?? defaultDataDir();
  const tasks = loadBenchTasks(specs, { dataDir, heldout, heldoutOptions: { seed, choices: o.choices ?? 4 } });
  const { m, threads } = await openModel(o);
  const encoding = encodingFor(m.config, m.tokenizer, { addBos: o.addBos });
  const session = { threads, ep: await providerFor(o, hooks.onWarning) };
  const info: ModelInfo = {
    path: m.source, label: o.label ?? path.basename(m.source), type: '-', arch: m.config.hfArchitecture,
    parameters: parameterCount(m), quantization: describeModel(m).quantization,
  };
  let model: ScoringModel;
  if (o.adapter) {
    const method = loadAdapter(m, o.adapter);
    model = new AdaptedLM(method, session);
    Object.assign(info, { type: method.kind, adapter: path.resolve(o.adapter), adapterParams: countParams(method.params) });
  } else if (o.bank) {
    const bank = IdpBank.load(o.bank, m, { onWarning: hooks.onWarning });
    if (o.selectionLayer !== undefined) bank.selectionLayer = o.selectionLayer;
    if (o.score) bank.score = o.score;
    const idp = new IdpLM(m, bank, session);
    model = new IdpScoringModel(idp, m.tokenizer);
    // the bank is recorded under `bank` (its prompts and selection), never as an adapter
    Object.assign(info, {
      type: 'IDP', adapterParams: promptParams(m.config, bank.info.map((p) => p.n), 'idp').paper,
      bank: { path: path.resolve(o.bank), prompts: bank.info.map((p) => p.n), selectionLayer: idp.selectionLayer, score: bank.score },
    });
  } else {
    model = new CausalLM(m, session);
  }
  const pack = o.pack ?? true;
  const names = tasks.map((t) => t.name);
  let current = '';
  let started = performance.now();
  let last = 0;
  const run = await runTasks(model, encoding, tasks, {
    limit: o.limit, seed, batchTokens: o.batchTokens, pack, maxGenToks: o.maxGenToks ?? 256, isCancelled: cancelledBy(hooks.signal),
    prompts: model instanceof IdpScoringModel ? model.prompts : undefined,
    onProgress: (e) => {
      const now = performance.now();
      const first = e.task !== current;
      if (first) { current = e.task; started = now; }
      if (!first && e.done < e.total && now - last < PROGRESS_MS) return;
      last = now;
      const i = Math.max(0, names.indexOf(e.task));
      const within = e.total > 0 ? e.done / e.total : 1;
      hooks.onProgress?.({
        task: e.task, taskIndex: i, tasks: names.length, done: e.done, total: e.total, fraction: (i + within) / names.length,
        requestsPerSecond: e.done / Math.max(1e-3, (now - started) / 1000),
      });
    },
  });
  const report = buildReport(info, {
    tasks: specs.map((s) => (s.path ? `${s.name}=${s.path}` : s.name)), dataDir: path.resolve(dataDir), heldout,
    limit: o.limit, seed, batchTokens: o.batchTokens, maxGenToks: o.maxGenToks ?? 256, pack: pack && !o.bank, addBos: encoding.addBos,
  }, run, (performance.now() - t0) / 1000);
  const files = writeReport(o.out, report, run.samples);
  const results = run.results.map((r) => {
    const metric = (report.headline as Record<string, { metric: string } | undefined>)[r.name]?.metric ?? Object.keys(r.metrics)[0];
    const v = metric ? r.metrics[metric as keyof typeof r.metrics] : undefined;
    return { task: r.name, metric: metric ?? '', value: v?.value ?? NaN, stderr: v?.stderr ?? undefined, n: r.n };
  });
  return { status: report.status, files, results, seconds: report.seconds, report };
}
