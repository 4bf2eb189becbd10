// The one rule for the folders IDP Lab writes (compress, train, bank train / compare, study, and the
// engine-process jobs of the extension): what may be written into or replaced, and in which order.
//
//   1. Never `/`, the home folder, the working folder or any folder above it — whatever is asked.
//   2. A path that exists must be a folder.
//   3. "replace" writers (compress) fill a staging folder and rename it into place: a non-empty target
//      needs `overwrite`, and even then only a folder IDP Lab wrote is replaced.
//      "in-place" writers (train, bank, compare, study: they resume from what is there) write into an
//      absent or empty folder, or one IDP Lab wrote for the same kind of job.
//   4. The output's lock (output-lock.ts) is taken before any compute and the rules are checked again
//      under it; the writer computes, renames its staging folder into place, then releases the lock.
//
// "IDP Lab wrote it": the marker file MARKER, which every writer puts into each folder it creates, or —
// for folders written before the marker existed — the files each kind of job always left there.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { inputError } from '../errors';
import { lockOutput, OutputLock } from './output-lock';
import { renameIntoPlace } from './atomic-folder';

export const MARKER = '.idp-lab-output.json';

export type OutputKind = 'compress' | 'train' | 'bank' | 'compare' | 'study' | 'adapter' | 'model' | 'checkpoint';

/** Files that identify a folder an earlier IDP Lab (without the marker) wrote, by kind. */
const LEGACY: Array<[OutputKind, (dir: string) => boolean]> = [
  ['compress', (d) => has(d, 'idp-compress.json')],
  ['study', (d) => has(d, 'study.json') || (has(d, 'state') && has(d, 'compressed'))],
  ['bank', (d) => has(d, 'bank.json')],
  ['compare', (d) => has(d, 'compare.json')],
  ['train', (d) => has(d, 'result.json') || has(d, 'checkpoint', 'state.json') || has(d, 'train_log.jsonl')],
  ['adapter', (d) => has(d, 'adapter_config.json') && has(d, 'adapter_model.safetensors')],
  ['checkpoint', (d) => has(d, 'state.json') && has(d, 'params.safetensors')],
  // bank train / compare interrupted before their summary: only runs/, every entry an IDP training run
  ['bank', (d) => runsOnly(d, /^n\d+-at\d+-[0-9a-f]{10}$/)],
  ['compare', (d) => runsOnly(d, /^(prefix-\d+|lora-r\d+)-[0-9a-f]{10}$/)],
];

const has = (dir: string, ...parts: string[]) => fs.existsSync(path.join(dir, ...parts));

function runsOnly(dir: string, run: RegExp): boolean {
  const names = fs.readdirSync(dir);
  if (names.length !== 1 || names[0] !== 'runs' || !fs.statSync(path.join(dir, 'runs')).isDirectory()) return false;
  return fs.readdirSync(path.join(dir, 'runs')).every((n) => n.startsWith('.') || run.test(n));
}

/** Which kind of IDP Lab output `dir` holds (undefined: not one — or not a folder). */
export function outputKindOf(dir: string): OutputKind | undefined {
  try {
    if (!fs.statSync(dir).isDirectory()) return undefined;
    const mark = path.join(dir, MARKER);
    if (fs.existsSync(mark)) {
      try {
        const k = (JSON.parse(fs.readFileSync(mark, 'utf8')) as { kind?: OutputKind }).kind;
        if (typeof k === 'string') return k;
      } catch {
        // a damaged marker still marks the folder as ours
      }
      return 'model';
    }
    return LEGACY.find(([, test]) => test(dir))?.[0];
  } catch {
    return undefined;
  }
}

/** Writes the marker into `dir` (a folder IDP Lab creates, or the staging folder that becomes one). */
export function writeMarker(dir: string, kind: OutputKind): void {
  const file = path.join(dir, MARKER);
  if (fs.existsSync(file)) return;
  fs.writeFileSync(file, JSON.stringify({ producer: 'idp-lab', kind, created: new Date().toISOString() }) + '\n');
}

const real = (p: string) => { try { return fs.realpathSync(p); } catch { return path.resolve(p); } };

/** Why `abs` may never be an output folder (undefined: it may). Symbolic links are followed. */
export function forbiddenOutput(abs: string): string | undefined {
  const t = real(abs);
  if (t === path.parse(t).root) return 'it is the root of the file system';
  if (t === real(os.homedir())) return 'it is the home folder';
  const cwd = real(process.cwd());
  if (t === cwd) return 'it is the working folder';
  if (cwd.startsWith(t.endsWith(path.sep) ? t : t + path.sep)) return 'it holds the working folder';
  return undefined;
}

export type WriteMode = 'replace' | 'in-place';

export interface OutputRules {
  kind: OutputKind;
  mode: WriteMode;
  /** replace mode: a non-empty folder IDP Lab wrote may be replaced. */
  overwrite?: boolean;
}

/** In-place writers that may continue in a folder another kind of job wrote (a bank's runs are trainings). */
const CONTINUES: Partial<Record<OutputKind, OutputKind[]>> = { train: ['train'], bank: ['bank'], compare: ['compare'], study: ['study'] };

/** Throws an INPUT error naming `abs` when the rules forbid writing it; returns whether it exists non-empty. */
export function checkOutput(abs: string, r: OutputRules): boolean {
  const why = forbiddenOutput(abs);
  if (why) throw inputError(`cannot write an output here: ${why} (choose a new folder)`, abs);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    return false;
  }
  if (!st.isDirectory()) throw inputError('the output path exists and is not a folder', abs);
  const entries = fs.readdirSync(abs).filter((n) => n !== MARKER);
  if (!entries.length) return false;
  const kind = outputKindOf(abs);
  if (r.mode === 'replace') {
    if (!r.overwrite) throw inputError('the output folder exists and is not empty (pass --overwrite to replace it)', abs);
    if (!kind) throw inputError('the output folder holds files IDP Lab did not write; --overwrite replaces only an IDP Lab output folder (choose a new folder)', abs);
    return true;
  }
  if (!kind) throw inputError(`the output folder holds files IDP Lab did not write; ${r.kind} writes into an empty folder or one it wrote (choose a new folder)`, abs);
  if (!(CONTINUES[r.kind] ?? [r.kind]).includes(kind)) throw inputError(`the output folder holds an IDP Lab ${kind} output, not a ${r.kind} one (choose a new folder)`, abs);
  return true;
}

/** An output folder this process has locked and checked (claimOutput). */
export interface OutputClaim {
  readonly target: string;
  readonly rules: OutputRules;
  /** In-place writers: creates the folder (with the marker) when they first write into it. Returns it. */
  open(): string;
  /** Replace writers: renames a complete staging folder into place (rules checked again first). */
  commit(staging: string): void;
  /** Releases the lock. Idempotent. */
  release(): void;
}

/**
 * Claims `target` for a writer: the rules, then the lock, then the rules again under the lock (another
 * writer may have finished in between). Throws a typed INPUT error — with nothing created or deleted
 * — when refused.
 */
export function claimOutput(target: string, rules: OutputRules): OutputClaim {
  const abs = path.resolve(target);
  checkOutput(abs, rules);
  const lock: OutputLock = lockOutput(abs);
  try {
    checkOutput(abs, rules);
  } catch (e) {
    lock.release();
    throw e;
  }
  return {
    target: abs,
    rules,
    open: () => {
      fs.mkdirSync(abs, { recursive: true });
      writeMarker(abs, rules.kind);
      return abs;
    },
    commit: (staging) => {
      checkOutput(abs, rules);
      writeMarker(staging, rules.kind);
      renameIntoPlace(staging, abs);
    },
    release: () => lock.release(),
  };
}

/** Runs `body` holding a claim on `target`: the given one, or a new one released when `body` ends. */
export async function withClaim<T>(given: OutputClaim | undefined, target: string, rules: OutputRules, body: (c: OutputClaim) => Promise<T>): Promise<T> {
  const claim = given ?? claimOutput(target, rules);
  try {
    return await body(claim);
  } finally {
    if (!given) claim.release();
  }
}

/**
 * Replaces the sub-folder `target` of an output this process holds (a run's checkpoint/, adapter/,
 * model/) with the complete `staging` folder: only when `target` is absent, empty or IDP Lab's.
 */
export function replaceOwnFolder(staging: string, target: string, kind: OutputKind): void {
  if (fs.existsSync(target)) {
    const st = fs.statSync(target);
    if (!st.isDirectory()) throw inputError('the output path exists and is not a folder', target);
    // a folder from before the marker: its parent's kind vouches for it (model/ of a full training)
    if (fs.readdirSync(target).length && !outputKindOf(target) && !outputKindOf(path.dirname(target))) throw inputError('the folder holds files IDP Lab did not write; it is not replaced (choose a new folder)', target);
  }
  writeMarker(staging, kind);
  renameIntoPlace(staging, target);
}

/**
 * Claims the files of a benchmark report (`json`, and the `others` written beside it): none may be a
 * folder, and the lock is taken before any compute, as for folders. Whether an existing report file may
 * be replaced is the engine process's confinement rule (server/confinement); the CLI replaces it.
 */
export function claimReportFiles(json: string, others: string[]): { release(): void } {
  const abs = path.resolve(json);
  const check = () => {
    for (const f of [abs, ...others]) if (fs.existsSync(f) && fs.statSync(f).isDirectory()) throw inputError('the output path is a folder, not a file', f);
  };
  check();
  const lock = lockOutput(abs);
  try {
    check();
  } catch (e) {
    lock.release();
    throw e;
  }
  return lock;
}
