// What the training jobs (train, bank train) share: the model, data, budget and optimizer options with
// their checks and defaults, the trainer settings made from them, the training data (read, or sampled
// from the model), and the progress value both report.

import type { LoadedModel } from '../models/config';
import { CausalLM } from '../runtime/lm';
import { inputError } from '../errors';
import { loadCorpus, readTrainingDocs, sampleCorpus, TrainData } from '../train/data';
import { DEFAULT_SETTINGS, TrainProgress, TrainSettings } from '../train/trainer';
import type { DataSource, ParamChecker } from './check';
import { checkModelOptions, MODEL_KEYS, ModelOptions } from './model';

export interface TrainingOptions extends ModelOptions {
  /** Training text: files / globs, or 'model' (a corpus sampled from the model itself). */
  data?: DataSource;
  /** Held-out text (default: the last blocks of the training data). */
  eval?: string[];
  /** Output folder (a rerun with the same settings resumes from its checkpoint). */
  out: string;
  /** Token budget (per prompt for a bank; default 40,960,000, the paper's). */
  tokens?: number;
  /** Tokens per row (default min(256, the context left after the prompt slots)). */
  seqlen?: number;
  /** Rows per forward/backward (default 8), forward/backward runs per optimizer step (default 1). */
  batch?: number;
  gradAccum?: number;
  /** AdamW: peak learning rate (default 2e-4), decoupled weight decay (1e-5); gradient clip (1, 0: off). */
  lr?: number;
  weightDecay?: number;
  clip?: number;
  /** Warmup steps (≥ 1) or fraction of the steps (< 1; default 0.03); decay after it (default cosine). */
  warmup?: number;
  schedule?: TrainSettings['schedule'];
  /** Held-out loss every n steps, checkpoint every n steps (0, the default: start and end only). */
  evalEvery?: number;
  checkpointEvery?: number;
  seed?: number;
  /** Size of the corpus sampled with data 'model' (default min(tokens, 262144)). */
  sampleTokens?: number;
}

export interface TrainProgressValue {
  phase: 'data' | 'eval' | 'train' | 'checkpoint' | 'done' | 'reused' | 'calibrate' | 'kv' | 'saved' | 'score' | 'round';
  /** The run the event is about, where the job trains several: "prompt 2/3 (8 tokens)", "LoRA r=2". */
  what?: string;
  /** Bank training: which prompt (0-based) of how many, and its length. */
  prompt?: number;
  of?: number;
  n?: number;
  /** Routed bank training: the round (0: k-means) and how many. */
  round?: number;
  rounds?: number;
  step: number;
  steps: number;
  /** 0..1 of the whole job. */
  fraction: number;
  loss?: number;
  evalLoss?: number;
  lr?: number;
  gradNorm?: number;
  tokensPerSecond?: number;
  etaSec?: number;
  /** Calibration / scoring: documents read so far and in all. */
  done?: number;
  total?: number;
  message: string;
}

export const TRAINING_KEYS = [...MODEL_KEYS, 'data', 'eval', 'out', 'tokens', 'seqlen', 'batch', 'gradAccum', 'lr', 'weightDecay', 'clip', 'warmup',
  'schedule', 'evalEvery', 'checkpointEvery', 'seed', 'sampleTokens'] as const;

export const NO_DATA = 'give training data with --data FILE (text, JSONL with "text", WikiText; globs), or --data model for a corpus sampled from the model';

export function checkTraining(c: ParamChecker, dataRequired = true): void {
  checkModelOptions(c);
  c.path('out', true);
  if (dataRequired && c.p.data === undefined) throw inputError(`${c.request}: ${NO_DATA}`);
  c.data('data', true);
  c.paths('eval');
  c.int('tokens', 1);
  c.int('seqlen', 2);
  c.int('batch', 1);
  c.int('gradAccum', 1);
  c.num('lr', 0, 10, { minExclusive: true });
  c.num('weightDecay', 0, 10);
  c.num('clip', 0, 1e6);
  c.num('warmup', 0, 1e9);
  c.oneOf('schedule', ['cosine', 'linear', 'constant']);
  c.int('evalEvery', 0);
  c.int('checkpointEvery', 0);
  c.int('seed', 0);
  c.int('sampleTokens', 2);
}

export function trainSettings(o: TrainingOptions, seqLen: number): TrainSettings {
  const d = DEFAULT_SETTINGS;
  return {
    ...d, seqLen, batchSize: o.batch ?? d.batchSize, gradAccum: o.gradAccum ?? 1, tokens: o.tokens ?? d.tokens, lr: o.lr ?? d.lr,
    weightDecay: o.weightDecay ?? d.weightDecay, clip: o.clip ?? d.clip, warmup: o.warmup ?? d.warmup, schedule: o.schedule ?? d.schedule,
    evalEvery: o.evalEvery ?? 0, checkpointEvery: o.checkpointEvery ?? 0, seed: o.seed ?? 0,
  };
}

/** Tokens per row: the option, else min(256, the context left after `promptSlots`). */
export const seqLenFor = (o: TrainingOptions, m: LoadedModel, promptSlots: number): number => o.seqlen ?? Math.min(256, m.config.maxPositions - promptSlots);

/** Training and held-out blocks: data 'model' samples a corpus from the model, else the files are read. */
export async function trainingData(
  o: Pick<TrainingOptions, 'data' | 'eval' | 'tokens' | 'sampleTokens' | 'seed'>, m: LoadedModel, seqLen: number, threads: number | undefined,
  isCancelled: () => boolean, log: (s: string) => void,
): Promise<TrainData> {
  if (o.data === undefined) throw inputError(NO_DATA);
  if (o.data === 'model') {
    const n = o.sampleTokens ?? Math.min(o.tokens ?? DEFAULT_SETTINGS.tokens, 262_144);
    log(`sampling a ${n}-token corpus from the model (data-free) …`);
    const all = await sampleCorpus(new CausalLM(m, { threads }), m.tokenizer, { tokens: n, seqLen, seed: o.seed ?? 0, isCancelled });
    if (all.count < 2) throw inputError('the sampled corpus is a single block: raise --sample-tokens');
    const nEval = Math.max(1, Math.min(64, Math.round(all.count * 0.05)));
    const ev = all.slice(all.count - nEval, all.count);
    // every sampled block is one sample from BOS: the held-out blocks are the held-out documents
    return { train: all.slice(0, all.count - nEval), eval: ev, heldoutDocs: Array.from({ length: ev.count }, (_, i) => Array.from(ev.get(i))) };
  }
  if (!m.tokenizer) {
    readTrainingDocs(o.data);   // problems with the files first
    throw inputError('the model has no tokenizer (give --tokenizer, or use --data model)', m.source);
  }
  const c = loadCorpus(o.data, m.tokenizer, m.config, { seqLen, evalFiles: o.eval ?? [] });
  log(`data: ${c.files.length} file(s), ${c.tokens} tokens → ${c.train.count} training and ${c.eval.count} held-out blocks of ${seqLen}`);
  return c;
}

/**
 * Each prompt's own training data (undefined where it has none), read like `data` (the same source read once).
 * A prompt's held-out blocks are the last of its own stream: the shared `eval` files are not its kind of text.
 */
export async function promptTrainingData(
  o: TrainingOptions, sources: Array<DataSource | undefined>, m: LoadedModel, seqLen: number, threads: number | undefined,
  isCancelled: () => boolean, log: (s: string) => void,
): Promise<Array<TrainData | undefined>> {
  const read = new Map<string, TrainData>();
  const out: Array<TrainData | undefined> = [];
  for (const [i, data] of sources.entries()) {
    const key = JSON.stringify(data);
    if (data && !read.has(key)) read.set(key, await trainingData({ ...o, data, eval: [] }, m, seqLen, threads, isCancelled, (s) => log(`prompt ${i + 1}: ${s}`)));
    out.push(data ? read.get(key) : undefined);
  }
  return out;
}

/** One trainer event as the jobs' progress value (`what`, the run it is about, leads the message). */
export function trainProgressValue(t: TrainProgress, fraction: number, what?: string): TrainProgressValue {
  const lead = what ? `${what}: ` : '';
  const message = t.phase === 'train' ? `${lead}step ${t.step}/${t.steps}, loss ${t.loss?.toFixed(3)}`
    : t.phase === 'eval' && t.evalLoss !== undefined ? `${lead}held-out loss ${t.evalLoss.toFixed(3)}` : `${lead}${t.phase}`;
  return {
    phase: t.phase, ...(what ? { what } : {}), step: t.step, steps: t.steps, fraction, loss: t.loss, evalLoss: t.evalLoss, lr: t.lr, gradNorm: t.gradNorm,
    tokensPerSecond: t.tokensPerSec, etaSec: t.etaSec, message,
  };
}
