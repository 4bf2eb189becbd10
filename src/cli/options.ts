// Shared plumbing of the `idp` commands: commander option parsers, signal handling, progress text.

import { Command, InvalidArgumentError } from 'commander';
import { reportError } from './errors';
import { epOption } from './gpu';
import { FIM_TEMPLATE_NAMES, isFimChoice } from '../engine/index';
import type { DataSource, FimChoice } from '../engine/index';

/** An integer option ≥ min. */
export const int = (name: string, min = 0) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
  return n;
};

/** A finite number option in [min, max]. */
export const num = (name: string, min: number, max = Infinity) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}]`);
  return n;
};

/** A finite number option ≥ min (error text without an upper bound). */
export const numAtLeast = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number ≥ ${min}`);
  return n;
};

/** A comma-separated list of token ids (non-negative integers). */
export const idList = (v: string): number[] => {
  const ids = v.split(',').map((x) => x.trim()).filter((x) => x !== '').map(Number);
  if (ids.length === 0 || !ids.every((n) => Number.isInteger(n) && n >= 0)) throw new InvalidArgumentError('--ids must be comma-separated token ids (non-negative integers)');
  return ids;
};

/** --fim-template: auto, none or a FIM format name. */
export const fimChoice = (v: string): FimChoice => {
  if (!isFimChoice(v)) throw new InvalidArgumentError(`--fim-template must be auto, none or one of ${FIM_TEMPLATE_NAMES.join(', ')}`);
  return v;
};

/** A repeatable option collecting every value. */
export const collect = (v: string, prev: string[]) => [...prev, v];

/** Seconds as a short ETA: 42s, 7m, 1.5h. */
export const fmtEta = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.round(s / 60)}m` : `${Math.round(s)}s`);

/** SIGINT/SIGTERM abort the job's signal (writing `message` once); a second signal exits at once (130). */
export function cancellation(message: string): { signal: AbortSignal; isCancelled: () => boolean; dispose: () => void } {
  const ac = new AbortController();
  const on = () => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
    process.stderr.write(message);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { signal: ac.signal, isCancelled: () => ac.signal.aborted, dispose: () => { process.off('SIGINT', on); process.off('SIGTERM', on); } };
}

/** Runs a job under Ctrl-C handling (`message` on the first signal); a failure sets the exit code by its kind. */
export async function runCancellable(message: string, body: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const c = cancellation(message);
  try {
    await body(c.signal);
  } catch (e) {
    process.exitCode = reportError(e);
  } finally {
    c.dispose();
  }
}

/** A data flag (--data, --calib): 'model' alone samples text from the model, else files / globs; none: undefined. */
export const dataSource = (entries: string[]): DataSource | undefined =>
  entries.length === 1 && entries[0] === 'model' ? 'model' : entries.length ? entries : undefined;

/** A comma list flag. */
export const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

/** The model flags every command taking --model has (--tokenizer, --threads, and --ep where it runs the model). */
export function modelOptions(c: Command, what = 'HF folder, GPTQ folder, .gguf or llama2.c .bin (default: the embedded default model)', ep = true): Command {
  c.option('--model <path>', what)
    .option('--tokenizer <path>', 'tokenizer file (llama2.c tokenizer.bin, or tokenizer.json)')
    .option('--threads <n>', 'ORT intra-op threads (default: 1 for models under 10M parameters, else ORT decides)', int('--threads', 1));
  if (ep) c.addOption(epOption());
  return c;
}
