// What Train Prompt Bank and Train Baseline share: the training arguments a command takes, their
// defaults, and turning engine training progress into job progress.

import type { DataSource, TrainProgressValue } from '../../protocol/engine-rpc';
import type { ProgressSample } from '../progress-format';

export interface TrainingArgs {
  model?: string;
  data?: DataSource;
  eval?: string[];
  tokens?: number;
  seqlen?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  sampleTokens?: number;
}

export const TRAINING_ARG_KEYS = ['model', 'data', 'eval', 'tokens', 'seqlen', 'batch', 'lr', 'seed', 'sampleTokens'] as const;

/** Default token budget (per prompt for a bank): minutes on a laptop CPU for the default model. */
export const DEFAULT_TOKENS = 32_768;

/** The training settings of a request from the arguments (engine defaults where not given). */
export function trainingParams(a: TrainingArgs, model: string, data: DataSource, tokens: number) {
  return {
    model, data, eval: a.eval, tokens, seqlen: a.seqlen, batch: a.batch, lr: a.lr, seed: a.seed,
    sampleTokens: a.sampleTokens ?? (data === 'model' ? Math.min(tokens, 65_536) : undefined),
  };
}

export const trainSample = (v: TrainProgressValue): ProgressSample => ({
  fraction: v.fraction, tokensPerSecond: v.tokensPerSecond, message: v.message,
});
