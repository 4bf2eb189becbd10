// IDP: Run Benchmark… — a model, what runs with it (nothing, an IDP bank, a trained baseline), the
// tasks (held-out text tasks for small models; the paper's nine where the data is staged), held-out
// text and a per-task limit; the engine scores them (idp/bench) into a staged lab run:
// runs/<id>/bench.json, bench.md (Table 1 layout), bench.samples.jsonl + run.json.

import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, lab, memory } from '../context';
import { modelLabel, modelArg } from '../paths';
import { dataDir } from '../../engine/defaults';
import { Methods, WorkflowProgress } from '../../protocol/engine-rpc';
import type { BenchReply } from '../../protocol/engine-rpc';
import { activeBank } from './active-bank';
import {
  commandInputs, askInt, checkRequest, defaultWorkflowModel, loggedProgress, pickData, pickModel, runStaged, workspaceCorpus, WorkflowResult,
} from './workflow';

export interface BenchArgs {
  model?: string;
  bank?: string;
  adapter?: string;
  tasks?: string[];
  heldout?: string[];
  limit?: number;
  seed?: number;
  label?: string;
}

const ARG_KEYS = ['model', 'bank', 'adapter', 'tasks', 'heldout', 'limit', 'seed', 'label'] as const;
const USAGE = '{model?, bank?, adapter?, tasks?, heldout?, limit?, seed?, label?}';

const HELDOUT_TASKS = ['text_next_line', 'text_next_sentence', 'text_lambada', 'text_ppl'];
export const DEFAULT_TASKS = ['text_next_line', 'text_lambada', 'text_ppl'];
export const DEFAULT_LIMIT = 100;

const paperTasksStaged = () => fs.existsSync(path.join(dataDir(), 'tasks'));

interface WithPick extends vscode.QuickPickItem { bank?: string; adapter?: string }

async function pickWith(ctx: Ctx, title: string): Promise<WithPick | undefined> {
  const items: WithPick[] = [{ label: '$(circle-slash) The model alone', detail: 'no recovery method' }];
  const active = activeBank(ctx);
  const banks = lab(ctx).listRuns('bank').filter((r) => typeof r.bank === 'string');
  const baselines = lab(ctx).listRuns('baseline').filter((r) => typeof r.adapter === 'string');
  if (active) items.unshift({ label: `$(star-full) Active IDP bank (${active.prompts.join(', ')})`, description: modelLabel(active.model).label, bank: active.bank });
  for (const r of banks) if (!active || path.resolve(String(r.bank)) !== path.resolve(active.bank)) items.push({ label: `$(layers) ${String(r.description ?? 'IDP bank')}`, detail: r.id, bank: String(r.bank) });
  for (const r of baselines) items.push({ label: `$(beaker) ${String(r.description ?? r.method)}`, detail: r.id, adapter: String(r.adapter) });
  return dialogs.pick(items, { title, placeHolder: 'Run the model with', ignoreFocusOut: true });
}

async function ask(ctx: Ctx): Promise<BenchArgs | undefined> {
  const title = 'IDP: Run Benchmark';
  const model = await pickModel(ctx, title, 'bench.model', true);
  if (!model) return undefined;
  const withPick = await pickWith(ctx, title);
  if (!withPick) return undefined;
  const remembered = memory.get<string[]>(ctx, 'bench.tasks', DEFAULT_TASKS);
  const taskItems: vscode.QuickPickItem[] = HELDOUT_TASKS.map((t) => ({ label: t, description: 'held-out text', picked: remembered.includes(t) }));
  if (paperTasksStaged()) taskItems.push({ label: 'all', description: 'the paper\'s nine tasks (staged data)', picked: remembered.includes('all') });
  const picked = await dialogs.pick(taskItems, { title, placeHolder: 'Tasks', canPickMany: true, ignoreFocusOut: true });
  if (!picked?.length) return undefined;
  const tasks = picked.map((p) => p.label);
  await memory.set(ctx, 'bench.tasks', tasks);
  let heldout: string[] | undefined;
  if (tasks.some((t) => t.startsWith('text_'))) {
    const h = await pickData(ctx, `${title}: held-out text`, 'bench.heldout', false);
    if (!h || h === 'model') return undefined;
    heldout = h;
  }
  const limit = await askInt(ctx, title, 'Documents per task (a seeded subsample)', 'bench.limit', DEFAULT_LIMIT);
  if (limit === undefined) return undefined;
  return { model, bank: withPick.bank, adapter: withPick.adapter, tasks, heldout, limit };
}

export type BenchOutcome = WorkflowResult<BenchReply & { model: string; report: string }>;

/** Benchmarks `arg` ({model, bank?|adapter?, tasks, heldout, limit}; automation and tests) or what the user picks. */
export const runBenchmarkCmd = (ctx: Ctx) => async (arg?: unknown): Promise<BenchOutcome | undefined> => {
  const inputs = await commandInputs<BenchArgs>('IDP: Run Benchmark', arg, ARG_KEYS, USAGE, () => ask(ctx));
  if (!inputs) return undefined;
  const { args } = inputs;
  const given = !inputs.interactive;
  const model = modelArg(args.model ?? defaultWorkflowModel(ctx));
  const tasks = args.tasks ?? DEFAULT_TASKS;
  const heldout = args.heldout ?? (tasks.some((t) => t.startsWith('text_')) ? await workspaceCorpus() : undefined);
  if (heldout !== undefined && heldout.length === 0) {
    void vscode.window.showErrorMessage('IDP: Run Benchmark: the held-out text tasks need text — open a trusted folder with text or code files, or give heldout files.');
    return undefined;
  }
  const withWhat = args.bank ? ' + IDP' : args.adapter ? ' + adapter' : '';
  const label = args.label ?? `${modelLabel(model).label}${withWhat}`;
  const request = { model, bank: args.bank, adapter: args.adapter, tasks, heldout, limit: args.limit ?? DEFAULT_LIMIT, seed: args.seed, label };
  if (!checkRequest(ctx, 'Run Benchmark', Methods.bench.method, request)) return undefined;
  const r = await runStaged(ctx, `Benchmarking ${label}`, 'bench', async (stage, report, token) => {
    const progress = loggedProgress(ctx, 'bench', report);
    const reply = await ctx.work.workflow(Methods.bench, WorkflowProgress.bench, {
      ...request, out: path.join(stage.dir, 'bench.json'),
    }, (v) => progress({ fraction: v.fraction, message: `${v.task} ${v.done}/${v.total} (${v.requestsPerSecond.toFixed(1)} req/s)` }), token);
    if (reply.status !== 'complete' || token.isCancellationRequested) return undefined;
    const at = (f: string) => path.join(stage.final, path.basename(f));
    const files = { json: at(reply.files.json), md: at(reply.files.md), samples: at(reply.files.samples) };
    return {
      value: { ...reply, files, model, report: files.json },
      record: {
        model, bank: args.bank ?? null, adapter: args.adapter ?? null, label, tasks, heldout: heldout ?? [], limit: args.limit ?? DEFAULT_LIMIT,
        report: 'bench.json', table: 'bench.md', results: reply.results, seconds: reply.seconds, description: label,
      },
    };
  });
  if (!r) return undefined;
  for (const x of r.value.results) ctx.log.info(`bench: ${label}: ${x.task} ${x.metric} ${x.value.toFixed(4)}${x.stderr !== undefined ? ` ± ${x.stderr.toFixed(4)}` : ''} (n ${x.n})`);
  ctx.log.info(`benchmark finished in ${r.value.seconds.toFixed(1)} s → ${r.run}`);
  if (!given) {
    void vscode.window.showInformationMessage(`IDP: benchmark of ${label} finished.`, 'Open Table').then((b) => {
      if (b) void vscode.window.showTextDocument(vscode.Uri.file(r.value.files.md));
    });
  }
  return r;
};
