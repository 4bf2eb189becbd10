// The training loop: token budget → steps of (batch × accumulation) blocks, fused forward+backward
// runs in ORT, gradients averaged over the step's labelled tokens, global-norm clipping, AdamW with
// warmup + cosine/linear decay, held-out loss every K steps, checkpoints and exact resume, progress
// (tokens/s, loss, held-out loss, ETA), cancellation, and atomic outputs:
//   <out>/checkpoint/     resumable state (see checkpoint.ts)
//   <out>/adapter/        PEFT adapter (prompt, prefix, LoRA) — or <out>/model/ (full: an HF folder)
//   <out>/train_log.jsonl one line per step (loss, lr, grad norm, held-out loss where measured)
//   <out>/result.json     the summary, written when the budget is spent
//
// Data order: row r of the run is block perm_e[r mod n] of the training blocks, perm_e a permutation
// keyed by (seed, epoch e = ⌊r / n⌋); step s takes rows [s·R, (s+1)·R), R = batch × accumulation.
// So any step's data is known from its number and a resumed run replays nothing.

import * as fs from 'fs';
import * as path from 'path';
import type * as ort from 'onnxruntime-node';
import { createSession, SessionOptions } from '../runtime/session';
import { inputError, runtimeError } from '../errors';
import { assertCallerAlive } from '../process/caller';
import type { Blocks } from './data';
import { buildTrainGraph, trainIo } from './graph';
import { batchFeeds } from './batch';
import { AdamW, clipGradNorm, lrAt } from './optim';
import { Rng } from '../rng';
import { zerosLike } from './tensors';
import { CheckpointState, fingerprint, hasCheckpoint, HistoryEntry, loadCheckpoint, saveCheckpoint } from './checkpoint';
import type { TrainMethod } from './methods/method';
import { OutputClaim, withClaim } from '../formats/output-folder';

export interface TrainSettings {
  /** Tokens per row (block length T; soft-prompt slots come on top). */
  seqLen: number;
  /** Rows per forward/backward run. */
  batchSize: number;
  /** Runs per optimizer step. */
  gradAccum: number;
  /** Token budget (the paper: 40,960,000). */
  tokens: number;
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Max global gradient norm (0: no clipping). */
  clip: number;
  /** Warmup steps (≥ 1), or a fraction of the steps (< 1). */
  warmup: number;
  schedule: 'cosine' | 'linear' | 'constant';
  minLrRatio: number;
  /** Held-out loss every this many steps (0: at the start and end only). */
  evalEvery: number;
  /** Checkpoint every this many steps (0: only at the end and on cancel). */
  checkpointEvery: number;
  seed: number;
}

export const DEFAULT_SETTINGS: TrainSettings = {
  seqLen: 256, batchSize: 8, gradAccum: 1, tokens: 40_960_000, lr: 2e-4, weightDecay: 1e-5, beta1: 0.9, beta2: 0.999,
  eps: 1e-8, clip: 1.0, warmup: 0.03, schedule: 'cosine', minLrRatio: 0, evalEvery: 0, checkpointEvery: 0, seed: 0,
};

export interface TrainProgress {
  phase: 'eval' | 'train' | 'checkpoint' | 'done';
  step: number;
  steps: number;
  tokens: number;
  totalTokens: number;
  loss?: number;
  evalLoss?: number;
  lr?: number;
  gradNorm?: number;
  tokensPerSec?: number;
  etaSec?: number;
}

export interface TrainJob {
  method: TrainMethod;
  data: { train: Blocks; eval: Blocks };
  out: string;
  settings: TrainSettings;
  session?: SessionOptions;
  onProgress?: (p: TrainProgress) => void;
  isCancelled?: () => boolean;
  /** Stop (with a checkpoint) after this many steps in this call: an interruption, for tests and benchmarks. */
  maxSteps?: number;
  /** The caller's claim on `out` (output-folder.ts), taken before its own compute; else runTraining claims it. */
  claim?: OutputClaim;
}

export interface TrainResult {
  status: 'done' | 'cancelled' | 'stopped';
  step: number;
  steps: number;
  tokensSeen: number;
  loss?: number;
  evalLoss?: number;
  initialEvalLoss?: number;
  tokensPerSec: number;
  seconds: number;
  /** Where the adapter (or model) was written, when done. */
  output?: string;
  history: HistoryEntry[];
}

/** Write a text file atomically (temp file + rename). */
export function writeTextAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  assertCallerAlive(file);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** Settings compared on resume: everything that changes the trajectory. */
const TRAJECTORY: Array<keyof TrainSettings> = ['seqLen', 'batchSize', 'gradAccum', 'tokens', 'lr', 'weightDecay', 'beta1', 'beta2',
  'eps', 'clip', 'warmup', 'schedule', 'minLrRatio', 'seed'];

export function planSteps(s: TrainSettings): { rows: number; rowsPerStep: number; steps: number; warmupSteps: number } {
  if (!(s.tokens >= s.seqLen)) throw inputError(`the token budget (${s.tokens}) is smaller than one block of ${s.seqLen} tokens`);
  for (const k of ['batchSize', 'gradAccum', 'seqLen'] as const) {
    if (!(Number.isInteger(s[k]) && s[k] >= 1)) throw inputError(`${k} must be a positive integer, got ${s[k]}`);
  }
  if (!(s.lr > 0 && Number.isFinite(s.lr))) throw inputError(`the learning rate must be a positive number, got ${s.lr}`);
  const rows = Math.floor(s.tokens / s.seqLen);
  const rowsPerStep = s.batchSize * s.gradAccum;
  const steps = Math.ceil(rows / rowsPerStep);
  const warmupSteps = s.warmup >= 1 ? Math.round(s.warmup) : Math.round(s.warmup * steps);
  return { rows, rowsPerStep, steps, warmupSteps };
}

/** Trains in place into `job.out`: an absent or empty folder, or a training run IDP Lab wrote (resumed). */
export async function runTraining(job: TrainJob): Promise<TrainResult> {
  return withClaim(job.claim, job.out, { kind: 'train', mode: 'in-place' }, (claim) => trainClaimed(job, claim));
}

async function trainClaimed(job: TrainJob, claim: OutputClaim): Promise<TrainResult> {
  const { method, settings: s } = job;
  const m = method.model;
  const cfg = m.config;
  const { rows: totalRows, rowsPerStep, steps, warmupSteps } = planSteps(s);
  const lay = method.layout;
  const T = lay.promptSlots + s.seqLen;
  if (lay.pastLen + T > cfg.maxPositions) {
    throw inputError(`${lay.pastLen + lay.promptSlots} prompt/prefix slots + ${s.seqLen} tokens exceed the model's context of ${cfg.maxPositions}`);
  }
  const nTrain = job.data.train.count;
  if (nTrain < 1) throw inputError('no training blocks');
  if (job.data.train.T !== s.seqLen) throw inputError(`the data is packed in blocks of ${job.data.train.T} tokens, the settings say ${s.seqLen}`);
  const out = claim.open();

  const sessionOpts: SessionOptions = { ...job.session, sharedWeights: true };
  const trainGraph = buildTrainGraph(m, method.graphOptions(true));
  const evalGraph = buildTrainGraph(m, { ...method.graphOptions(false), forwardOnly: true });
  const trainSession = await createSession(trainGraph.proto, m.weightsDir, sessionOpts);
  const evalSession = await createSession(evalGraph.proto, m.weightsDir, sessionOpts);

  const params = method.params;
  const adam = new AdamW(params, { beta1: s.beta1, beta2: s.beta2, eps: s.eps, weightDecay: s.weightDecay }, (n) => method.decays(n));
  const settingsRecord = Object.fromEntries(TRAJECTORY.map((k) => [k, s[k]]));
  let step = 0;
  let history: HistoryEntry[] = [];
  if (hasCheckpoint(out)) {
    const ck = loadCheckpoint(out, m, method.describe(), params);
    const diff = TRAJECTORY.filter((k) => JSON.stringify(ck.state.settings[k]) !== JSON.stringify(s[k]));
    if (diff.length) {
      throw inputError(`cannot resume: the checkpoint was trained with ${diff.map((k) => `${k}=${JSON.stringify(ck.state.settings[k])}`).join(', ')}; ` +
        `this run has ${diff.map((k) => `${k}=${JSON.stringify(s[k])}`).join(', ')} (use the same settings, or another output folder)`, ck.file);
    }
    for (const [k, t] of params) {
      t.data.set(ck.params.get(k)!.data);
      adam.m.get(k)!.data.set(ck.m.get(k)!.data);
      adam.v.get(k)!.data.set(ck.v.get(k)!.data);
    }
    adam.t = ck.state.adamT;
    step = ck.state.step;
    history = ck.state.history;
  }
  const model = fingerprint(m);
  const schedule = { lr: s.lr, warmupSteps, schedule: s.schedule, minLrRatio: s.minLrRatio };

  const perms = new Map<number, Uint32Array>();
  const blockOfRow = (r: number): Int32Array => {
    const e = Math.floor(r / nTrain);
    let p = perms.get(e);
    if (!p) {
      if (perms.size > 2) perms.clear();
      p = Rng.for(s.seed, 'order', e).permutation(nTrain);
      perms.set(e, p);
    }
    return job.data.train.get(p[r % nTrain]);
  };
  const baseFeeds = (rows: ArrayLike<number>[]) => batchFeeds(cfg, rows, { ignoreFirst: lay.promptSlots, P: lay.pastLen, positionStart: lay.positionStart });

  const evaluate = async (): Promise<number | undefined> => {
    const ev = job.data.eval;
    if (!ev.count) return undefined;
    let sum = 0;
    let count = 0;
    for (let i = 0; i < ev.count; i += s.batchSize) {
      const rows = Array.from({ length: Math.min(s.batchSize, ev.count - i) }, (_, k) => ev.get(i + k));
      const feeds = { ...baseFeeds(rows), ...method.feeds({ B: rows.length, T, step, micro: 0 }, false, s.seed) };
      const r = await evalSession.run(feeds);
      sum += Number(r[trainIo.lossSum].data[0]);
      count += Number(r[trainIo.tokenCount].data[0]);
    }
    const loss = sum / Math.max(count, 1);
    if (!Number.isFinite(loss)) throw runtimeError(`the held-out loss is ${loss} at step ${step}: the parameters have diverged`);
    return loss;
  };

  const tokensAt = (st: number) => Math.min(totalRows, st * rowsPerStep) * s.seqLen;
  const progress = (p: Omit<TrainProgress, 'steps' | 'totalTokens' | 'step' | 'tokens'>) =>
    job.onProgress?.({ step, steps, tokens: tokensAt(step), totalTokens: totalRows * s.seqLen, ...p });
  const writeLog = () => writeTextAtomic(path.join(out, 'train_log.jsonl'), history.map((h) => JSON.stringify(h)).join('\n') + (history.length ? '\n' : ''));
  const checkpoint = () => {
    const state: CheckpointState = {
      version: 1, step, steps, tokensSeen: tokensAt(step), adamT: adam.t, settings: settingsRecord,
      method: method.describe(), model, history,
    };
    saveCheckpoint(out, state, params, adam.m, adam.v);
    writeLog();
    progress({ phase: 'checkpoint' });
  };

  const t0 = performance.now();
  let trainMs = 0;
  let trainTokens = 0;
  let stepsThisRun = 0;
  let initialEvalLoss = history.find((h) => h.step === 0)?.evalLoss;
  if (step === 0 && history.length === 0) {
    progress({ phase: 'eval' });
    initialEvalLoss = await evaluate();
    history.push({ step: 0, tokens: 0, lr: 0, gradNorm: 0, evalLoss: initialEvalLoss });
    progress({ phase: 'eval', evalLoss: initialEvalLoss });
  }

  const grads = zerosLike(params);
  const stopAt = job.maxSteps !== undefined ? Math.min(steps, step + job.maxSteps) : steps;
  let status: TrainResult['status'] = 'done';
  while (step < stopAt) {
    const ts = performance.now();
    for (const g of grads.values()) g.data.fill(0);
    const r0 = step * rowsPerStep;
    const r1 = Math.min(totalRows, r0 + rowsPerStep);
    let lossSum = 0;
    let count = 0;
    let cancelled = false;
    for (let r = r0, micro = 0; r < r1; r += s.batchSize, micro++) {
      if (job.isCancelled?.()) { cancelled = true; break; }
      const rows = Array.from({ length: Math.min(s.batchSize, r1 - r) }, (_, k) => blockOfRow(r + k));
      const feeds: Record<string, ort.Tensor> = { ...baseFeeds(rows), ...method.feeds({ B: rows.length, T, step, micro }, true, s.seed) };
      const res = await trainSession.run(feeds);
      lossSum += Number(res[trainIo.lossSum].data[0]);
      count += Number(res[trainIo.tokenCount].data[0]);
      method.accumulate(res, grads);
    }
    if (cancelled) { status = 'cancelled'; break; }
    const loss = lossSum / Math.max(count, 1);
    const inv = 1 / Math.max(count, 1);
    for (const g of grads.values()) for (let i = 0; i < g.data.length; i++) g.data[i] *= inv;
    const gradNorm = clipGradNorm(grads, s.clip);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      const kept = hasCheckpoint(out) ? `the last good checkpoint is kept in ${path.join(out, 'checkpoint')}` : 'no checkpoint had been written yet';
      throw runtimeError(`training stopped at step ${step + 1}: the loss is ${loss} and the gradient norm ${gradNorm} (not finite); ` +
        `${kept}. Lower the learning rate (--lr) or check the data.`);
    }
    const lr = lrAt(step, steps, schedule);
    adam.step(params, grads, lr);
    step++;
    const dt = performance.now() - ts;
    trainMs += dt;
    trainTokens += (r1 - r0) * s.seqLen;
    const entry: HistoryEntry = { step, tokens: tokensAt(step), loss, lr, gradNorm };
    history.push(entry);
    const tokensPerSec = trainTokens / (trainMs / 1000);
    stepsThisRun++;
    progress({ phase: 'train', loss, lr, gradNorm, tokensPerSec, etaSec: ((steps - step) * trainMs) / stepsThisRun / 1000 });
    if ((s.evalEvery > 0 && step % s.evalEvery === 0) || step === steps) {
      progress({ phase: 'eval' });
      entry.evalLoss = await evaluate();
      progress({ phase: 'eval', loss, evalLoss: entry.evalLoss });
    }
    if (s.checkpointEvery > 0 && step % s.checkpointEvery === 0 && step < steps) checkpoint();
  }
  if (status === 'done' && step < steps) status = 'stopped';
  checkpoint();

  const last = [...history].reverse();
  const result: TrainResult = {
    status, step, steps, tokensSeen: tokensAt(step),
    loss: last.find((h) => h.loss !== undefined)?.loss,
    evalLoss: last.find((h) => h.evalLoss !== undefined)?.evalLoss,
    initialEvalLoss,
    tokensPerSec: trainMs > 0 ? trainTokens / (trainMs / 1000) : 0,
    seconds: (performance.now() - t0) / 1000,
    history,
  };
  if (status === 'done') {
    result.output = path.join(out, method.kind === 'full' ? 'model' : 'adapter');
    method.export(result.output);
    const { history: _h, ...summary } = result;
    writeTextAtomic(path.join(out, 'result.json'), JSON.stringify({ ...summary, method: method.describe(), settings: settingsRecord }, null, 2) + '\n');
  }
  progress({ phase: 'done', loss: result.loss, evalLoss: result.evalLoss, tokensPerSec: result.tokensPerSec });
  return result;
}
