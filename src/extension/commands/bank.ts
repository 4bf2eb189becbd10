// IDP: Train Prompt Bank… — a (compressed) model, the prompt lengths, training text and a token budget —
// either all prompts on the same text, or one prompt per language of the workspace (each on its own files,
// the bank's selection then calibrated on their held-out documents); the engine trains one soft prompt per
// length in the bank's layout and computes their K/V
// (idp/trainBank) into a staged lab run: runs/<id>/bank (bank.json, prompts, kv, per-prompt runs) +
// run.json. The new bank becomes the active one (status bar, Run Benchmark, the Inspector).

import * as path from 'path';
import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, memory } from '../context';
import { modelLabel, modelArg } from '../paths';
import { Methods, WorkflowProgress } from '../../protocol/engine-rpc';
import type { TrainBankReply } from '../../protocol/engine-rpc';
import {
  commandInputs, askInt, checkRequest, defaultWorkflowModel, loggedProgress, pickData, pickModel, runStaged, WorkflowResult, workspaceLanguages,
  WorkspaceLanguage,
} from './workflow';
import type { DataSource } from '../../protocol/workflows';
import { DEFAULT_TOKENS, TRAINING_ARG_KEYS, TrainingArgs, trainingParams, trainSample } from './training-args';
import { setActiveBank } from './active-bank';

export interface BankArgs extends TrainingArgs {
  prompts?: number[];
  /** Per prompt its own text (files / globs, 'model', or null: the shared data). */
  promptData?: Array<DataSource | null>;
  positions?: number;
  selectionLayer?: number;
  score?: 'mass' | 'mean';
}

const ARG_KEYS = [...TRAINING_ARG_KEYS, 'prompts', 'promptData', 'positions', 'selectionLayer', 'score'] as const;
const USAGE = '{model?, prompts?, promptData?, data?, eval?, tokens?, seqlen?, batch?, lr?, seed?, sampleTokens?, positions?, selectionLayer?, score?}';

export const DEFAULT_PROMPTS = [26, 100];

export function parsePromptList(s: string): number[] | undefined {
  const parts = s.split(',').map((x) => x.trim()).filter(Boolean);
  const out = parts.map(Number);
  return out.length && out.every((n) => Number.isInteger(n) && n >= 1) ? out : undefined;
}

async function ask(ctx: Ctx): Promise<BankArgs | undefined> {
  const title = 'IDP: Train Prompt Bank';
  const model = await pickModel(ctx, title, 'bank.model', true);
  if (!model) return undefined;
  const languages = await workspaceLanguages();
  if (languages.length >= 2) {
    const how = await dialogs.pick([
      { label: '$(list-flat) All prompts on the same text', perLanguage: false },
      { label: '$(symbol-namespace) One prompt per language of the workspace', detail: languages.slice(0, 6).map((l) => `${l.name} (${l.files.length})`).join(', '), perLanguage: true },
    ], { title, placeHolder: 'What the prompts learn from', ignoreFocusOut: true });
    if (!how) return undefined;
    if (how.perLanguage) return askPerLanguage(ctx, title, model, languages);
  }
  const lengths = await dialogs.input({
    title, prompt: 'Prompt lengths in tokens, comma-separated (the paper: 26,100)', ignoreFocusOut: true,
    value: memory.get<number[]>(ctx, 'bank.prompts', DEFAULT_PROMPTS).join(','),
    validateInput: (s) => (parsePromptList(s) ? undefined : 'comma-separated whole numbers, e.g. 26,100'),
  });
  if (lengths === undefined) return undefined;
  const prompts = parsePromptList(lengths)!;
  await memory.set(ctx, 'bank.prompts', prompts);
  const data = await pickData(ctx, `${title}: training text`, 'bank.data', true);
  if (!data) return undefined;
  const tokens = await askInt(ctx, title, 'Training tokens per prompt', 'bank.tokens', DEFAULT_TOKENS);
  if (tokens === undefined) return undefined;
  return { model, prompts, data, tokens };
}

/** One prompt per chosen language: each trains on that language's files; the selection is calibrated on their held-out ones. */
async function askPerLanguage(ctx: Ctx, title: string, model: string, languages: WorkspaceLanguage[]): Promise<BankArgs | undefined> {
  const picks = await dialogs.pick(languages.map((l, i) => ({ label: l.name, description: `${l.files.length} file${l.files.length > 1 ? 's' : ''} (*.${l.ext})`, picked: i < 3, l })),
    { title, placeHolder: 'Languages: one prompt each (at least two)', canPickMany: true, ignoreFocusOut: true });
  if (!picks) return undefined;
  if (picks.length < 2) {
    void vscode.window.showWarningMessage('IDP: a bank of languages needs at least two of them.');
    return undefined;
  }
  const n = await askInt(ctx, title, 'Tokens per prompt (every language gets one prompt of this length)', 'bank.languagePrompt', 16);
  if (n === undefined) return undefined;
  const tokens = await askInt(ctx, title, 'Training tokens per prompt', 'bank.tokens', DEFAULT_TOKENS);
  if (tokens === undefined) return undefined;
  return { model, prompts: picks.map(() => n), promptData: picks.map((p) => p.l.files), tokens };
}

export type BankOutcome = WorkflowResult<TrainBankReply & { bank: string; model: string }>;

/** Trains a bank from `arg` ({model, prompts, data, tokens, …}; automation and tests) or what the user picks. */
export const trainBankCmd = (ctx: Ctx) => async (arg?: unknown): Promise<BankOutcome | undefined> => {
  const inputs = await commandInputs<BankArgs>('IDP: Train Prompt Bank', arg, ARG_KEYS, USAGE, () => ask(ctx));
  if (!inputs) return undefined;
  const { args } = inputs;
  const given = !inputs.interactive;
  const model = modelArg(args.model ?? defaultWorkflowModel(ctx));
  const prompts = args.prompts ?? DEFAULT_PROMPTS;
  const ownData = !!args.promptData?.length && args.promptData.length === prompts.length && args.promptData.every((d) => d !== null);
  const data = args.data ?? (ownData ? undefined : 'model');
  const tokens = args.tokens ?? DEFAULT_TOKENS;
  const request = {
    ...trainingParams(args, model, data ?? [], tokens), ...(data === undefined ? { data: undefined } : {}), prompts,
    ...(args.promptData ? { promptData: args.promptData } : {}), positions: args.positions, selectionLayer: args.selectionLayer, score: args.score,
  };
  if (!checkRequest(ctx, 'Train Prompt Bank', Methods.trainBank.method, request)) return undefined;
  const r = await runStaged(ctx, `Training an IDP bank (${prompts.join(', ')}) on ${modelLabel(model).label}`, 'bank', async (stage, report, token) => {
    const progress = loggedProgress(ctx, 'bank', report);
    const reply = await ctx.work.workflow(Methods.trainBank, WorkflowProgress.trainBank, {
      ...request, out: path.join(stage.dir, 'bank'),
    }, (v) => progress(trainSample(v)), token);
    if (reply.status !== 'done' || token.isCancellationRequested) return undefined;
    const bank = path.join(stage.final, 'bank');
    return {
      value: { ...reply, dir: bank, bank, model },
      record: {
        bank, model, prompts, positions: reply.positions, tokens, data: data === 'model' ? 'model' : data, ...(args.promptData ? { promptData: args.promptData } : {}), params: reply.params,
        description: `IDP (${prompts.join(', ')}) on ${modelLabel(model).label}`, result: { prompts: reply.prompts },
      },
    };
  });
  if (!r) return undefined;
  for (const p of r.value.prompts) {
    ctx.log.info(`bank: prompt ${p.n} at ${p.start}: held-out loss ${p.initialEvalLoss?.toFixed(4)} → ${p.evalLoss?.toFixed(4)}${p.reused ? ' (reused)' : ''}`);
  }
  ctx.log.info(`trained an IDP bank of ${prompts.length} prompts (${r.value.params.paper.toLocaleString('en-US')} parameters) → ${r.run}`);
  await setActiveBank(ctx, { bank: r.value.bank, model, prompts });
  if (!given) {
    void vscode.window.showInformationMessage(`IDP: the prompt bank (${prompts.join(', ')}) is trained and active.`, 'Run Benchmark').then((b) => {
      if (b) void vscode.commands.executeCommand('idp.runBenchmark');
    });
  }
  return r;
};
