// IDP: Train Baseline (Prompt / Prefix / LoRA)… — the methods IDP is compared with, trained on the
// same (compressed) model, data and budget (idp/trainBaseline) into a staged lab run:
// runs/<id>/train (checkpoint/, adapter/ — a PEFT folder —, train_log.jsonl, result.json) + run.json.

import * as path from 'path';
import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, memory } from '../context';
import { modelLabel, modelArg } from '../paths';
import { Methods, WorkflowProgress } from '../../protocol/engine-rpc';
import type { BaselineMethod, TrainBaselineReply } from '../../protocol/engine-rpc';
import { commandInputs, askInt, checkRequest, defaultWorkflowModel, loggedProgress, pickData, pickModel, runStaged, WorkflowResult } from './workflow';
import { DEFAULT_TOKENS, TRAINING_ARG_KEYS, TrainingArgs, trainingParams, trainSample } from './training-args';

export interface BaselineArgs extends TrainingArgs {
  method?: BaselineMethod;
  promptTokens?: number;
  rank?: number;
  alpha?: number;
  targets?: string[];
}

const ARG_KEYS = [...TRAINING_ARG_KEYS, 'method', 'promptTokens', 'rank', 'alpha', 'targets'] as const;
const USAGE = '{method?: "prompt"|"prefix"|"lora", model?, data?, tokens?, promptTokens?, rank?, alpha?, targets?, seqlen?, batch?, lr?, seed?, sampleTokens?}';

interface MethodPick extends vscode.QuickPickItem { method: BaselineMethod }

const METHODS: MethodPick[] = [
  { method: 'prompt', label: 'Prompt tuning', description: '100 soft tokens', detail: 'one trained prompt before every input (the paper\'s single-prompt baseline)' },
  { method: 'prefix', label: 'Prefix tuning', description: '100 tokens', detail: 'trained keys and values in every layer' },
  { method: 'lora', label: 'LoRA', description: 'rank 4, q k v o gate up down', detail: 'low-rank updates of the linear layers' },
];

export const describeBaseline = (a: BaselineArgs) => a.method === 'lora'
  ? `LoRA r ${a.rank ?? 4}`
  : `${a.method === 'prefix' ? 'prefix' : 'prompt'} ${a.promptTokens ?? 100}`;

async function ask(ctx: Ctx): Promise<BaselineArgs | undefined> {
  const title = 'IDP: Train Baseline';
  const last = memory.get<BaselineMethod>(ctx, 'baseline.method', 'lora');
  const items = [...METHODS].sort((a, b) => (a.method === last ? -1 : b.method === last ? 1 : 0));
  const m = await dialogs.pick(items, { title, placeHolder: 'Baseline method', ignoreFocusOut: true });
  if (!m) return undefined;
  await memory.set(ctx, 'baseline.method', m.method);
  const model = await pickModel(ctx, title, 'baseline.model', true);
  if (!model) return undefined;
  const data = await pickData(ctx, `${title}: training text`, 'baseline.data', true);
  if (!data) return undefined;
  const tokens = await askInt(ctx, title, 'Training tokens', 'baseline.tokens', DEFAULT_TOKENS);
  if (tokens === undefined) return undefined;
  return { method: m.method, model, data, tokens };
}

export type BaselineOutcome = WorkflowResult<TrainBaselineReply & { model: string }>;

/** Trains a baseline from `arg` ({method, model, data, tokens, …}; automation and tests) or what the user picks. */
export const trainBaselineCmd = (ctx: Ctx) => async (arg?: unknown): Promise<BaselineOutcome | undefined> => {
  const inputs = await commandInputs<BaselineArgs>('IDP: Train Baseline', arg, ARG_KEYS, USAGE, () => ask(ctx));
  if (!inputs) return undefined;
  const { args } = inputs;
  const given = !inputs.interactive;
  const method = args.method ?? 'lora';
  const model = modelArg(args.model ?? defaultWorkflowModel(ctx));
  const data = args.data ?? 'model';
  const tokens = args.tokens ?? DEFAULT_TOKENS;
  const promptTokens = method === 'lora' ? undefined : args.promptTokens ?? 100;
  const request = {
    ...trainingParams(args, model, data, tokens), method, promptTokens,
    rank: method === 'lora' ? args.rank : undefined, alpha: method === 'lora' ? args.alpha : undefined, targets: method === 'lora' ? args.targets : undefined,
  };
  if (!checkRequest(ctx, 'Train Baseline', Methods.trainBaseline.method, request)) return undefined;
  const what = describeBaseline({ ...args, method, promptTokens });
  const r = await runStaged(ctx, `Training ${what} on ${modelLabel(model).label}`, 'baseline', async (stage, report, token) => {
    const progress = loggedProgress(ctx, what, report);
    const reply = await ctx.work.workflow(Methods.trainBaseline, WorkflowProgress.trainBaseline, {
      ...request, out: path.join(stage.dir, 'train'),
    }, (v) => progress(trainSample(v)), token);
    if (reply.status !== 'done' || token.isCancellationRequested) return undefined;
    const adapter = path.join(stage.final, 'train', 'adapter');
    return {
      value: { ...reply, adapter, model },
      record: {
        adapter, model, method, promptTokens: promptTokens ?? null, rank: method === 'lora' ? args.rank ?? 4 : null, tokens,
        data: data === 'model' ? 'model' : data, params: reply.params, description: `${what} on ${modelLabel(model).label}`,
        result: { steps: reply.steps, tokensSeen: reply.tokensSeen, initialEvalLoss: reply.initialEvalLoss, evalLoss: reply.evalLoss, tokensPerSecond: reply.tokensPerSecond, seconds: reply.seconds },
      },
    };
  });
  if (!r) return undefined;
  const v = r.value;
  ctx.log.info(`trained ${what}: ${v.trainable.toLocaleString('en-US')} parameters, ${v.steps} steps, held-out loss ${v.initialEvalLoss?.toFixed(4)} → ${v.evalLoss?.toFixed(4)} → ${r.run}`);
  if (!given) void vscode.window.showInformationMessage(`IDP: ${what} trained (held-out loss ${v.initialEvalLoss?.toFixed(3)} → ${v.evalLoss?.toFixed(3)}).`);
  return r;
};
