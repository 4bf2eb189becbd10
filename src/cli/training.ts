// What `idp train` and `idp bank train|compare` share: settings from the flags, the training data (read or
// sampled from the model), and Ctrl-C handling that stops after the current micro-batch.

import { Command, Option } from 'commander';
import { LoadedModel } from '../engine/models/config';
import { CausalLM } from '../engine/runtime/lm';
import { inputError } from '../engine/errors';
import { loadCorpus, readTrainingDocs, sampleCorpus, TrainData } from '../engine/train/data';
import { DEFAULT_SETTINGS, TrainProgress, TrainSettings } from '../engine/train/trainer';
import { reportError } from './errors';
import { collect, fmtEta, int, numAtLeast } from './options';

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
  return c
    .option('--model <path>', 'HF folder, GPTQ folder, .gguf or llama2.c .bin (default: the embedded default model)')
    .option('--tokenizer <path>', 'tokenizer file')
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
    .option('--threads <n>', 'ORT intra-op threads (default: 1 under 10M parameters)', int('--threads', 1))
    .option('--json', 'print the result as JSON (no progress lines)');
}

export function trainSettings(f: TrainingFlags, seqLen: number): TrainSettings {
  return {
    ...DEFAULT_SETTINGS, seqLen, batchSize: f.batch, gradAccum: f.gradAccum, tokens: f.tokens, lr: f.lr, weightDecay: f.wd,
    clip: f.clip, warmup: f.warmup, schedule: f.schedule, evalEvery: f.evalEvery, checkpointEvery: f.checkpointEvery, seed: f.seed,
  };
}

/** Training and held-out blocks: `--data model` samples a corpus from the model, else the files are read. */
export async function trainingData(
  f: TrainingFlags, m: LoadedModel, seqLen: number, threads: number | undefined, isCancelled: () => boolean, log: (s: string) => void,
): Promise<TrainData> {
  if (f.data.length === 1 && f.data[0] === 'model') {
    const n = f.sampleTokens ?? Math.min(f.tokens, 262_144);
    log(`sampling a ${n}-token corpus from the model (data-free) …`);
    const all = await sampleCorpus(new CausalLM(m, { threads }), m.tokenizer, { tokens: n, seqLen, seed: f.seed, isCancelled });
    if (all.count < 2) throw inputError('the sampled corpus is a single block: raise --sample-tokens');
    const nEval = Math.max(1, Math.min(64, Math.round(all.count * 0.05)));
    const ev = all.slice(all.count - nEval, all.count);
    // every sampled block is one sample from BOS: the held-out blocks are the held-out documents
    return { train: all.slice(0, all.count - nEval), eval: ev, heldoutDocs: Array.from({ length: ev.count }, (_, i) => Array.from(ev.get(i))) };
  }
  if (!m.tokenizer) {
    readTrainingDocs(f.data);   // problems with the files first
    throw inputError('the model has no tokenizer (give --tokenizer, or use --data model)', m.source);
  }
  const c = loadCorpus(f.data, m.tokenizer, m.config, { seqLen, evalFiles: f.eval });
  log(`data: ${c.files.length} file(s), ${c.tokens} tokens → ${c.train.count} training and ${c.eval.count} held-out blocks of ${seqLen}`);
  return c;
}

/** One progress line of a training run inside a bigger job (a bank's prompt, a baseline), or undefined. */
export function stepLine(what: string, p: TrainProgress): string | undefined {
  if (p.phase === 'train') return `${what}: step ${p.step}/${p.steps} loss ${p.loss!.toFixed(4)} ${Math.round(p.tokensPerSec!)} tok/s ETA ${fmtEta(p.etaSec!)}`;
  if (p.phase === 'eval' && p.evalLoss !== undefined) return `${what}: step ${p.step}/${p.steps} held-out loss ${p.evalLoss.toFixed(4)}`;
  return undefined;
}

/**
 * Per prompt its own data source from the --prompt-data entries (one per prompt, in order): a data list (files,
 * globs, or ['model']), or undefined for '-' and for prompts past the last entry (they train on the shared --data).
 */
export function ownData(entries: string[], prompts: number): Array<string[] | undefined> {
  if (entries.length > prompts) throw inputError(`${entries.length} --prompt-data for ${prompts} prompts: give one per prompt, in order ('-' for the shared --data)`);
  return entries.map((e) => (e.trim() === '-' ? undefined : [e]));
}

/**
 * Each prompt's own training data (undefined where it has none), read like --data (the same source read once).
 * A prompt's held-out blocks are the last of its own stream: the shared --eval files are not its kind of text.
 */
export async function promptTrainingData(
  f: TrainingFlags, sources: Array<string[] | undefined>, m: LoadedModel, seqLen: number, threads: number | undefined,
  isCancelled: () => boolean, log: (s: string) => void,
): Promise<Array<TrainData | undefined>> {
  const read = new Map<string, TrainData>();
  const out: Array<TrainData | undefined> = [];
  for (const [i, data] of sources.entries()) {
    const key = JSON.stringify(data);
    if (data && !read.has(key)) read.set(key, await trainingData({ ...f, data, eval: [] }, m, seqLen, threads, isCancelled, (s) => log(`prompt ${i + 1}: ${s}`)));
    out.push(data ? read.get(key) : undefined);
  }
  return out;
}

/** Ctrl-C / SIGTERM: stop after the current micro-batch (checkpoint kept); errors are reported as exit codes. */
export async function cancellable(body: (isCancelled: () => boolean) => Promise<void>): Promise<void> {
  let cancelled = false;
  const onSignal = () => { cancelled = true; process.stderr.write('\nidp: stopping after this micro-batch (checkpoint kept; run again to resume)\n'); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await body(() => cancelled);
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
