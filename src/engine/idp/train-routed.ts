// Selection-aware bank training (`idp bank train --routing assign`): a bank of m prompts learns from
// unlabelled mixed text by routing each document to one prompt and iterating, so the prompts specialise
// without anyone labelling the data (hard-EM over the documents; the paper trains every prompt on all of
// it). Flow and shapes (D training documents, H held-out documents, e = embedding width):
//
//   documents  number[][]  encodeDocument's ids (BOS first), whole; the held-out ones (--eval files, or evenly
//                          spaced documents of --data: splitHoldout) are never trained on
//   features   [D + H, e]  per document the mean of the model's input token embeddings, less the corpus mean,
//                          unit length — cheap, and it tells kinds of text apart by the tokens they use
//   round 0    k-means (k = m, k-means++ seeded from the settings' seed) on the training documents'
//              features; cluster j → prompt j; held-out documents go to the nearest centroid
//   round r    every prompt trains on the documents assigned to it (packed into blocks as `idp train`
//   (1…R)      packs a corpus; held-out blocks from its held-out documents) for tokens/R of the budget,
//              continuing from the previous round's weights (a fresh optimizer and schedule each round:
//              runTraining through train-bank.ts's trainPrompt, one run folder per round and prompt,
//              reused when the same round is asked again); then every document's loss under every prompt
//              alone [D + H, m] (nats per token, the bank's layout and K/V, as IDP runs it; each document
//              cut to scoreTokens) and each document moves to its lowest-loss prompt
//   end        the bank of the final weights; its selection calibrated (calibrate-bank.ts) on the held-out
//              documents labelled by their final assignment, so IDP routes new text as the losses would
//
// A prompt left with no training block in a round keeps its weights for that round. <out>/routing.json
// keeps the rounds (documents per prompt, mean losses, moves) and the final assignment of every document.

import * as fs from 'fs';
import * as path from 'path';
import type { LoadedModel } from '../models/config';
import type { SessionOptions } from '../runtime/session';
import { CausalLM } from '../runtime/lm';
import { readTensorF32 } from '../formats/safetensors';
import { inputError } from '../errors';
import { OutputClaim, withClaim } from '../formats/output-folder';
import { windowNll } from '../eval/perplexity';
import { Blocks, joinDocs, TrainData } from '../train/data';
import type { TrainProgress } from '../train/trainer';
import { writeTextAtomic } from '../train/trainer';
import { Rng } from '../rng';
import { PROMPT_INPUT, SoftPrompt, tokenEmbedding } from '../train/methods/prompt';
import { IdpBank } from './bank';
import { cachedPromptScorer } from './baselines';
import { calibrateBank, CalibrateResult } from './calibrate-bank';
import { BankJobCommon, bankPositions, BankPromptRun, dataKey, initSeedFor, trainPrompt } from './train-bank';

export interface RoutedTrainJob extends BankJobCommon {
  /** The training documents (encodeDocument's ids), unlabelled. */
  documents: number[][];
  /** Held-out documents: never trained on; they give each prompt's held-out loss and calibrate the selection. */
  heldout: number[][];
  /** Rounds of train + reassign (default 3). */
  rounds?: number;
  /** Tokens of each document the losses and the calibration read (default min(256, the context left after N)). */
  scoreTokens?: number;
  /** settings.tokens (BankJobCommon) is each prompt's budget over all rounds (tokens/R a round). */
  onProgress?: (p: RoutedProgress) => void;
}

export interface RoutedProgress {
  phase: 'cluster' | 'train' | 'score' | 'round' | 'calibrate' | 'kv' | 'saved';
  /** 0: the k-means assignment; 1…R the rounds. */
  round: number;
  rounds: number;
  prompt?: number;
  train?: TrainProgress;
  /** phase 'score' / 'calibrate': documents done of how many. */
  done?: number;
  total?: number;
  /** phase 'round' (and 'cluster'): the round's figures and the training documents' assignment after it. */
  report?: RoundReport;
  assignment?: number[];
}

export interface RoundReport {
  round: number;
  /** Training documents per prompt, and held-out documents per prompt. */
  counts: number[];
  heldoutCounts: number[];
  /** Per prompt, the mean loss (nats per token) of the training documents assigned to it, under it; absent for round 0. */
  meanLoss?: number[];
  /** Mean loss of every training document under its prompt (token-weighted). */
  loss?: number;
  /** Training documents that changed prompt in this round's reassignment. */
  moved: number;
  /** The round's runs (absent for round 0); a prompt left without data has none. */
  runs?: Array<BankPromptRun | null>;
}

export interface RoutedTrainResult {
  status: 'done' | 'cancelled' | 'stopped';
  dir: string;
  rounds: RoundReport[];
  /** The final prompt of every training document, and of every held-out document. */
  assignment: number[];
  heldoutAssignment: number[];
  bank?: IdpBank;
  calibration?: CalibrateResult;
  calibrationSkipped?: string;
}

/**
 * The training and held-out documents: ⌈share·n⌉ documents evenly spaced through the list held out (at least 1,
 * and 1 left to train on) — spaced, not the tail, so files joined one after another each give some.
 */
export function splitHoldout(docs: number[][], share: number): { documents: number[][]; heldout: number[][] } {
  if (!(share > 0 && share < 1)) throw inputError(`the held-out share must be between 0 and 1, got ${share}`);
  if (docs.length < 2) throw inputError(`${docs.length} document(s): routing needs at least 2 (one is held out)`);
  const h = Math.min(docs.length - 1, Math.max(1, Math.ceil(share * docs.length)));
  const held = new Set(Array.from({ length: h }, (_, j) => Math.floor(((j + 1) * docs.length) / h) - 1));
  return { documents: docs.filter((_, i) => !held.has(i)), heldout: docs.filter((_, i) => held.has(i)) };
}

/** Per document: the mean of its input token embeddings, less the mean over the documents, unit length. */
export function documentFeatures(m: LoadedModel, docs: number[][]): Float64Array[] {
  const { name, width: e } = tokenEmbedding(m.config);
  const table = readTensorF32(m.weights.get(name)!);
  const f = docs.map((ids) => {
    const v = new Float64Array(e);
    for (const id of ids) for (let k = 0; k < e; k++) v[k] += table[id * e + k];
    for (let k = 0; k < e; k++) v[k] /= Math.max(ids.length, 1);
    return v;
  });
  const mean = new Float64Array(e);
  for (const v of f) for (let k = 0; k < e; k++) mean[k] += v[k] / f.length;
  for (const v of f) {
    let s = 0;
    for (let k = 0; k < e; k++) { v[k] -= mean[k]; s += v[k] * v[k]; }
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < e; k++) v[k] *= inv;
  }
  return f;
}

const dist2 = (a: Float64Array, b: Float64Array) => { let s = 0; for (let k = 0; k < a.length; k++) s += (a[k] - b[k]) ** 2; return s; };

function nearest(x: Float64Array, centroids: Float64Array[]): number {
  let best = 0;
  for (let j = 1; j < centroids.length; j++) if (dist2(x, centroids[j]) < dist2(x, centroids[best])) best = j;
  return best;
}

/** Lloyd's k-means from k-means++ seeds; an emptied cluster restarts at the point farthest from its centroid. */
function lloyd(x: Float64Array[], k: number, rng: Rng): { labels: number[]; centroids: Float64Array[]; inertia: number } {
  const centroids = [Float64Array.from(x[rng.int(x.length)])];
  const d = x.map((v) => dist2(v, centroids[0]));
  while (centroids.length < k) {
    const total = d.reduce((a, v) => a + v, 0);
    let pick = rng.int(x.length);
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < d.length; i++) { r -= d[i]; if (r < 0) { pick = i; break; } }
    }
    centroids.push(Float64Array.from(x[pick]));
    x.forEach((v, i) => { d[i] = Math.min(d[i], dist2(v, centroids[centroids.length - 1])); });
  }
  const e = x[0].length;
  let labels = x.map((v) => nearest(v, centroids));
  for (let it = 0; it < 100; it++) {
    const sums = Array.from({ length: k }, () => new Float64Array(e));
    const counts = new Array<number>(k).fill(0);
    x.forEach((v, i) => { counts[labels[i]]++; for (let q = 0; q < e; q++) sums[labels[i]][q] += v[q]; });
    for (let j = 0; j < k; j++) {
      if (counts[j] > 0) { for (let q = 0; q < e; q++) centroids[j][q] = sums[j][q] / counts[j]; continue; }
      let far = 0;
      x.forEach((v, i) => { if (dist2(v, centroids[labels[i]]) > dist2(x[far], centroids[labels[far]])) far = i; });
      centroids[j] = Float64Array.from(x[far]);
      labels[far] = j;
    }
    const next = x.map((v) => nearest(v, centroids));
    if (next.every((l, i) => l === labels[i])) break;
    labels = next;
  }
  return { labels, centroids, inertia: x.reduce((a, v, i) => a + dist2(v, centroids[labels[i]]), 0) };
}

/** k-means: the tightest (least within-cluster sum of squares) of `restarts` seeded runs — one k-means++ start can merge two kinds. */
export function kMeans(x: Float64Array[], k: number, seed: number, restarts = 10): { labels: number[]; centroids: Float64Array[] } {
  if (x.length < k) throw inputError(`${x.length} training document(s) for ${k} prompts: routing needs at least one per prompt`);
  const rng = Rng.for(seed, 'kmeans');
  let best = lloyd(x, k, rng);
  for (let t = 1; t < restarts; t++) {
    const r = lloyd(x, k, rng);
    if (r.inertia < best.inertia) best = r;
  }
  return { labels: best.labels, centroids: best.centroids };
}

/**
 * Share of documents whose prompt's majority label is their own label (labels known for evaluation only):
 * 1 when every prompt holds one kind, 1/k-ish when the assignment ignores the kinds.
 */
export function routingPurity(assignment: number[], labels: Array<number | string>): number {
  if (assignment.length !== labels.length || assignment.length === 0) throw inputError('purity needs one label per assigned document');
  const per = new Map<number, Map<number | string, number>>();
  assignment.forEach((a, i) => {
    const c = per.get(a) ?? new Map<number | string, number>();
    c.set(labels[i], (c.get(labels[i]) ?? 0) + 1);
    per.set(a, c);
  });
  let agree = 0;
  for (const c of per.values()) agree += Math.max(...c.values());
  return agree / assignment.length;
}

/** Loss of every document under every prompt alone, in the bank's layout: [doc][prompt] Σ NLL (nats) and the tokens predicted. */
async function documentLosses(lm: CausalLM, bank: IdpBank, docs: number[][], session: SessionOptions | undefined,
  progress: (done: number, total: number) => void): Promise<{ sum: number[][]; tokens: number[] }> {
  const m = lm.model;
  const V = m.config.vocabSize;
  const kv = await bank.computeKv(m, session);
  const scorers = kv.map((p) => cachedPromptScorer(lm, p));
  const sum = docs.map(() => new Array<number>(bank.m).fill(0));
  // longest first: a batch pads little; at most 16 rows and 2^24 logits at once
  const order = docs.map((_, i) => i).sort((a, b) => docs[b].length - docs[a].length);
  for (let at = 0; at < order.length;) {
    const B = Math.max(1, Math.min(16, Math.floor((1 << 24) / (docs[order[at]].length * V))));
    const idx = order.slice(at, at + B);
    at += idx.length;
    const rows = idx.map((i) => docs[i]);
    for (const [p, s] of scorers.entries()) {
      const logits = await s.logits(rows);
      idx.forEach((i, b) => { sum[i][p] = windowNll(logits[b], rows[b], V) * (rows[b].length - 1); });
    }
    progress(at, order.length);
  }
  return { sum, tokens: docs.map((d) => d.length - 1) };
}

const argmin = (a: number[]) => a.reduce((best, v, i) => (v < a[best] ? i : best), 0);

/** The documents assigned to prompt i, packed as a training corpus packs them (the tail short of a block dropped). */
function promptData(docs: number[][], heldout: number[][], assignment: number[], heldoutAssignment: number[], i: number, T: number): TrainData {
  const mine = (d: number[][], a: number[]) => d.filter((_, k) => a[k] === i);
  const ev = new Blocks(joinDocs(mine(heldout, heldoutAssignment)), T);
  return { train: new Blocks(joinDocs(mine(docs, assignment)), T), eval: ev.slice(0, Math.min(64, ev.count)) };
}

/** Trains in place into `job.out` (a bank folder: absent, empty, or one IDP Lab wrote; finished round runs reused). */
export async function trainRouted(job: RoutedTrainJob): Promise<RoutedTrainResult> {
  return withClaim(job.claim, job.out, { kind: 'bank', mode: 'in-place' }, (claim) => routedClaimed(job, claim));
}

async function routedClaimed(job: RoutedTrainJob, claim: OutputClaim): Promise<RoutedTrainResult> {
  const m = job.model;
  const s = job.settings;
  const R = job.rounds ?? 3;
  if (!(Number.isInteger(R) && R >= 1)) throw inputError(`--rounds must be a positive integer, got ${R}`);
  const N = bankPositions(m, job.lengths, job.positions, s.seqLen);
  const k = job.lengths.length;
  if (job.heldout.length === 0) throw inputError('routing needs held-out documents (they calibrate the selection)');
  const share = { ...s, tokens: Math.floor(s.tokens / R) };
  if (share.tokens < s.seqLen) throw inputError(`a budget of ${s.tokens} tokens over ${R} rounds leaves less than one block of ${s.seqLen} a round`);
  const scoreTokens = job.scoreTokens ?? Math.min(256, m.config.maxPositions - N);
  if (!(Number.isInteger(scoreTokens) && scoreTokens >= 2 && scoreTokens <= m.config.maxPositions - N)) {
    throw inputError(`documents are scored on their first ${scoreTokens} tokens: need 2 … ${m.config.maxPositions - N} (the context left after ${N} prompt positions)`);
  }
  const docs = job.documents.filter((d) => d.length >= 2);
  const held = job.heldout.filter((d) => d.length >= 2);
  const out = claim.open();
  const runsDir = path.join(out, 'runs');
  fs.mkdirSync(runsDir, { recursive: true });
  const progress = (p: Omit<RoutedProgress, 'rounds'>) => job.onProgress?.({ ...p, rounds: R });
  const counts = (a: number[]) => { const c = new Array<number>(k).fill(0); for (const x of a) c[x]++; return c; };

  // round 0: k-means on the document features
  const feats = documentFeatures(m, [...docs, ...held]);
  const km = kMeans(feats.slice(0, docs.length), k, s.seed);
  let assignment = km.labels;
  let heldoutAssignment = feats.slice(docs.length).map((v) => nearest(v, km.centroids));
  const rounds: RoundReport[] = [{ round: 0, counts: counts(assignment), heldoutCounts: counts(heldoutAssignment), moved: 0 }];
  progress({ phase: 'cluster', round: 0, report: rounds[0], assignment });

  const seen = new Map<number, number>();
  let weights: Array<Float32Array | undefined> = job.lengths.map(() => undefined);
  const initSeeds = job.lengths.map((n) => { const c = seen.get(n) ?? 0; seen.set(n, c + 1); return initSeedFor(s.seed, n, c); });
  const cut = (d: number[][]) => d.map((ids) => ids.slice(0, scoreTokens));
  const lm = new CausalLM(m, job.session);
  let bank: IdpBank | undefined;
  try {
    for (let r = 1; r <= R; r++) {
      const runs: Array<BankPromptRun | null> = [];
      for (const [i, n] of job.lengths.entries()) {
        const data = promptData(docs, held, assignment, heldoutAssignment, i, s.seqLen);
        if (data.train.count === 0) { runs.push(null); continue; }   // nothing to learn from this round: keep the weights
        const t = await trainPrompt({
          model: m, n, start: N - n, initSeed: initSeeds[i], data, settings: share, init: job.init, initText: job.initText, tokenizer: job.tokenizer,
          from: weights[i], runs: runsDir, label: `r${r}-p${i}-`, session: job.session, isCancelled: job.isCancelled,
          onProgress: (train) => progress({ phase: 'train', round: r, prompt: i, train }),
        });
        if (t.status !== 'done') return { status: t.status, dir: out, rounds, assignment, heldoutAssignment };
        runs.push(t.run);
        weights[i] = t.embeddings;
      }
      // a prompt that never had data keeps its init, so the bank is complete
      weights = weights.map((w, i) => w ?? freshPrompt(m, job, i, N, initSeeds[i]));
      bank = IdpBank.fromPrompts(m, weights.map((w, i) => ({ embeddings: w!, n: job.lengths[i] })), { positions: N, selectionLayer: job.selectionLayer, score: job.score });
      const all = cut([...docs, ...held]);
      const loss = await documentLosses(lm, bank, all, job.session, (done, total) => progress({ phase: 'score', round: r, done, total }));
      if (job.isCancelled?.()) return { status: 'cancelled', dir: out, rounds, assignment, heldoutAssignment };
      const next = loss.sum.map(argmin);
      const nextTrain = next.slice(0, docs.length);
      const meanLoss = job.lengths.map((_, i) => {
        let a = 0;
        let t = 0;
        nextTrain.forEach((p, d) => { if (p === i) { a += loss.sum[d][i]; t += loss.tokens[d]; } });
        return t ? a / t : NaN;
      });
      let tot = 0;
      let tok = 0;
      nextTrain.forEach((p, d) => { tot += loss.sum[d][p]; tok += loss.tokens[d]; });
      const report: RoundReport = {
        round: r, counts: counts(nextTrain), heldoutCounts: counts(next.slice(docs.length)), meanLoss, loss: tot / tok,
        moved: nextTrain.filter((p, d) => p !== assignment[d]).length, runs,
      };
      assignment = nextTrain;
      heldoutAssignment = next.slice(docs.length);
      rounds.push(report);
      progress({ phase: 'round', round: r, report, assignment });
    }
  } finally {
    await lm.release();
  }

  bank = bank!;
  const last = rounds[R].runs!;
  bank.info.forEach((info, i) => {
    const run = last[i] ?? rounds.slice(1).reverse().map((x) => x.runs![i]).find((x) => x);
    info.source = run ? path.relative(out, run.run) : 'init';
    if (run) Object.assign(info, { initialEvalLoss: run.initialEvalLoss, evalLoss: run.evalLoss });
  });
  let calibration: CalibrateResult | undefined;
  let calibrationSkipped: string | undefined;
  const calDocs = job.lengths.map((_, i) => cut(held.filter((_, d) => heldoutAssignment[d] === i)).slice(0, 200)
);
  const few = calDocs.findIndex((d) => d.length < 2);
  if (few >= 0) {
    calibrationSkipped = `prompt ${few + 1} holds ${calDocs[few].length} held-out document(s) after routing; calibrating needs 2 per prompt (more data, or a larger --holdout)`;
  } else {
    const c = await calibrateBank({
      model: m, bank, documents: calDocs, session: job.session, isCancelled: job.isCancelled,
      onProgress: (done, total) => progress({ phase: 'calibrate', round: R, done, total }),
    });
    if (c.status === 'cancelled') return { status: 'cancelled', dir: out, rounds, assignment, heldoutAssignment };
    calibration = c;
  }
  const summary = rounds.map(({ runs, ...r }) => ({ ...r, ...(runs ? { runs: runs.map((x) => (x ? path.relative(out, x.run) : null)) } : {}) }));
  bank.training = {
    ...s, data: dataKey({ train: new Blocks(joinDocs(docs), 1), eval: new Blocks(joinDocs(held), 1) }), init: job.init ?? 'vocab',
    routing: {
      method: 'assign', rounds: R, feature: 'mean input token embedding (centred, unit length)', scoreTokens, documents: docs.length, heldout: held.length,
      counts: rounds.map((r) => r.counts), loss: rounds.map((r) => r.loss ?? null),
      calibration: calibration ? 'held-out documents labelled by their final assignment' : calibrationSkipped,
    },
  };
  writeTextAtomic(path.join(out, 'routing.json'), JSON.stringify({ rounds: summary, assignment, heldoutAssignment }) + '\n');
  progress({ phase: 'kv', round: R });
  await bank.save(out, m, job.session);
  progress({ phase: 'saved', round: R });
  return { status: 'done', dir: out, rounds, assignment, heldoutAssignment, bank, calibration, calibrationSkipped };
}

function freshPrompt(m: LoadedModel, job: RoutedTrainJob, i: number, N: number, seed: number): Float32Array {
  const n = job.lengths[i];
  return SoftPrompt.create(m, { tokens: n, init: job.init, text: job.initText, seed, tokenizer: job.tokenizer, positionStart: N - n }).params.get(PROMPT_INPUT)!.data;
}
