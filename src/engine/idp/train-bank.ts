// `idp bank train`: train every prompt of a bank with the training engine's soft-prompt method in the
// bank's right-aligned layout (prompt i at positions N − n_i … N − 1, text from N: SoftPrompt with
// layout.positionStart = N − n_i), all on the same data, token budget and optimizer, then compute each
// prompt's K/V once and write the bank (bank.ts).
//
// Each prompt trains in its own run folder  <out>/runs/n<n>-at<start>-<key>/  (checkpoint, adapter,
// train_log.jsonl, result.json — exactly `idp train`'s layout), <key> hashing everything that shapes the
// prompt: length, start, init, init seed, training settings, the data's token ids and the model. So a
// prompt trained before with the same key is reused as it is (a run that stopped resumes from its
// checkpoint), and asking for another set of lengths later retrains only what is new — prompts keep
// their key as long as N stays (set --positions to fix N ahead of time).
//
// GPTQ models: the training graph runs on the dequantized weights (MatMulNBits has no VJP yet); the
// bank's K/V are then computed with the quantized kernels the model runs with.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { LoadedModel } from '../models/config';
import type { Blocks } from '../train/data';
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

export interface BankTrainJob {
  model: LoadedModel;
  /** Prompt lengths n_i (repeats allowed: they differ by their init seed). */
  lengths: number[];
  /** N (default max n_i). */
  positions?: number;
  data: { train: Blocks; eval: Blocks };
  settings: TrainSettings;
  init?: PromptInit;
  initText?: string;
  tokenizer?: Tokenizer;
  selectionLayer?: number;
  score?: SelectionScore;
  out: string;
  session?: SessionOptions;
  onProgress?: (p: BankProgress) => void;
  isCancelled?: () => boolean;
  /** Stop each prompt's run after this many steps (tests, interruptions). */
  maxSteps?: number;
  /** The caller's claim on `out` (output-folder.ts), taken before its own compute; else one is taken here. */
  claim?: OutputClaim;
}

export interface BankProgress {
  prompt: number;
  of: number;
  n: number;
  phase: 'reused' | 'train' | 'kv' | 'saved';
  train?: TrainProgress;
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
}

/** Identity of the training data (its token ids): a prompt trained on other data is not reused. */
export function dataKey(d: { train: Blocks; eval: Blocks }): string {
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

/** Trains in place into `job.out`: an absent or empty folder, or a bank IDP Lab wrote (finished runs reused). */
export async function trainBank(job: BankTrainJob): Promise<BankTrainResult> {
  return withClaim(job.claim, job.out, { kind: 'bank', mode: 'in-place' }, (claim) => bankClaimed(job, claim));
}

async function bankClaimed(job: BankTrainJob, claim: OutputClaim): Promise<BankTrainResult> {
  const m = job.model;
  if (job.lengths.length === 0) throw inputError('no prompt lengths: give --prompts, e.g. 26,100');
  const maxN = Math.max(...job.lengths);
  const N = job.positions ?? maxN;
  if (!(Number.isInteger(N) && N >= maxN)) throw inputError(`--positions ${N} must be ≥ the longest prompt (${maxN})`);
  if (N + job.settings.seqLen > m.config.maxPositions) {
    throw inputError(`prompts up to position ${N} + ${job.settings.seqLen} tokens per row exceed the model's context of ${m.config.maxPositions}`);
  }
  const out = claim.open();
  fs.mkdirSync(path.join(out, 'runs'), { recursive: true });
  const common = { data: dataKey(job.data), model: modelInfo(m).weights, settings: job.settings, init: job.init ?? 'vocab', initText: job.initText ?? null };
  const seen = new Map<number, number>();
  const runs: BankPromptRun[] = [];
  const embeddings: Float32Array[] = [];
  const e = tokenEmbedding(m.config).width;

  for (const [i, n] of job.lengths.entries()) {
    const k = seen.get(n) ?? 0;
    seen.set(n, k + 1);
    const start = N - n;
    const initSeed = job.settings.seed * 1_000_003 + n * 101 + k;
    const key = crypto.createHash('sha256').update(JSON.stringify({ ...common, n, start, initSeed })).digest('hex').slice(0, 10);
    const run = path.join(out, 'runs', `n${n}-at${start}-${key}`);
    const weights = path.join(run, 'adapter', ADAPTER_WEIGHTS);
    const progress = (phase: BankProgress['phase'], train?: TrainProgress) => job.onProgress?.({ prompt: i, of: job.lengths.length, n, phase, train });
    if (fs.existsSync(path.join(run, 'result.json')) && fs.existsSync(weights)) {
      const t = loadTensors(weights).tensors.get('prompt_embeddings');
      if (!t || t.shape[0] !== n || t.shape[1] !== e) throw formatError(weights, `'prompt_embeddings' must have shape [${n}, ${e}]`);
      const res = JSON.parse(fs.readFileSync(path.join(run, 'result.json'), 'utf8')) as Partial<TrainResult>;
      embeddings.push(t.data);
      runs.push({ n, start, run, reused: true, initialEvalLoss: res.initialEvalLoss, evalLoss: res.evalLoss });
      progress('reused');
      continue;
    }
    const prompt = SoftPrompt.create(m, { tokens: n, init: job.init, text: job.initText, seed: initSeed, tokenizer: job.tokenizer, positionStart: start });
    const method = trainableOn(m, prompt);
    const result = await runTraining({
      method, data: job.data, out: run, settings: job.settings, session: job.session, maxSteps: job.maxSteps,
      isCancelled: job.isCancelled, onProgress: (p) => progress('train', p),
    });
    runs.push({ n, start, run, reused: false, result, initialEvalLoss: result.initialEvalLoss, evalLoss: result.evalLoss });
    if (result.status !== 'done') return { status: result.status, dir: out, prompts: runs };
    embeddings.push(Float32Array.from(prompt.params.get(PROMPT_INPUT)!.data));
  }

  const bank = IdpBank.fromPrompts(m, embeddings.map((x, i) => ({ embeddings: x, n: job.lengths[i] })), {
    positions: N, selectionLayer: job.selectionLayer, score: job.score, sources: runs.map((r) => path.relative(out, r.run)),
  });
  runs.forEach((r, i) => Object.assign(bank.info[i], { initialEvalLoss: r.initialEvalLoss, evalLoss: r.evalLoss }));
  bank.training = { ...job.settings, data: common.data, init: common.init };
  job.onProgress?.({ prompt: job.lengths.length - 1, of: job.lengths.length, n: job.lengths[job.lengths.length - 1], phase: 'kv' });
  await bank.save(out, m, job.session);
  job.onProgress?.({ prompt: job.lengths.length - 1, of: job.lengths.length, n: job.lengths[job.lengths.length - 1], phase: 'saved' });
  return { status: 'done', dir: out, prompts: runs, bank };
}
