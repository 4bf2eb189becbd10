// `idp bank train`: train every prompt of a bank with the training engine's soft-prompt method in the
// bank's right-aligned layout (prompt i at positions N − n_i … N − 1, text from N: SoftPrompt with
// layout.positionStart = N − n_i), with the same token budget and optimizer, then compute each prompt's
// K/V once and write the bank (bank.ts). Every prompt trains on the shared data, or on its own
// (promptData[i], `--prompt-data`): prompts of one kind of text each. When every prompt has its own data the
// bank's selection is then calibrated (calibrate-bank.ts) on each prompt's held-out documents — those no
// training block touched (TrainData.heldoutDocs: the documents after the train/held-out split of its
// stream, or its evaluation files) — so the bank routes new text to the prompt of its kind.
//
// Each prompt trains in its own run folder  <out>/runs/n<n>-at<start>-<key>/  (checkpoint, adapter,
// train_log.jsonl, result.json — exactly `idp train`'s layout), <key> hashing everything that shapes the
// prompt: length, start, init, init seed, training settings, the token ids of the data it trains on, the
// model (and, for a run that continues a prompt, its starting weights: train-routed.ts). So a prompt
// trained before with the same key is reused as it is (a run that stopped resumes from its checkpoint),
// and asking for another set of lengths later retrains only what is new — prompts keep their key as long
// as N stays (set --positions to fix N ahead of time).
//
// GPTQ models: the training graph runs on the dequantized weights (MatMulNBits has no VJP yet); the
// bank's K/V are then computed with the quantized kernels the model runs with.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { LoadedModel } from '../models/config';
import type { TrainData } from '../train/data';
import { runTraining, TrainProgress, TrainResult, TrainSettings } from '../train/trainer';
import { PROMPT_INPUT, PromptInit, SoftPrompt, tokenEmbedding } from '../train/methods/prompt';
import { loadTensors } from '../train/tensors';
import { ADAPTER_WEIGHTS } from '../train/peft';
import type { Tokenizer } from '../tokenizers/tokenizer';
import type { SessionOptions } from '../runtime/session';
import { OutputClaim, withClaim } from '../formats/output-folder';
import { inputError, formatError } from '../errors';
import { IdpBank, modelInfo, SelectionScore } from './bank';
import { trainableOn } from './baselines';
import { calibrateBank, CalibrateResult } from './calibrate-bank';

/** What every way of training a bank takes (train-bank.ts, train-routed.ts) besides its data and progress. */
export interface BankJobCommon {
  model: LoadedModel;
  /** Prompt lengths n_i (repeats allowed: they differ by their init seed). */
  lengths: number[];
  /** N (default max n_i). */
  positions?: number;
  settings: TrainSettings;
  init?: PromptInit;
  initText?: string;
  tokenizer?: Tokenizer;
  selectionLayer?: number;
  score?: SelectionScore;
  out: string;
  session?: SessionOptions;
  isCancelled?: () => boolean;
  /** The caller's claim on `out` (output-folder.ts), taken before its own compute; else one is taken here. */
  claim?: OutputClaim;
}

export interface BankTrainJob extends BankJobCommon {
  /** The shared data: what every prompt without its own trains on. */
  data?: TrainData;
  /** Per prompt its own data (undefined: the shared data); when every prompt has its own, the selection is calibrated. */
  promptData?: Array<TrainData | undefined>;
  /** Calibration reads at most this many held-out documents per prompt (default 200), each cut to its first maxTokens (default min(256, the context left after N)). */
  calibrationDocs?: number;
  calibrationTokens?: number;
  onProgress?: (p: BankProgress) => void;
  /** Stop each prompt's run after this many steps (tests, interruptions). */
  maxSteps?: number;
}

export interface BankProgress {
  prompt: number;
  of: number;
  n: number;
  phase: 'reused' | 'train' | 'calibrate' | 'kv' | 'saved';
  train?: TrainProgress;
  /** phase 'calibrate': documents read of how many. */
  done?: number;
  total?: number;
}

export interface BankPromptRun {
  n: number;
  start: number;
  run: string;
  reused: boolean;
  result?: TrainResult;
  initialEvalLoss?: number;
  evalLoss?: number;
}

export interface BankTrainResult {
  status: 'done' | 'cancelled' | 'stopped';
  dir: string;
  prompts: BankPromptRun[];
  bank?: IdpBank;
  /** The fitted selection (every prompt had its own data), or why there is none. */
  calibration?: CalibrateResult;
  calibrationSkipped?: string;
}

/** Identity of the training data (its token ids): a prompt trained on other data is not reused. */
export function dataKey(d: Pick<TrainData, 'train' | 'eval'>): string {
  const h = crypto.createHash('sha256');
  for (const b of [d.train, d.eval]) {
    h.update(`${b.T}:${b.count};`);
    h.update(new Uint8Array(b.ids.buffer, b.ids.byteOffset, b.ids.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

export function parseLengths(list: string, flag = '--prompts'): number[] {
  const parts = list.split(',').map((s) => s.trim()).filter(Boolean);
  const out = parts.map(Number);
  if (!out.length || out.some((n) => !(Number.isInteger(n) && n >= 1))) throw inputError(`${flag} must be comma-separated positive integers, got '${list}'`);
  return out;
}

/** One prompt's training run (in a bank's layout), reused when a run with the same key finished before. */
export interface PromptRunJob {
  model: LoadedModel;
  n: number;
  start: number;
  initSeed: number;
  data: TrainData;
  settings: TrainSettings;
  init?: PromptInit;
  initText?: string;
  tokenizer?: Tokenizer;
  /** Start from these weights [n·e] instead of a fresh init (their hash joins the key). */
  from?: Float32Array;
  /** The folder the run folders live in; `label` prefixes the run folder's name. */
  runs: string;
  label?: string;
  session?: SessionOptions;
  maxSteps?: number;
  isCancelled?: () => boolean;
  onProgress?: (p: TrainProgress) => void;
}

export async function trainPrompt(job: PromptRunJob): Promise<{ run: BankPromptRun; status: TrainResult['status']; embeddings?: Float32Array }> {
  const m = job.model;
  const { n, start, initSeed } = job;
  // the key's fields in this order: a bank trained before keeps its run folders
  const what: Record<string, unknown> = {
    data: dataKey(job.data), model: modelInfo(m).weights, settings: job.settings, init: job.init ?? 'vocab', initText: job.initText ?? null, n, start, initSeed,
  };
  if (job.from) what.from = crypto.createHash('sha256').update(new Uint8Array(job.from.buffer, job.from.byteOffset, job.from.byteLength)).digest('hex').slice(0, 16);
  const key = crypto.createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 10);
  const run = path.join(job.runs, `${job.label ?? ''}n${n}-at${start}-${key}`);
  const weights = path.join(run, 'adapter', ADAPTER_WEIGHTS);
  const e = tokenEmbedding(m.config).width;
  if (fs.existsSync(path.join(run, 'result.json')) && fs.existsSync(weights)) {
    const t = loadTensors(weights).tensors.get('prompt_embeddings');
    if (!t || t.shape[0] !== n || t.shape[1] !== e) throw formatError(weights, `'prompt_embeddings' must have shape [${n}, ${e}]`);
    const res = JSON.parse(fs.readFileSync(path.join(run, 'result.json'), 'utf8')) as Partial<TrainResult>;
    return { status: 'done', embeddings: t.data, run: { n, start, run, reused: true, initialEvalLoss: res.initialEvalLoss, evalLoss: res.evalLoss } };
  }
  const init = job.init ?? 'vocab';
  const prompt = job.from
    ? new SoftPrompt(m, Float32Array.from(job.from), n, init, job.initText, start)
    : SoftPrompt.create(m, { tokens: n, init, text: job.initText, seed: initSeed, tokenizer: job.tokenizer, positionStart: start });
  const result = await runTraining({
    method: trainableOn(m, prompt), data: job.data, out: run, settings: job.settings, session: job.session, maxSteps: job.maxSteps,
    isCancelled: job.isCancelled, onProgress: job.onProgress,
  });
  return {
    status: result.status,
    embeddings: result.status === 'done' ? Float32Array.from(prompt.params.get(PROMPT_INPUT)!.data) : undefined,
    run: { n, start, run, reused: false, result, initialEvalLoss: result.initialEvalLoss, evalLoss: result.evalLoss },
  };
}

/** N for a bank of these lengths (checked against the model's context with the settings' row length). */
export function bankPositions(m: LoadedModel, lengths: number[], positions: number | undefined, seqLen: number): number {
  if (lengths.length === 0) throw inputError('no prompt lengths: give --prompts, e.g. 26,100');
  const maxN = Math.max(...lengths);
  const N = positions ?? maxN;
  if (!(Number.isInteger(N) && N >= maxN)) throw inputError(`--positions ${N} must be ≥ the longest prompt (${maxN})`);
  if (N + seqLen > m.config.maxPositions) {
    throw inputError(`prompts up to position ${N} + ${seqLen} tokens per row exceed the model's context of ${m.config.maxPositions}`);
  }
  return N;
}

/** Init seed of the k-th prompt of length n (so equal lengths differ). */
export const initSeedFor = (seed: number, n: number, k: number) => seed * 1_000_003 + n * 101 + k;

/** Trains in place into `job.out`: an absent or empty folder, or a bank IDP Lab wrote (finished runs reused). */
export async function trainBank(job: BankTrainJob): Promise<BankTrainResult> {
  return withClaim(job.claim, job.out, { kind: 'bank', mode: 'in-place' }, (claim) => bankClaimed(job, claim));
}

async function bankClaimed(job: BankTrainJob, claim: OutputClaim): Promise<BankTrainResult> {
  const m = job.model;
  const N = bankPositions(m, job.lengths, job.positions, job.settings.seqLen);
  if (job.promptData && job.promptData.length > job.lengths.length) throw inputError(`data for ${job.promptData.length} prompts; the bank has ${job.lengths.length}`);
  const dataOf = job.lengths.map((_, i) => job.promptData?.[i] ?? job.data);
  const missing = dataOf.findIndex((d) => !d);
  if (missing >= 0) throw inputError(`prompt ${missing + 1} has no data of its own and there is no shared data (--data)`);
  const ownData = job.promptData !== undefined && job.lengths.every((_, i) => job.promptData![i] !== undefined);
  const out = claim.open();
  fs.mkdirSync(path.join(out, 'runs'), { recursive: true });
  const seen = new Map<number, number>();
  const runs: BankPromptRun[] = [];
  const embeddings: Float32Array[] = [];

  for (const [i, n] of job.lengths.entries()) {
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    const progress = (phase: BankProgress['phase'], train?: TrainProgress) => job.onProgress?.({ prompt: i, of: job.lengths.length, n, phase, train });
    const r = await trainPrompt({
      model: m, n, start: N - n, initSeed: initSeedFor(job.settings.seed, n, k), data: dataOf[i]!, settings: job.settings, init: job.init,
      initText: job.initText, tokenizer: job.tokenizer, runs: path.join(out, 'runs'), session: job.session, maxSteps: job.maxSteps,
      isCancelled: job.isCancelled, onProgress: (p) => progress('train', p),
    });
    runs.push(r.run);
    if (r.status !== 'done') return { status: r.status, dir: out, prompts: runs };
    if (r.run.reused) progress('reused');
    embeddings.push(r.embeddings!);
  }

  const bank = IdpBank.fromPrompts(m, embeddings.map((x, i) => ({ embeddings: x, n: job.lengths[i] })), {
    positions: N, selectionLayer: job.selectionLayer, score: job.score, sources: runs.map((r) => path.relative(out, r.run)),
  });
  runs.forEach((r, i) => Object.assign(bank.info[i], { initialEvalLoss: r.initialEvalLoss, evalLoss: r.evalLoss }));
  const keys = dataOf.map((d) => dataKey(d!));
  bank.training = { ...job.settings, data: job.promptData ? keys : keys[0], init: job.init ?? 'vocab' };
  const last = { prompt: job.lengths.length - 1, of: job.lengths.length, n: job.lengths[job.lengths.length - 1] };
  let calibration: CalibrateResult | undefined;
  let calibrationSkipped: string | undefined;
  if (ownData) {
    const maxTokens = job.calibrationTokens ?? Math.min(256, m.config.maxPositions - N);
    const documents = dataOf.map((d) => (d!.heldoutDocs ?? []).slice(0, job.calibrationDocs ?? 200).map((ids) => ids.slice(0, maxTokens)).filter((ids) => ids.length >= 2));
    const few = documents.findIndex((d) => d.length < 2);
    if (few >= 0) {
      calibrationSkipped = `prompt ${few + 1}'s data has ${documents[few].length} held-out document(s); calibrating needs 2 per prompt (more data, or --eval files)`;
    } else {
      const r = await calibrateBank({
        model: m, bank, documents, session: job.session, isCancelled: job.isCancelled,
        onProgress: (done, total) => job.onProgress?.({ ...last, phase: 'calibrate', done, total }),
      });
      if (r.status === 'cancelled') return { status: 'cancelled', dir: out, prompts: runs };
      calibration = r;
      bank.training.calibration = 'held-out documents of each prompt\'s data';
    }
  }
  job.onProgress?.({ ...last, phase: 'kv' });
  await bank.save(out, m, job.session);
  job.onProgress?.({ ...last, phase: 'saved' });
  return { status: 'done', dir: out, prompts: runs, bank, calibration, calibrationSkipped };
}
