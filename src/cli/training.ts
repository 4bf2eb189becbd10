// What `idp train` and `idp bank train|compare` share: the training flags and their mapping to the jobs'
// TrainingOptions (engine/jobs/training.ts), the step lines, and Ctrl-C handling that stops after the
// current micro-batch.

import { Command, Option } from 'commander';
import { DEFAULT_SETTINGS, TrainSettings } from '../engine/index';
import type { TrainingOptions, TrainProgressValue } from '../engine/index';
import { collect, dataSource, fmtEta, int, modelOptions, numAtLeast, runCancellable } from './options';

/** The flags every training command takes (data, budget, optimizer). */
export interface TrainingFlags {
  model?: string; tokenizer?: string; data: string[]; eval: string[]; out: string; tokens: number; seqlen?: number;
  batch: number; gradAccum: number; lr: number; wd: number; clip: number; warmup: number; schedule: TrainSettings['schedule'];
  evalEvery: number; checkpointEvery: number; seed: number; sampleTokens?: number; threads?: number; json?: boolean;
}

/**
 * Adds the flags of TrainingFlags to a training command (`idp train`, `idp bank train|compare`): model, data,
 * budget, optimizer, schedule, checkpoints. `help` words what differs: the output folder and the budget.
 */
export function trainingOptions(c: Command, help: { out: string; tokens: string }): Command {
  return modelOptions(c, 'HF folder, GPTQ folder, .gguf or llama2.c .bin (default: the embedded default model)', false)
    .option('--data <file>', 'training text: plain text, JSONL with "text" (C4), WikiText raw, a quoted glob; "model" samples a corpus from the model (repeatable)', collect, [] as string[])
    .option('--eval <file>', 'held-out text (default: the last blocks of the training data; repeatable)', collect, [] as string[])
    .requiredOption('--out <dir>', help.out)
    .option('--tokens <n>', help.tokens, int('--tokens', 1), DEFAULT_SETTINGS.tokens)
    .option('--seqlen <n>', 'tokens per row (default min(256, the context left))', int('--seqlen', 2))
    .option('--batch <n>', 'rows per forward/backward', int('--batch', 1), DEFAULT_SETTINGS.batchSize)
    .option('--grad-accum <n>', 'forward/backward runs per optimizer step', int('--grad-accum', 1), 1)
    .option('--lr <x>', 'peak learning rate (AdamW)', numAtLeast('--lr', 0), DEFAULT_SETTINGS.lr)
    .option('--wd <x>', 'AdamW decoupled weight decay', numAtLeast('--wd', 0), DEFAULT_SETTINGS.weightDecay)
    .option('--clip <x>', 'max gradient norm (0: off)', numAtLeast('--clip', 0), DEFAULT_SETTINGS.clip)
    .option('--warmup <x>', 'warmup steps (≥ 1) or fraction of the steps (< 1)', numAtLeast('--warmup', 0), DEFAULT_SETTINGS.warmup)
    .addOption(new Option('--schedule <s>', 'decay after warmup').choices(['cosine', 'linear', 'constant']).default('cosine'))
    .option('--eval-every <n>', 'held-out loss every n steps (0: start and end)', int('--eval-every', 0), 0)
    .option('--checkpoint-every <n>', 'checkpoint every n steps (0: end and Ctrl-C only)', int('--checkpoint-every', 0), 0)
    .option('--seed <s>', 'seed (data order, init, dropout)', int('--seed', 0), 0)
    .option('--sample-tokens <n>', 'size of the corpus sampled with --data model (default min(--tokens, 262144))', int('--sample-tokens', 2))
    .option('--json', 'print the result as JSON (no progress lines)');
}

/** The training flags as the jobs' options. */
export function trainingFlags(f: TrainingFlags): TrainingOptions {
  return {
    model: f.model, tokenizer: f.tokenizer, threads: f.threads, data: dataSource(f.data), eval: f.eval.length ? f.eval : undefined, out: f.out,
    tokens: f.tokens, seqlen: f.seqlen, batch: f.batch, gradAccum: f.gradAccum, lr: f.lr, weightDecay: f.wd, clip: f.clip, warmup: f.warmup,
    schedule: f.schedule, evalEvery: f.evalEvery, checkpointEvery: f.checkpointEvery, seed: f.seed, sampleTokens: f.sampleTokens,
  };
}

/** One step line of a training run inside a bigger job (a bank's prompt, a baseline), or undefined. */
export function stepLine(what: string, p: TrainProgressValue): string | undefined {
  if (p.phase === 'train') return `${what}: step ${p.step}/${p.steps} loss ${p.loss!.toFixed(4)} ${Math.round(p.tokensPerSecond!)} tok/s ETA ${fmtEta(p.etaSec!)}`;
  if (p.phase === 'eval' && p.evalLoss !== undefined) return `${what}: step ${p.step}/${p.steps} held-out loss ${p.evalLoss.toFixed(4)}`;
  return undefined;
}

/** Ctrl-C / SIGTERM: stop after the current micro-batch (checkpoint kept); errors are reported as exit codes. */
export function runTraining(body: (signal: AbortSignal) => Promise<void>): Promise<void> {
  return runCancellable('\nidp: stopping after this micro-batch (checkpoint kept; run again to resume)\n', body);
}
