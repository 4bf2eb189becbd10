// The bank compare job (`idp bank compare`): IDP against no prompt, the bank's prompts alone, their
// concatenation, prefix tuning and LoRA, every trained method on the same data, budget and optimizer
// (engine/idp/compare.ts): held-out NLL and parameter counts.

import { IdpBank, SelectionScore } from '../idp/bank';
import { compareMethods, CompareResult } from '../idp/compare';
import { LORA_TARGETS, LoraTarget } from '../train/methods/lora';
import { planSteps } from '../train/trainer';
import { inputError } from '../errors';
import { withClaim } from '../formats/output-folder';
import { ParamChecker } from './check';
import { cancelledBy, JobHooks } from './hooks';
import { openModel } from './model';
import { checkTraining, seqLenFor, TRAINING_KEYS, trainingData, TrainingOptions, trainProgressValue, TrainProgressValue, trainSettings } from './training';

export interface BankCompareOptions extends TrainingOptions {
  /** The bank (idp bank train). */
  bank: string;
  /** Prefix-tuning lengths and LoRA ranks to train (default none). */
  prefix?: number[];
  ranks?: number[];
  /** LoRA targets (default q,k,v,o,gate,up,down). */
  targets?: string[];
  /** Override the bank's selection layer and score. */
  selectionLayer?: number;
  score?: SelectionScore;
}

const KEYS = [...TRAINING_KEYS, 'bank', 'prefix', 'ranks', 'targets', 'selectionLayer', 'score'] as const;
const lengths = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 1;

export function checkBankCompareOptions(o: BankCompareOptions, absolutePaths = false): void {
  const c = ParamChecker.of('bank compare', o, KEYS, absolutePaths);
  checkTraining(c);
  c.path('bank', true);
  c.array('prefix', lengths, 'a non-empty array of prefix lengths (positive integers)');
  c.array('ranks', lengths, 'a non-empty array of LoRA ranks (positive integers)');
  if (o.targets !== undefined) {
    c.array('targets', (x) => typeof x === 'string', 'a non-empty array of LoRA targets');
    const bad = o.targets.find((t) => !(LORA_TARGETS as readonly string[]).includes(t));
    if (bad) throw inputError(`bank compare: unknown target '${bad}' (--targets: use ${LORA_TARGETS.join(', ')})`);
  }
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
}

export async function run(o: BankCompareOptions, hooks: JobHooks<TrainProgressValue> = {}): Promise<CompareResult> {
  checkBankCompareOptions(o, hooks.absolutePaths);
  return withClaim(hooks.claim, o.out, { kind: 'compare', mode: 'in-place' }, async (claim) => {   // before any compute
    const log = (message: string) => hooks.onProgress?.({ phase: 'data', step: 0, steps: 0, fraction: 0, message });
    const isCancelled = cancelledBy(hooks.signal);
    const peek = IdpBank.load(o.bank);
    const { m, threads } = await openModel(o);
    const settings = trainSettings(o, seqLenFor(o, m, Math.max(peek.positions, peek.slots)));
    planSteps(settings);
    const data = await trainingData(o, m, settings.seqLen, threads, isCancelled, log);
    const bank = IdpBank.load(o.bank, m, { onWarning: hooks.onWarning });
    if (o.selectionLayer !== undefined) bank.selectionLayer = o.selectionLayer;
    if (o.score) bank.score = o.score;
    return compareMethods({
      model: m, bank, data, settings, prefix: o.prefix ?? [], ranks: o.ranks ?? [], targets: (o.targets ?? [...LORA_TARGETS]) as LoraTarget[], out: o.out,
      session: { threads }, isCancelled, claim,
      onProgress: (p) => {
        if (p.phase === 'reused') log(`${p.what}: reused`);
        else if (p.phase === 'eval') log(`scoring ${p.what} on ${data.eval.count} held-out blocks …`);
        else if (p.train) hooks.onProgress?.(trainProgressValue(p.train, p.train.steps ? p.train.step / p.train.steps : 0, p.what));
      },
    });
  });
}
