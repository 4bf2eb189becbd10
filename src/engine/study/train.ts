// Training every recovery method of a study on the compressed model with the same data, token budget
// and optimizer: the bank's prompts through trainBank (idp/train-bank.ts: one run per prompt in the
// right-aligned layout, reused by key), prefix tuning and LoRA through runTraining in run folders keyed
// like compare.ts's (method, size, data, model weights, settings): a finished run is reused, an
// interrupted one resumes from its checkpoint.

import * as fs from 'fs';
import * as path from 'path';
import type { LoadedModel } from '../models/config';
import { Blocks, TrainData } from '../train/data';
import { runTraining, TrainProgress, TrainSettings } from '../train/trainer';
import { Prefix } from '../train/methods/prefix';
import { SoftPrompt } from '../train/methods/prompt';
import { Lora, LoraTarget } from '../train/methods/lora';
import type { TrainMethod } from '../train/methods/method';
import type { SessionOptions } from '../runtime/session';
import { IdpBank, modelInfo, SelectionScore } from '../idp/bank';
import { trainableOn } from '../idp/baselines';
import { dataKey, trainBank } from '../idp/train-bank';
import type { CalibrateResult } from '../idp/calibrate-bank';
import { bankLengths, MethodSpec, settingsKey } from './options';

export interface TrainingRecord { tokens: number; seconds: number; finalLoss?: number; reused: boolean; run: string }

export interface TrainedMethods {
  status: 'done' | 'cancelled';
  bank?: IdpBank;
  /** With every prompt on its own data: the bank's calibrated selection (or why it is not calibrated). */
  calibration?: CalibrateResult;
  calibrationSkipped?: string;
  /** Per bank prompt (bank order). */
  prompts: TrainingRecord[];
  prefix: Map<number, { method: Prefix; training: TrainingRecord }>;
  /** union:<n>: one prompt on every bank prompt's own text together. */
  union: Map<number, { method: SoftPrompt; training: TrainingRecord }>;
  lora: Map<number, { method: Lora; training: TrainingRecord }>;
}

export interface TrainJob {
  model: LoadedModel;
  methods: MethodSpec[];
  data: { train: Blocks; eval: Blocks };
  /** Per bank prompt its own data (prompt:<n>@<data>), undefined: the study's data. */
  promptData?: Array<TrainData | undefined>;
  settings: TrainSettings;
  targets: LoraTarget[];
  selectionLayer?: number;
  score?: SelectionScore;
  dir: string;
  session: SessionOptions;
  onProgress?: (what: string, p: TrainProgress | 'reused') => void;
  isCancelled?: () => boolean;
}

/** Wall time, tokens and last loss of a finished run folder (result.json). */
function record(run: string, reused: boolean): TrainingRecord {
  const r = JSON.parse(fs.readFileSync(path.join(run, 'result.json'), 'utf8')) as { seconds?: number; tokensSeen?: number; loss?: number };
  return { tokens: r.tokensSeen ?? 0, seconds: r.seconds ?? 0, finalLoss: r.loss, reused, run };
}

export async function trainMethods(job: TrainJob): Promise<TrainedMethods> {
  const { model: m, settings: s } = job;
  const out: TrainedMethods = { status: 'done', prompts: [], prefix: new Map(), lora: new Map(), union: new Map() };
  const lengths = bankLengths(job.methods);
  if (lengths.length) {
    const r = await trainBank({
      model: m, lengths, data: job.data, promptData: job.promptData, settings: s, out: path.join(job.dir, 'bank'), session: job.session,
      selectionLayer: job.selectionLayer, score: job.score, isCancelled: job.isCancelled,
      onProgress: (p) => {
        const what = `prompt ${p.n}`;
        if (p.phase === 'reused') job.onProgress?.(what, 'reused');
        else if (p.train) job.onProgress?.(what, p.train);
      },
    });
    if (r.status !== 'done') return { ...out, status: 'cancelled' };
    out.bank = r.bank;
    out.calibration = r.calibration;
    out.calibrationSkipped = r.calibrationSkipped;
    out.prompts = r.prompts.map((p) => record(p.run, p.reused));
  }
  const key = (what: Record<string, unknown>) => settingsKey({ ...what, data: dataKey(job.data), model: modelInfo(m).weights, settings: s });
  const trained = async <T extends TrainMethod>(what: string, run: string, make: () => Promise<T> | T, load: (adapter: string) => T, data = job.data) => {
    const adapter = path.join(run, 'adapter');
    if (fs.existsSync(path.join(run, 'result.json')) && fs.existsSync(adapter)) {
      job.onProgress?.(what, 'reused');
      return { method: load(adapter), training: record(run, true) };
    }
    const method = await make();
    const r = await runTraining({
      method: trainableOn(m, method), data, out: run, settings: s, session: job.session,
      isCancelled: job.isCancelled, onProgress: (p) => job.onProgress?.(what, p),
    });
    return r.status === 'done' ? { method, training: record(run, false) } : undefined;
  };
  for (const spec of job.methods) {
    if (spec.kind === 'prefix') {
      const t = spec.size!;
      const r = await trained(spec.id, path.join(job.dir, `prefix-${t}-${key({ prefix: t })}`), () => Prefix.create(m, { tokens: t, seed: s.seed }), (a) => Prefix.load(m, a));
      if (!r) return { ...out, status: 'cancelled' };
      out.prefix.set(t, r);
    } else if (spec.kind === 'union') {
      const n = spec.size!;
      const data = unionData((job.promptData ?? []).filter((d): d is TrainData => d !== undefined));
      const r = await trained(spec.id, path.join(job.dir, `union-${n}-${settingsKey({ n, data: dataKey(data), model: modelInfo(m).weights, settings: s })}`),
        () => SoftPrompt.create(m, { tokens: n, seed: s.seed }), (a) => SoftPrompt.load(m, a), data);
      if (!r) return { ...out, status: 'cancelled' };
      out.union.set(n, r);
    } else if (spec.kind === 'lora') {
      const rank = spec.size!;
      const r = await trained(spec.id, path.join(job.dir, `lora-r${rank}-${key({ rank, targets: job.targets })}`),
        () => Lora.create(m, { rank, targets: job.targets, seed: s.seed }), (a) => Lora.load(m, a));
      if (!r) return { ...out, status: 'cancelled' };
      out.lora.set(rank, r);
    }
  }
  return out;
}

/** The texts of several prompts as one: the same number of blocks from each (the smallest count), interleaved. */
export function unionData(sets: TrainData[]): TrainData {
  const mix = (blocks: Blocks[]): Blocks => {
    const k = Math.min(...blocks.map((b) => b.count));
    const T = blocks[0].T;
    const ids = new Int32Array(k * blocks.length * T);
    for (let i = 0; i < k; i++) blocks.forEach((b, j) => ids.set(b.get(i), (i * blocks.length + j) * T));
    return new Blocks(ids, T);
  };
  return { train: mix(sets.map((d) => d.train)), eval: mix(sets.map((d) => d.eval)) };
}
