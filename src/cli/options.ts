// Shared plumbing of the `idp` commands: commander option parsers, signal handling, progress text.

import { InvalidArgumentError } from 'commander';

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

/** A repeatable option collecting every value. */
export const collect = (v: string, prev: string[]) => [...prev, v];

/** ORT intra-op threads: the --threads flag, else the engine's rule (models/config.ts). */
export { threadsFor } from '../engine/models/config';

/** Seconds as a short ETA: 42s, 7m, 1.5h. */
export const fmtEta = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.round(s / 60)}m` : `${Math.round(s)}s`);

/** SIGINT/SIGTERM set a flag the long job polls (writing `message` once); a second signal exits at once (130). */
export function cancellation(message: string): { isCancelled: () => boolean; dispose: () => void } {
  let flag = false;
  const on = () => {
    if (flag) process.exit(130);
    flag = true;
    process.stderr.write(message);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { isCancelled: () => flag, dispose: () => { process.off('SIGINT', on); process.off('SIGTERM', on); } };
}
