// IDP: Run Study… — the paper's experiment in one job: compress a model, train every recovery method
// (single prompts, concat, IDP, prefix, LoRA) on the same data and budget, benchmark every row, measure
// latency and similarity, and write the report (src/engine/study: study.json, table.md, charts/) into a
// staged lab run: runs/<id>/study + run.json. The Benchmarks view shows it.

import * as path from 'path';
import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, memory } from '../context';
import { modelLabel, modelArg } from '../paths';
import { modelLoadParams } from '../settings';
import { Methods, WorkflowProgress } from '../../protocol/engine-rpc';
import type { StudyParams, StudyReply } from '../../protocol/engine-rpc';
import { commandInputs, askInt, checkRequest, loggedProgress, pickData, pickModel, runStaged, workspaceCorpus, WorkflowResult } from './workflow';
import { DEFAULT_LIMIT, DEFAULT_TASKS } from './bench';

export type StudyArgs = Partial<Omit<StudyParams, 'out' | 'progressToken'>>;

const ARG_KEYS = ['model', 'tokenizer', 'compress', 'methods', 'tokens', 'tasks', 'heldout', 'data', 'dataDir', 'limit', 'seed', 'seqLen', 'batch', 'lr',
  'targets', 'selectionLayer', 'score', 'calibSamples', 'calibSeqLen', 'latency', 'similarity', 'choices', 'threads'] as const;
const USAGE = '{model?, compress?, methods?, tokens?, tasks?, heldout?, data?, limit?, … (runStudy\'s options but out)}';

export const DEFAULT_COMPRESS = 'gptq:4';
export const DEFAULT_METHODS = ['none', 'prompt:26', 'prompt:100', 'concat', 'idp', 'prefix:100', 'lora:4'];
export const DEFAULT_STUDY_TOKENS = 16_384;

const COMPRESSIONS: Array<vscode.QuickPickItem & { spec: string }> = [
  { spec: 'gptq:4', label: 'GPTQ 4-bit', detail: 'calibrated on the study\'s training text' },
  { spec: 'gptq:3', label: 'GPTQ 3-bit', detail: 'harder: more for IDP to recover (the paper\'s setting)' },
  { spec: 'rtn:4', label: 'RTN 4-bit', detail: 'round to nearest' },
  { spec: 'rtn:3', label: 'RTN 3-bit' },
];

const METHOD_ITEMS: Array<vscode.QuickPickItem & { spec: string }> = [
  { spec: 'none', label: 'none', description: 'the compressed model alone' },
  { spec: 'prompt:26', label: 'prompt:26', description: 'a 26-token soft prompt (an IDP bank member)' },
  { spec: 'prompt:100', label: 'prompt:100', description: 'a 100-token soft prompt (an IDP bank member)' },
  { spec: 'concat', label: 'concat', description: 'every prompt concatenated' },
  { spec: 'idp', label: 'idp', description: 'IDP over every prompt' },
  { spec: 'prefix:100', label: 'prefix:100', description: 'prefix tuning, 100 tokens' },
  { spec: 'lora:4', label: 'lora:4', description: 'LoRA rank 4' },
  { spec: 'lora:8', label: 'lora:8', description: 'LoRA rank 8' },
];

async function ask(ctx: Ctx): Promise<StudyArgs | undefined> {
  const title = 'IDP: Run Study';
  const model = await pickModel(ctx, `${title}: the uncompressed model`, 'study.model', false);
  if (!model) return undefined;
  const lastSpec = memory.get<string>(ctx, 'study.compress', DEFAULT_COMPRESS);
  const comp = await dialogs.pick([...COMPRESSIONS].sort((a, b) => (a.spec === lastSpec ? -1 : b.spec === lastSpec ? 1 : 0)),
    { title, placeHolder: 'Compression', ignoreFocusOut: true });
  if (!comp) return undefined;
  await memory.set(ctx, 'study.compress', comp.spec);
  const lastMethods = memory.get<string[]>(ctx, 'study.methods', DEFAULT_METHODS);
  const picked = await dialogs.pick(METHOD_ITEMS.map((m) => ({ ...m, picked: lastMethods.includes(m.spec) })),
    { title, placeHolder: 'Recovery methods to compare', canPickMany: true, ignoreFocusOut: true });
  if (!picked?.length) return undefined;
  const methods = picked.map((p) => p.spec);
  await memory.set(ctx, 'study.methods', methods);
  const tokens = await askInt(ctx, title, 'Training tokens per method', 'study.tokens', DEFAULT_STUDY_TOKENS);
  if (tokens === undefined) return undefined;
  const heldout = await pickData(ctx, `${title}: held-out text for the benchmark`, 'study.heldout', false);
  if (!heldout || heldout === 'model') return undefined;
  return { model, compress: comp.spec, methods, tokens, heldout };
}

export type StudyOutcome = WorkflowResult<StudyReply & { study: string }>;

/** Runs a study from `arg` (runStudy's options without out; automation and tests) or what the user picks. */
export const runStudyCmd = (ctx: Ctx) => async (arg?: unknown): Promise<StudyOutcome | undefined> => {
  const inputs = await commandInputs<StudyArgs>('IDP: Run Study', arg, ARG_KEYS, USAGE, () => ask(ctx));
  if (!inputs) return undefined;
  const { args } = inputs;
  const given = !inputs.interactive;
  const model = modelArg(args.model ?? modelLoadParams().model);
  const tasks = args.tasks ?? DEFAULT_TASKS;
  const heldout = args.heldout ?? (tasks.some((t) => t.startsWith('text_')) ? await workspaceCorpus() : []);
  if (tasks.some((t) => t.startsWith('text_')) && heldout.length === 0) {
    void vscode.window.showErrorMessage('IDP: Run Study: the held-out text tasks need text — open a trusted folder with text or code files, or give heldout files.');
    return undefined;
  }
  const compress = args.compress ?? DEFAULT_COMPRESS;
  const methods = args.methods ?? DEFAULT_METHODS;
  const tokens = args.tokens ?? DEFAULT_STUDY_TOKENS;
  // every path option (tokenizer, data, heldout, dataDir, name=FILE tasks) is checked: the request as sent
  const request = { ...args, model, compress, methods, tokens, tasks, heldout, limit: args.limit ?? DEFAULT_LIMIT };
  if (!checkRequest(ctx, 'Run Study', Methods.study.method, request)) return undefined;
  const r = await runStaged(ctx, `Study: ${compress} of ${modelLabel(model).label}, ${methods.length} methods`, 'study', async (stage, report, token) => {
    const progress = loggedProgress(ctx, 'study', report);
    const out = path.join(stage.dir, 'study');
    const reply = await ctx.work.workflow(Methods.study, WorkflowProgress.study, { ...request, out }, (v) => progress({ fraction: v.fraction, message: `${v.stage}: ${v.message}` }), token);
    if (reply.status === 'cancelled' || token.isCancellationRequested) return undefined;
    const dir = path.join(stage.final, 'study');
    return {
      value: { ...reply, dir, study: path.join(dir, 'study.json') },
      record: {
        study: path.join(dir, 'study.json'), dir, model, compress: reply.compress, methods, tokens, tasks, status: reply.status, rows: reply.rows,
        seconds: reply.seconds, description: `${reply.compress} of ${modelLabel(model).label}: ${methods.join(', ')}`,
      },
    };
  });
  if (!r) return undefined;
  for (const row of r.value.rows) ctx.log.info(`study: ${row.label}: ${row.status}${row.average !== undefined ? `, average ${(100 * row.average).toFixed(2)}` : ''}`);
  ctx.log.info(`study ${r.value.status} in ${r.value.seconds.toFixed(1)} s → ${r.run}`);
  if (!given) {
    void vscode.window.showInformationMessage(`IDP: the study is ${r.value.status === 'complete' ? 'complete' : 'partly done (see the log)'}.`, 'Show Benchmarks', 'Open Table').then((b) => {
      if (b === 'Show Benchmarks') void vscode.commands.executeCommand('idp.showBenchmarks');
      if (b === 'Open Table') void vscode.window.showTextDocument(vscode.Uri.file(path.join(r.value.dir, 'table.md')));
    });
  }
  return r;
};
