// IDP: Train Prompt Bank… — a (compressed) model, the prompt lengths, training text and a token budget;
// the engine trains one soft prompt per length in the bank's layout and computes their K/V
// (idp/trainBank) into a staged lab run: runs/<id>/bank (bank.json, prompts, kv, per-prompt runs) +
// run.json. The new bank becomes the active one (status bar, Run Benchmark, the Inspector).

import * as path from 'path';
import * as vscode from 'vscode';
import { Ctx, memory } from '../context';
import { modelLabel } from '../paths';
import { Methods, WorkflowProgress } from '../../server/protocol';
import type { TrainBankReply } from '../../server/protocol';
import { commandInputs, askInt, checkRequest, defaultWorkflowModel, loggedProgress, pickData, pickModel, runStaged, WorkflowResult } from './workflow';
import { DEFAULT_TOKENS, TRAINING_ARG_KEYS, TrainingArgs, trainingParams, trainSample } from './training-args';
import { setActiveBank } from './active-bank';

export interface BankArgs extends TrainingArgs {
  prompts?: number[];
  positions?: number;
  selectionLayer?: number;
  score?: 'mass' | 'mean';
}

const ARG_KEYS = [...TRAINING_ARG_KEYS, 'prompts', 'positions', 'selectionLayer', 'score'] as const;
const USAGE = '{model?, prompts?, data?, eval?, tokens?, seqlen?, batch?, lr?, seed?, sampleTokens?, positions?, selectionLayer?, score?}';

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
  const lengths = await vscode.window.showInputBox({
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

export type BankOutcome = WorkflowResult<TrainBankReply & { bank: string; model: string }>;

/** Trains a bank from `arg` ({model, prompts, data, tokens, …}; automation and tests) or what the user picks. */
export const trainBankCmd = (ctx: Ctx) => async (arg?: unknown): Promise<BankOutcome | undefined> => {
  const inputs = await commandInputs<BankArgs>('IDP: Train Prompt Bank', arg, ARG_KEYS, USAGE, () => ask(ctx));
  if (!inputs) return undefined;
  const { args } = inputs;
  const given = !inputs.interactive;
  const model = path.resolve(args.model ?? defaultWorkflowModel(ctx));
  const prompts = args.prompts ?? DEFAULT_PROMPTS;
  const data = args.data ?? 'model';
  const tokens = args.tokens ?? DEFAULT_TOKENS;
  const request = {
    ...trainingParams(args, model, data, tokens), prompts, positions: args.positions, selectionLayer: args.selectionLayer, score: args.score,
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
        bank, model, prompts, positions: reply.positions, tokens, data: data === 'model' ? 'model' : data, params: reply.params,
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
