// The train job (`idp train`, idp/trainBaseline): a soft prompt, a prefix, LoRA or the full weights
// trained on a model (a GPTQ model through its dequantized weights: idp/baselines.ts trainableOn), with
// the shared data preparation, settings and defaults (training.ts). Progress per step; an abort stops
// after the current micro-batch with a checkpoint, and the same options resume where it stopped.

import { inputError } from '../errors';
import { planSteps, runTraining } from '../train/trainer';
import { PromptInit, SoftPrompt } from '../train/methods/prompt';
import { Prefix } from '../train/methods/prefix';
import { Lora, LORA_TARGETS, LoraTarget } from '../train/methods/lora';
import { FullWeights } from '../train/methods/full';
import type { TrainMethod } from '../train/methods/method';
import { countParams } from '../train/tensors';
import { trainableOn } from '../idp/baselines';
import { loraParams, ParamCount, prefixParams, promptParams } from '../idp/params';
import { withClaim } from '../formats/output-folder';
import type { LoadedModel } from '../models/config';
import { ParamChecker } from './check';
import { cancelledBy, JobHooks } from './hooks';
import { openModel } from './model';
import { checkTraining, seqLenFor, TRAINING_KEYS, trainingData, TrainingOptions, trainProgressValue, TrainProgressValue, trainSettings } from './training';

export type TrainMethodName = 'prompt' | 'prefix' | 'lora' | 'full';

/** The defaults of the method settings, one set for every front end. */
export const TRAIN_DEFAULTS = { promptTokens: 16, rank: 4, targets: [...LORA_TARGETS] as string[] } as const;

export interface TrainOptions extends TrainingOptions {
  method: TrainMethodName;
  /** prompt / prefix: virtual tokens (default 16), their init (default vocab; text: promptInitText's embeddings). */
  promptTokens?: number;
  promptInit?: PromptInit;
  promptInitText?: string;
  /** LoRA: rank (default 4), alpha (default 2·rank), dropout (default 0), targets (default q,k,v,o,gate,up,down). */
  rank?: number;
  alpha?: number;
  dropout?: number;
  targets?: string[];
}

export interface TrainJobResult {
  status: 'done' | 'cancelled' | 'stopped';
  method: TrainMethodName;
  /** The PEFT adapter folder (prompt, prefix, LoRA) or model folder (full), when done. */
  adapter?: string;
  trainable: number;
  /** Appendix A's count and what is trained and stored (prompt, prefix, LoRA). */
  params?: ParamCount;
  /** Steps done (a resumed finished run: all of them) of the plan. */
  step: number;
  steps: number;
  tokensSeen: number;
  loss?: number;
  initialEvalLoss?: number;
  evalLoss?: number;
  tokensPerSecond: number;
  seconds: number;
}

const KEYS = [...TRAINING_KEYS, 'method', 'promptTokens', 'promptInit', 'promptInitText', 'rank', 'alpha', 'dropout', 'targets'] as const;

export function checkTrainOptions(o: TrainOptions, absolutePaths = false): void {
  const c = ParamChecker.of('train', o, KEYS, absolutePaths);
  c.oneOf('method', ['prompt', 'prefix', 'lora', 'full'], true);
  checkTraining(c);
  c.int('promptTokens', 1);
  c.oneOf('promptInit', ['vocab', 'text', 'random']);
  c.str('promptInitText');
  c.int('rank', 1);
  c.num('alpha', 0, 1e6, { minExclusive: true });
  c.num('dropout', 0, 0.99);
  if (o.targets !== undefined) {
    c.array('targets', (x) => typeof x === 'string', 'a non-empty array of LoRA targets');
    const bad = o.targets.find((t) => !(LORA_TARGETS as readonly string[]).includes(t));
    if (bad) throw inputError(`train: unknown target '${bad}' (--targets: use ${LORA_TARGETS.join(', ')})`);
  }
  const lora = o.rank !== undefined || o.alpha !== undefined || o.dropout !== undefined || o.targets !== undefined;
  if (o.method !== 'lora' && lora) throw inputError(`train: rank, alpha, dropout and targets are LoRA settings (method is ${o.method})`);
  const prompt = o.promptTokens !== undefined || o.promptInit !== undefined || o.promptInitText !== undefined;
  if ((o.method === 'lora' || o.method === 'full') && prompt) throw inputError(`train: promptTokens and promptInit are prompt / prefix settings (method is ${o.method})`);
  if (o.method === 'prefix' && o.promptInit === 'text') throw inputError('train: a prefix starts from vocab or random (--prompt-init)');
}

/** The method to train, its settings checked before any data is read or sampled. */
async function methodFor(m: LoadedModel, o: TrainOptions): Promise<TrainMethod> {
  const seed = o.seed ?? 0;
  const tokens = o.promptTokens ?? TRAIN_DEFAULTS.promptTokens;
  switch (o.method) {
    case 'prompt': return SoftPrompt.create(m, { tokens, init: o.promptInit ?? 'vocab', text: o.promptInitText, seed, tokenizer: m.tokenizer });
    case 'prefix': return Prefix.create(m, { tokens, init: o.promptInit === 'random' ? 'random' : 'vocab', seed });
    case 'lora': return Lora.create(m, { rank: o.rank ?? TRAIN_DEFAULTS.rank, alpha: o.alpha, dropout: o.dropout, targets: (o.targets ?? TRAIN_DEFAULTS.targets) as LoraTarget[], seed });
    case 'full': return FullWeights.create(m);
  }
}

function paramsOf(m: LoadedModel, o: TrainOptions): ParamCount | undefined {
  const tokens = o.promptTokens ?? TRAIN_DEFAULTS.promptTokens;
  switch (o.method) {
    case 'prompt': return promptParams(m.config, [tokens], 'prompt');
    case 'prefix': return prefixParams(m.config, tokens);
    case 'lora': return loraParams(m.config, o.rank ?? TRAIN_DEFAULTS.rank, o.targets ?? TRAIN_DEFAULTS.targets);
    case 'full': return undefined;
  }
}

export async function run(o: TrainOptions, hooks: JobHooks<TrainProgressValue> = {}): Promise<TrainJobResult> {
  checkTrainOptions(o, hooks.absolutePaths);
  return withClaim(hooks.claim, o.out, { kind: 'train', mode: 'in-place' }, async (claim) => {   // before any compute
    const report = (v: TrainProgressValue) => hooks.onProgress?.(v);
    const log = (message: string) => report({ phase: 'data', step: 0, steps: 0, fraction: 0, message });
    const isCancelled = cancelledBy(hooks.signal);
    const { m, threads } = await openModel(o);
    const slots = o.method === 'prompt' || o.method === 'prefix' ? o.promptTokens ?? TRAIN_DEFAULTS.promptTokens : 0;
    const settings = trainSettings(o, seqLenFor(o, m, slots));
    planSteps(settings);   // a bad budget or batch fails before any data is read or sampled
    const method = await methodFor(m, o);
    const data = await trainingData(o, m, settings.seqLen, threads, isCancelled, log);
    const trainable = countParams(method.params);
    log(`${o.method}: ${trainable} trainable parameters; ${settings.tokens} tokens, batch ${settings.batchSize} × ${settings.gradAccum}, lr ${settings.lr}`);
    const r = await runTraining({
      method: trainableOn(m, method), data, out: o.out, settings, session: { threads }, isCancelled, claim,
      onProgress: (t) => report(trainProgressValue(t, t.steps > 0 ? t.step / t.steps : 0)),
    });
    return {
      status: r.status, method: o.method, adapter: r.status === 'done' ? r.output : undefined, trainable, params: paramsOf(m, o), step: r.step,
      steps: r.steps, tokensSeen: r.tokensSeen, loss: r.loss, initialEvalLoss: r.initialEvalLoss, evalLoss: r.evalLoss, tokensPerSecond: r.tokensPerSec,
      seconds: r.seconds,
    };
  });
}
