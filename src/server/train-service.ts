// idp/trainBank and idp/trainBaseline in the engine process: an IDP prompt bank (engine/idp/train-bank)
// or one recovery baseline — a soft prompt, a prefix or LoRA (engine/train, wrapped by
// engine/idp/baselines for GPTQ models) — trained with the same data preparation, settings and
// defaults as `idp bank train` / `idp train`. Progress per step; a cancel stops after the current
// micro-batch.

import { loadModel } from '../engine/models/load';
import type { LoadedModel } from '../engine/models/config';
import { inputError } from '../engine/errors';
import { DEFAULT_SETTINGS, planSteps, runTraining, TrainProgress } from '../engine/train/trainer';
import { SoftPrompt } from '../engine/train/methods/prompt';
import { Prefix } from '../engine/train/methods/prefix';
import { Lora, LORA_TARGETS, LoraTarget } from '../engine/train/methods/lora';
import type { TrainMethod } from '../engine/train/methods/method';
import { countParams } from '../engine/train/tensors';
import { trainBank } from '../engine/idp/train-bank';
import { trainableOn } from '../engine/idp/baselines';
import { loraParams, prefixParams, promptParams } from '../engine/idp/params';
import { threadsFor } from '../cli/options';
import { promptTrainingData, TrainingFlags, trainingData, trainSettings } from '../cli/training';
import type {
  DataSource, TrainBankParams, TrainBankReply, TrainBaselineParams, TrainBaselineReply, TrainingParams, TrainProgressValue,
} from './workflow-protocol';
import { isPositiveInt, ParamChecker } from './params';
import type { Cancellation } from './engine-service';
import { OutputClaim, withClaim } from '../engine/formats/output-folder';

const TRAINING_KEYS = ['model', 'data', 'eval', 'tokens', 'seqlen', 'batch', 'lr', 'seed', 'sampleTokens', 'threads', 'progressToken', 'out'] as const;
const isAbsGlob = (x: unknown) => typeof x === 'string' && x.trim() !== '' && (x.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(x));

const isDataSource = (d: unknown) => d === 'model' || (Array.isArray(d) && d.length > 0 && d.every(isAbsGlob));

function checkTraining(c: ParamChecker, dataRequired = true): void {
  c.model('model', true);
  c.path('out', true);
  c.data('data', true, dataRequired);
  const d = c.p.data;
  if (Array.isArray(d) && !d.every(isAbsGlob)) c.fail('data', 'absolute files / globs');
  if (c.p.eval !== undefined) c.array('eval', isAbsGlob, 'a non-empty array of absolute files / globs');
  c.int('tokens', 1, Number.MAX_SAFE_INTEGER, true);
  c.int('seqlen', 2);
  c.int('batch', 1);
  c.num('lr', 0, 10, { minExclusive: true });
  c.int('seed', 0);
  c.int('sampleTokens', 2);
  c.int('threads', 1);
  c.progressToken();
}

export function checkTrainBankParams(p: TrainBankParams): void {
  const c = ParamChecker.of('trainBank', p, [...TRAINING_KEYS, 'prompts', 'positions', 'selectionLayer', 'score', 'init', 'promptData']);
  c.array('prompts', isPositiveInt, 'a non-empty array of prompt lengths (positive integers)', true);
  if (p.promptData !== undefined) {
    c.array('promptData', (d) => d === null || isDataSource(d), "a non-empty array with, per prompt, 'model', an array of absolute files / globs, or null (the shared data)");
    if (p.promptData.length > p.prompts.length) c.fail('promptData', `at most one entry per prompt (${p.prompts.length})`);
  }
  const everyOwn = Array.isArray(p.promptData) && p.prompts.every((_, i) => p.promptData![i]);
  checkTraining(c, !everyOwn);
  c.int('positions', 1);
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.oneOf('init', ['vocab', 'random']);
}

export function checkTrainBaselineParams(p: TrainBaselineParams): void {
  const c = ParamChecker.of('trainBaseline', p, [...TRAINING_KEYS, 'method', 'promptTokens', 'rank', 'alpha', 'targets']);
  checkTraining(c);
  c.oneOf('method', ['prompt', 'prefix', 'lora'], true);
  c.int('promptTokens', 1);
  c.int('rank', 1);
  c.num('alpha', 0, 1e6, { minExclusive: true });
  c.array('targets', (x) => (LORA_TARGETS as readonly unknown[]).includes(x), `a non-empty array of ${LORA_TARGETS.join(', ')}`);
  if (p.method !== 'lora' && (p.rank !== undefined || p.alpha !== undefined || p.targets !== undefined)) throw inputError(`trainBaseline: rank, alpha and targets are LoRA settings (method is ${p.method})`);
  if (p.method === 'lora' && p.promptTokens !== undefined) throw inputError('trainBaseline: promptTokens is a prompt / prefix setting (method is lora)');
}

const dataList = (d: DataSource) => (d === 'model' ? ['model'] : d);

/** The model and settings of a training request, as the CLI's flags; `log` reports data preparation. */
async function modelAndSettings(p: Omit<TrainingParams, 'data'> & { data?: DataSource }, promptSlots: number, report: (v: TrainProgressValue) => void) {
  const m = await loadModel(p.model);
  const threads = threadsFor(m, p.threads);
  const seqLen = p.seqlen ?? Math.min(256, m.config.maxPositions - promptSlots);
  const flags: TrainingFlags = {
    model: p.model, data: p.data === undefined ? [] : dataList(p.data), eval: p.eval ?? [], out: '', tokens: p.tokens, seqlen: seqLen,
    batch: p.batch ?? DEFAULT_SETTINGS.batchSize, gradAccum: 1, lr: p.lr ?? DEFAULT_SETTINGS.lr, wd: DEFAULT_SETTINGS.weightDecay,
    clip: DEFAULT_SETTINGS.clip, warmup: DEFAULT_SETTINGS.warmup, schedule: DEFAULT_SETTINGS.schedule, evalEvery: 0, checkpointEvery: 0,
    seed: p.seed ?? 0, sampleTokens: p.sampleTokens, threads,
  };
  const settings = trainSettings(flags, seqLen);
  planSteps(settings);
  const log = (message: string) => report({ phase: 'data', step: 0, steps: 0, fraction: 0, message });
  return { m, threads, settings, flags, log };
}

/** The model, settings and data of a training request (data read or sampled after every setting is checked). */
async function prepare(p: Omit<TrainingParams, 'data'> & { data?: DataSource }, promptSlots: number, token: Cancellation, report: (v: TrainProgressValue) => void) {
  const r = await modelAndSettings(p, promptSlots, report);
  return { ...r, data: await trainingData(r.flags, r.m, r.settings.seqLen, r.threads, () => token.isCancellationRequested, r.log) };
}

function progressValue(t: TrainProgress, fraction: number, what: string): TrainProgressValue {
  const message = t.phase === 'train' ? `${what}step ${t.step}/${t.steps}, loss ${t.loss?.toFixed(3)}`
    : t.phase === 'eval' && t.evalLoss !== undefined ? `${what}held-out loss ${t.evalLoss.toFixed(3)}` : `${what}${t.phase}`;
  return {
    phase: t.phase, step: t.step, steps: t.steps, fraction, loss: t.loss, evalLoss: t.evalLoss, tokensPerSecond: t.tokensPerSec,
    etaSec: t.etaSec, message,
  };
}

export async function runTrainBank(p: TrainBankParams, token: Cancellation, onProgress?: (v: TrainProgressValue) => void): Promise<TrainBankReply> {
  checkTrainBankParams(p);
  return withClaim(undefined, p.out, { kind: 'bank', mode: 'in-place' }, (claim) => trainBankClaimed(p, claim, token, onProgress));   // before any compute
}

async function trainBankClaimed(p: TrainBankParams, claim: OutputClaim, token: Cancellation, onProgress?: (v: TrainProgressValue) => void): Promise<TrainBankReply> {
  const report = (v: TrainProgressValue) => onProgress?.(v);
  const N = p.positions ?? Math.max(...p.prompts);
  const own = p.prompts.map((_, i) => p.promptData?.[i] ?? undefined);
  const { m, threads, settings, data, flags, log } = own.some((d) => !d) ? await prepare(p, N, token, report) : { ...await modelAndSettings(p, N, report), data: undefined };
  const promptData = p.promptData
    ? await promptTrainingData(flags, own.map((d) => (d ? dataList(d) : undefined)), m, settings.seqLen, threads, () => token.isCancellationRequested, log)
    : undefined;
  const r = await trainBank({
    model: m, lengths: p.prompts, positions: p.positions, data, promptData, settings, init: p.init, tokenizer: m.tokenizer,
    selectionLayer: p.selectionLayer, score: p.score, out: p.out, session: { threads }, isCancelled: () => token.isCancellationRequested, claim,
    onProgress: (b) => {
      const what = `prompt ${b.prompt + 1}/${b.of} (${b.n} tokens): `;
      const within = b.train && b.train.steps > 0 ? b.train.step / b.train.steps : b.phase === 'reused' ? 1 : 0;
      const fraction = Math.min(1, (b.prompt + (b.phase === 'kv' || b.phase === 'saved' ? 1 : within)) / b.of);
      if (b.train) report({ ...progressValue(b.train, fraction, what), prompt: b.prompt, of: b.of, n: b.n });
      else report({ phase: b.phase, prompt: b.prompt, of: b.of, n: b.n, step: 0, steps: 0, fraction,
        message: b.phase === 'kv' ? 'computing the prompts\' K/V' : b.phase === 'reused' ? `${what}reused`
          : b.phase === 'calibrate' ? `calibrating the selection: ${b.done}/${b.total} held-out documents` : `${what}${b.phase}` });
    },
  });
  return {
    status: r.status, dir: r.dir, positions: N, params: promptParams(m.config, p.prompts, 'idp'),
    prompts: r.prompts.map((x) => ({ n: x.n, start: x.start, reused: x.reused, initialEvalLoss: x.initialEvalLoss, evalLoss: x.evalLoss })),
    ...(r.calibration ? { calibration: { layer: r.calibration.layer, documents: r.calibration.documents, layers: r.calibration.layers } } : {}),
    ...(r.calibrationSkipped ? { calibrationSkipped: r.calibrationSkipped } : {}),
  };
}

async function baselineMethod(m: LoadedModel, p: TrainBaselineParams): Promise<TrainMethod> {
  const seed = p.seed ?? 0;
  switch (p.method) {
    case 'prompt': return SoftPrompt.create(m, { tokens: p.promptTokens ?? 16, init: 'vocab', seed, tokenizer: m.tokenizer });
    case 'prefix': return Prefix.create(m, { tokens: p.promptTokens ?? 16, init: 'vocab', seed });
    case 'lora': return Lora.create(m, { rank: p.rank ?? 4, alpha: p.alpha, targets: (p.targets ?? [...LORA_TARGETS]) as LoraTarget[], seed });
  }
}

export async function runTrainBaseline(p: TrainBaselineParams, token: Cancellation, onProgress?: (v: TrainProgressValue) => void): Promise<TrainBaselineReply> {
  checkTrainBaselineParams(p);
  return withClaim(undefined, p.out, { kind: 'train', mode: 'in-place' }, (claim) => trainBaselineClaimed(p, claim, token, onProgress));   // before any compute
}

async function trainBaselineClaimed(p: TrainBaselineParams, claim: OutputClaim, token: Cancellation, onProgress?: (v: TrainProgressValue) => void): Promise<TrainBaselineReply> {
  const report = (v: TrainProgressValue) => onProgress?.(v);
  const slots = p.method === 'lora' ? 0 : p.promptTokens ?? 16;
  const { m, threads, settings, data } = await prepare(p, slots, token, report);
  const method = await baselineMethod(m, p);
  const trainable = countParams(method.params);
  const params = p.method === 'lora' ? loraParams(m.config, p.rank ?? 4, p.targets ?? [...LORA_TARGETS])
    : p.method === 'prefix' ? prefixParams(m.config, slots) : promptParams(m.config, [slots], 'prompt');
  const r = await runTraining({
    method: trainableOn(m, method), data, out: p.out, settings, session: { threads }, isCancelled: () => token.isCancellationRequested, claim,
    onProgress: (t) => report(progressValue(t, t.steps > 0 ? t.step / t.steps : 0, '')),
  });
  return {
    status: r.status, method: p.method, adapter: r.status === 'done' ? r.output : undefined, trainable, params, steps: r.steps,
    tokensSeen: r.tokensSeen, initialEvalLoss: r.initialEvalLoss, evalLoss: r.evalLoss, tokensPerSecond: r.tokensPerSec, seconds: r.seconds,
  };
}
