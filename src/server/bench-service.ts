// idp/bench in the engine process: the benchmark harness (engine/eval) on a model alone, with a PEFT
// adapter, or with an IDP prompt bank (IdpLM scores every sequence with its own selected prompt).
// Progress per batch of requests; a cancel stops after the current forward pass and the report says
// "cancelled" (the extension then keeps nothing). Files: report JSON, .md and .samples.jsonl.

import * as path from 'path';
import { performance } from 'perf_hooks';
import { loadModel, describeModel } from '../engine/models/load';
import { parameterCount } from '../engine/models/config';
import { CausalLM } from '../engine/runtime/lm';
import { dataDir } from '../engine/defaults';
import { inputError } from '../engine/errors';
import { AdaptedLM, loadAdapter } from '../engine/train/adapted';
import { countParams } from '../engine/train/tensors';
import { encodingFor } from '../engine/eval/requests';
import { parseTaskList } from '../engine/eval/tasks';
import { loadBenchTasks } from '../engine/eval/bench';
import { runTasks } from '../engine/eval/harness';
import { buildReport, ModelInfo as BenchModelInfo, reportPaths, writeReport } from '../engine/eval/report';
import { claimReportFiles } from '../engine/formats/output-folder';
import type { ScoringModel } from '../engine/eval/scoring';
import { IdpBank } from '../engine/idp/bank';
import { IdpLM } from '../engine/idp/runner';
import { IdpScoringModel } from '../engine/eval/idp-model';
import { promptParams } from '../engine/idp/params';
import { threadsFor } from '../cli/options';
import type { BenchParams, BenchProgressValue, BenchReply } from './workflow-protocol';
import { isNonEmptyString, ParamChecker } from './params';
import type { Cancellation } from './engine-service';

const KEYS = ['model', 'adapter', 'bank', 'tasks', 'heldout', 'dataDir', 'limit', 'seed', 'choices', 'label', 'out', 'threads', 'progressToken'] as const;

export function checkBenchParams(p: BenchParams): void {
  const c = ParamChecker.of('bench', p, KEYS);
  c.model('model', true);
  c.path('adapter');
  c.path('bank');
  c.array('tasks', (x) => isNonEmptyString(x) && !(x as string).includes(','), 'a non-empty array of task names', true);
  c.array('heldout', (x) => isNonEmptyString(x) && path.isAbsolute(x as string), 'a non-empty array of absolute files / globs');
  c.path('dataDir');
  c.int('limit', 1);
  c.int('seed', 0);
  c.int('choices', 2, 64);
  c.str('label');
  c.path('out', true);
  c.int('threads', 1);
  c.progressToken();
  if (p.adapter !== undefined && p.bank !== undefined) throw inputError('bench: give adapter or bank, not both');
  if (!/\.json$/i.test(p.out)) c.fail('out', 'a path ending in .json');
}

export async function runBench(p: BenchParams, token: Cancellation, onProgress?: (v: BenchProgressValue) => void): Promise<BenchReply> {
  checkBenchParams(p);
  const paths = reportPaths(p.out);
  const claim = claimReportFiles(paths.json, [paths.md, paths.samples]);   // before any compute
  try {
    return await benchClaimed(p, token, onProgress);
  } finally {
    claim.release();
  }
}

async function benchClaimed(p: BenchParams, token: Cancellation, onProgress?: (v: BenchProgressValue) => void): Promise<BenchReply> {
  const t0 = performance.now();
  const specs = parseTaskList(p.tasks.join(','));
  const seed = p.seed ?? 1234;
  const tasks = loadBenchTasks(specs, { dataDir: p.dataDir ?? dataDir(), heldout: p.heldout, heldoutOptions: { seed, choices: p.choices ?? 4 } });
  const m = await loadModel(p.model);
  const threads = threadsFor(m, p.threads);
  const info: BenchModelInfo = {
    path: m.source, label: p.label ?? path.basename(m.source), type: '-', arch: m.config.hfArchitecture,
    parameters: parameterCount(m), quantization: describeModel(m).quantization,
  };
  let model: ScoringModel;
  if (p.adapter) {
    const method = loadAdapter(m, p.adapter);
    model = new AdaptedLM(method, { threads });
    Object.assign(info, { type: method.kind, adapter: path.resolve(p.adapter), adapterParams: countParams(method.params) });
  } else if (p.bank) {
    const bank = IdpBank.load(p.bank, m);
    model = new IdpScoringModel(new IdpLM(m, bank, { threads }), m.tokenizer);
    const lengths = bank.info.map((x) => x.n);
    Object.assign(info, { type: 'IDP', adapter: path.resolve(p.bank), adapterParams: promptParams(m.config, lengths, 'idp').paper });
  } else {
    model = new CausalLM(m, { threads });
  }
  const encoding = encodingFor(m.config, m.tokenizer, { addBos: p.addBos });
  const names = tasks.map((t) => t.name);
  let current = '';
  let started = performance.now();
  let last = 0;
  const run = await runTasks(model, encoding, tasks, {
    limit: p.limit, seed, isCancelled: () => token.isCancellationRequested,
    onProgress: (e) => {
      const now = performance.now();
      if (e.task !== current) { current = e.task; started = now; last = 0; }
      if (e.done < e.total && now - last < 100) return;
      last = now;
      const i = Math.max(0, names.indexOf(e.task));
      const within = e.total > 0 ? e.done / e.total : 1;
      onProgress?.({
        task: e.task, taskIndex: i, tasks: names.length, done: e.done, total: e.total, fraction: (i + within) / names.length,
        requestsPerSecond: e.done / Math.max(1e-3, (now - started) / 1000),
      });
    },
  });
  const report = buildReport(info, {
    tasks: specs.map((s) => (s.path ? `${s.name}=${s.path}` : s.name)), dataDir: path.resolve(p.dataDir ?? dataDir()), heldout: p.heldout ?? [],
    limit: p.limit, seed, pack: true, addBos: encoding.addBos,
  }, run, (performance.now() - t0) / 1000);
  const files = writeReport(p.out, report, run.samples);
  const results = run.results.map((r) => {
    const metric = (report.headline as Record<string, { metric: string } | undefined>)[r.name]?.metric ?? Object.keys(r.metrics)[0];
    const v = metric ? r.metrics[metric as keyof typeof r.metrics] : undefined;
    return { task: r.name, metric: metric ?? '', value: v?.value ?? NaN, stderr: v?.stderr ?? undefined, n: r.n };
  });
  return { status: report.status, files, results, seconds: report.seconds };
}
