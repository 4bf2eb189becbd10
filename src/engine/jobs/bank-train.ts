// The bank train job (`idp bank train`, idp/trainBank): an IDP prompt bank (engine/idp/train-bank.ts)
// trained on the shared data, or each prompt on its own data (then the selection is calibrated on their
// held-out documents), or — routing 'assign' — on unlabelled mixed documents routed to the prompts
// (engine/idp/train-routed.ts). Prompts already trained with the same settings are reused; an abort
// stops after the current micro-batch with a checkpoint.

import { inputError } from '../errors';
import { planSteps } from '../train/trainer';
import type { PromptInit } from '../train/methods/prompt';
import { documentIds } from '../train/data';
import type { SelectionScore } from '../idp/bank';
import { trainBank } from '../idp/train-bank';
import type { CalibrateResult } from '../idp/calibrate-bank';
import { RoundReport, splitHoldout, trainRouted } from '../idp/train-routed';
import { ParamCount, promptParams } from '../idp/params';
import { OutputClaim, withClaim } from '../formats/output-folder';
import type { LoadedModel } from '../models/config';
import { DataSource, ParamChecker } from './check';
import { cancelledBy, JobHooks } from './hooks';
import { openModel } from './model';
import {
  checkTraining, promptTrainingData, seqLenFor, TRAINING_KEYS, trainingData, TrainingOptions, trainProgressValue, TrainProgressValue, trainSettings,
} from './training';

export interface TrainBankOptions extends TrainingOptions {
  /** Prompt lengths n_i. */
  prompts: number[];
  /** N: the prompts end at N − 1 and the input starts at N (default: the longest prompt). */
  positions?: number;
  /** Layer whose attention selects the prompt (default 0), and the score (default mass). */
  selectionLayer?: number;
  score?: SelectionScore;
  /** Prompt init (default vocab; text: promptInitText's token embeddings). */
  promptInit?: PromptInit;
  promptInitText?: string;
  /**
   * Per prompt its own training text, in order (null or absent past the end: the shared data); with every
   * prompt on its own text the selection is calibrated on their held-out documents.
   */
  promptData?: Array<DataSource | null>;
  /** 'data' (default): each prompt trains on its data; 'assign': data's documents are routed to the prompts. */
  routing?: 'data' | 'assign';
  /** routing 'assign': rounds of training + reassignment (default 3), share of documents held out (default 0.1). */
  rounds?: number;
  holdout?: number;
}

export interface TrainBankResult {
  status: 'done' | 'cancelled' | 'stopped';
  dir: string;
  positions: number;
  params: ParamCount;
  /** Every prompt's run (its folder under the bank's runs/) and held-out loss before and after training. */
  prompts: Array<{ n: number; start: number; run: string; reused: boolean; initialEvalLoss?: number; evalLoss?: number }>;
  /** The selection fitted on each prompt's own held-out documents (calibrate-bank.ts), or why not calibrated. */
  calibration?: CalibrateResult;
  calibrationSkipped?: string;
  /** routing 'assign': every round's documents per prompt and losses, and each document's final prompt. */
  rounds?: Array<Omit<RoundReport, 'runs'> & { runs?: Array<{ run: string; reused: boolean; initialEvalLoss?: number; evalLoss?: number } | null> }>;
  assignment?: number[];
  heldoutAssignment?: number[];
}

const KEYS = [...TRAINING_KEYS, 'prompts', 'positions', 'selectionLayer', 'score', 'promptInit', 'promptInitText', 'promptData', 'routing', 'rounds', 'holdout'] as const;

export function checkTrainBankOptions(o: TrainBankOptions, absolutePaths = false): void {
  const c = ParamChecker.of('bank train', o, KEYS, absolutePaths);
  c.array('prompts', (x) => typeof x === 'number' && Number.isInteger(x) && x >= 1, 'a non-empty array of prompt lengths (positive integers)', true);
  if (o.promptData !== undefined) {
    c.array('promptData', (d) => d === null || c.isData(d), `a non-empty array with, per prompt, 'model', an array of ${absolutePaths ? 'absolute ' : ''}files / globs, or null (the shared data)`);
    if (o.promptData.length > o.prompts.length) {
      throw inputError(`bank train: ${o.promptData.length} --prompt-data for ${o.prompts.length} prompts: give at most one per prompt, in order ('-' / null: the shared --data)`);
    }
  }
  c.oneOf('routing', ['data', 'assign']);
  if (o.routing === 'assign' && o.promptData?.length) throw inputError('bank train: --prompt-data gives each prompt its data; --routing assign finds it from --data: give one or the other');
  const everyOwn = Array.isArray(o.promptData) && o.prompts.every((_, i) => o.promptData![i]);
  checkTraining(c, !everyOwn);
  c.int('positions', 1);
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.oneOf('promptInit', ['vocab', 'text', 'random']);
  c.str('promptInitText');
  c.int('rounds', 1);
  c.num('holdout', 0, 1, { minExclusive: true, maxExclusive: true });
  if (o.routing !== 'assign' && (o.rounds !== undefined || o.holdout !== undefined)) throw inputError('bank train: rounds and holdout are settings of --routing assign');
  if (o.routing === 'assign' && o.data === 'model') throw inputError('bank train: --routing assign needs documents of several kinds: --data model samples one kind; give files');
}

export async function run(o: TrainBankOptions, hooks: JobHooks<TrainProgressValue> = {}): Promise<TrainBankResult> {
  checkTrainBankOptions(o, hooks.absolutePaths);
  return withClaim(hooks.claim, o.out, { kind: 'bank', mode: 'in-place' }, async (claim) => {   // before any compute
    const { m, threads } = await openModel(o);
    return o.routing === 'assign' ? routed(o, m, threads, claim, hooks) : byData(o, m, threads, claim, hooks);
  });
}

function logTo(hooks: JobHooks<TrainProgressValue>): (message: string) => void {
  return (message) => hooks.onProgress?.({ phase: 'data', step: 0, steps: 0, fraction: 0, message });
}

async function byData(o: TrainBankOptions, m: LoadedModel, threads: number | undefined, claim: OutputClaim, hooks: JobHooks<TrainProgressValue>): Promise<TrainBankResult> {
  const report = (v: TrainProgressValue) => hooks.onProgress?.(v);
  const log = logTo(hooks);
  const isCancelled = cancelledBy(hooks.signal);
  const N = o.positions ?? Math.max(...o.prompts);
  const own = o.prompts.map((_, i) => o.promptData?.[i] ?? undefined);
  const shared = own.some((d) => !d);
  if (!shared && o.data !== undefined) log('--data is not used: every prompt has its own --prompt-data');
  if (own.some((d) => d) && o.eval?.length) log('--eval holds out text for the prompts on the shared --data only: a prompt with its own data holds out the last blocks of it');
  const settings = trainSettings(o, seqLenFor(o, m, N));
  planSteps(settings);   // a bad budget or batch fails before any data is read or sampled
  const data = shared ? await trainingData(o, m, settings.seqLen, threads, isCancelled, log) : undefined;
  const promptData = o.promptData ? await promptTrainingData(o, own, m, settings.seqLen, threads, isCancelled, log) : undefined;
  log(`bank: prompts ${o.prompts.join(', ')} right-aligned to position ${N}; ${settings.tokens} tokens each, batch ${settings.batchSize} × ${settings.gradAccum}, lr ${settings.lr}`);
  const r = await trainBank({
    model: m, lengths: o.prompts, positions: o.positions, data, promptData, settings, init: o.promptInit, initText: o.promptInitText, tokenizer: m.tokenizer,
    selectionLayer: o.selectionLayer, score: o.score, out: o.out, session: { threads }, isCancelled, claim,
    onProgress: (b) => {
      const what = `prompt ${b.prompt + 1}/${b.of} (${b.n} tokens)`;
      const within = b.train && b.train.steps > 0 ? b.train.step / b.train.steps : b.phase === 'reused' ? 1 : 0;
      const fraction = Math.min(1, (b.prompt + (b.phase === 'kv' || b.phase === 'saved' ? 1 : within)) / b.of);
      if (b.train) report({ ...trainProgressValue(b.train, fraction, what), prompt: b.prompt, of: b.of, n: b.n });
      else {
        report({
          phase: b.phase, what, prompt: b.prompt, of: b.of, n: b.n, step: 0, steps: 0, fraction, done: b.done, total: b.total,
          message: b.phase === 'kv' ? 'computing each prompt\'s K/V …' : b.phase === 'reused' ? `${what}: reused (trained before with these settings)`
            : b.phase === 'calibrate' ? `calibrating the selection: ${b.done}/${b.total} held-out documents` : `${what}: ${b.phase}`,
        });
      }
    },
  });
  return {
    status: r.status, dir: r.dir, positions: N, params: promptParams(m.config, o.prompts, 'idp'),
    prompts: r.prompts.map((x) => ({ n: x.n, start: x.start, run: x.run, reused: x.reused, initialEvalLoss: x.initialEvalLoss, evalLoss: x.evalLoss })),
    ...(r.calibration ? { calibration: r.calibration } : {}), ...(r.calibrationSkipped ? { calibrationSkipped: r.calibrationSkipped } : {}),
  };
}

/** routing 'assign': every round's documents per prompt and mean losses (round 0: k-means). */
export function roundLine(r: Omit<RoundReport, 'runs'>): string {
  const head = r.round === 0 ? 'k-means' : `round ${r.round}`;
  const losses = r.meanLoss ? `; mean loss ${r.meanLoss.map((v) => (Number.isFinite(v) ? v.toFixed(4) : '—')).join(' / ')} (all ${r.loss!.toFixed(4)}); ${r.moved} moved` : '';
  return `${head}: documents per prompt ${r.counts.join(' / ')} (held out ${r.heldoutCounts.join(' / ')})${losses}`;
}

async function routed(o: TrainBankOptions, m: LoadedModel, threads: number | undefined, claim: OutputClaim, hooks: JobHooks<TrainProgressValue>): Promise<TrainBankResult> {
  const report = (v: TrainProgressValue) => hooks.onProgress?.(v);
  const log = logTo(hooks);
  if (o.data === undefined || o.data === 'model') throw inputError('bank train: --routing assign routes documents: give them with --data FILE (text, JSONL with "text"; globs)');
  const tok = m.tokenizer;
  if (!tok) throw inputError('the model has no tokenizer: give --tokenizer', m.source);
  const N = o.positions ?? Math.max(...o.prompts);
  const rounds = o.rounds ?? 3;
  const settings = trainSettings(o, seqLenFor(o, m, N));
  planSteps(settings);
  const read = (entries: string[]) => entries.flatMap((e) => documentIds(e, tok, m.config, { maxTokens: Number.MAX_SAFE_INTEGER }).ids);
  const all = read(o.data);
  const { documents, heldout } = o.eval?.length ? { documents: all, heldout: read(o.eval) } : splitHoldout(all, o.holdout ?? 0.1);
  log(`routing ${documents.length} documents to ${o.prompts.length} prompts (${heldout.length} held out); k-means, then ${rounds} round(s) of ` +
    `${Math.floor(settings.tokens / rounds)} tokens per prompt and reassignment by loss`);
  const r = await trainRouted({
    model: m, lengths: o.prompts, positions: o.positions, documents, heldout, rounds, settings, init: o.promptInit, initText: o.promptInitText,
    tokenizer: tok, selectionLayer: o.selectionLayer, score: o.score, out: o.out, session: { threads }, isCancelled: cancelledBy(hooks.signal), claim,
    onProgress: (p) => {
      const fraction = Math.min(1, (p.round + (p.train && p.train.steps ? p.train.step / p.train.steps : 0)) / (p.rounds + 1));
      const base = { round: p.round, rounds: p.rounds, prompt: p.prompt, step: 0, steps: 0, fraction, done: p.done, total: p.total };
      if (p.report) report({ ...base, phase: 'round', message: roundLine(p.report) });
      else if (p.train) report({ ...trainProgressValue(p.train, fraction, `round ${p.round}/${p.rounds}, prompt ${p.prompt! + 1}`), round: p.round, rounds: p.rounds, prompt: p.prompt });
      else if (p.phase === 'score') report({ ...base, phase: 'score', message: `round ${p.round}: scored ${p.done}/${p.total} documents under every prompt` });
      else if (p.phase === 'kv') report({ ...base, phase: 'kv', message: 'computing each prompt\'s K/V …' });
      else if (p.phase === 'calibrate' || p.phase === 'saved') report({ ...base, phase: p.phase, message: p.phase });
    },
  });
  const last = [...r.rounds].reverse().find((x) => x.runs)?.runs ?? [];
  return {
    status: r.status, dir: r.dir, positions: N, params: promptParams(m.config, o.prompts, 'idp'),
    prompts: last.filter((x): x is NonNullable<typeof x> => !!x).map((x) => ({ n: x.n, start: x.start, run: x.run, reused: x.reused, initialEvalLoss: x.initialEvalLoss, evalLoss: x.evalLoss })),
    rounds: r.rounds.map(({ runs, ...x }) => ({ ...x, ...(runs ? { runs: runs.map((y) => (y ? { run: y.run, reused: y.reused, initialEvalLoss: y.initialEvalLoss, evalLoss: y.evalLoss } : null)) } : {}) })),
    assignment: r.assignment, heldoutAssignment: r.heldoutAssignment,
    ...(r.calibration ? { calibration: r.calibration } : {}), ...(r.calibrationSkipped ? { calibrationSkipped: r.calibrationSkipped } : {}),
  };
}
