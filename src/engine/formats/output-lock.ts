// An advisory lock per output: `.NAME.idp-lock` beside the folder (or file) NAME, holding the owner
// (pid, process start time, host; process/process-identity). Every IDP Lab writer takes it before any
// compute and holds it until its output is in place, so two jobs aimed at one folder cannot both run:
// the second is refused at once with a typed error instead of racing the first.
//
// Creating the lock is atomic and never shows a half-written file: the owner is written to a private
// file which is then hard-linked to the lock name (link fails if the name exists); file systems without
// hard links fall back to an O_EXCL create. A lock whose owner is gone (same host; pid dead or started
// at another time) is stale and taken over; a lock from another host is never taken over. Takeover is
// serialised by a second, short-lived `.NAME.idp-lock.break` file, so two processes that both found the
// same stale lock cannot both remove it (the second would remove the first one's fresh lock).

import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { inputError } from '../errors';
import { currentOwner, ownerGone, ProcessOwner } from '../process/process-identity';

interface LockRecord extends ProcessOwner {
  /** Distinguishes this lock from an earlier one of the same process on the same target. */
  nonce: string;
  target: string;
  since: string;
}

export interface OutputLock {
  file: string;
  /** Removes the lock file (only if it is still this lock). Idempotent. */
  release(): void;
}

export const lockPathFor = (target: string) => path.join(path.dirname(target), `.${path.basename(target)}.idp-lock`);

const held = new Set<string>();
let exitHook = false;

function readLock(file: string): LockRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as LockRecord;
    return r && typeof r.pid === 'number' && typeof r.start === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Create `file` with `text` only if it does not exist; false when it does. */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}-${crypto.randomBytes(4).toString('hex')}.new`;
  fs.writeFileSync(tmp, text);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  try {
    fs.writeFileSync(file, text, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Removes `file` if it still holds the stale record `seen`, under the takeover guard. */
function breakStale(file: string, seen: LockRecord | undefined): void {
  const guard = `${file}.break`;
  try {
    // a guard left by a process that died within these few lines is old: remove it
    if (Date.now() - fs.statSync(guard).mtimeMs > 10_000) fs.rmSync(guard, { force: true });
  } catch {
    // no guard
  }
  if (!createExclusive(guard, String(process.pid))) return;   // someone else is taking over: retry later
  try {
    const now = readLock(file);
    if (JSON.stringify(now) === JSON.stringify(seen)) fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

/** Describes a lock's owner for an error message. */
const describe = (r: LockRecord) => `process ${r.pid} on ${r.host}${r.since ? ` since ${r.since}` : ''}`;

/**
 * Takes the lock of `target` (its parent folder is created), or throws an INPUT error naming the
 * holder when another live process has it. The lock is released by `release()` or, failing that, when
 * this process exits normally; after a crash it is stale and the next writer takes it over.
 */
export function lockOutput(target: string): OutputLock {
  const abs = path.resolve(target);
  const file = lockPathFor(abs);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const rec: LockRecord = { ...currentOwner(), nonce: crypto.randomBytes(8).toString('hex'), target: abs, since: new Date().toISOString() };
  const text = JSON.stringify(rec) + '\n';
  for (let attempt = 0; ; attempt++) {
    if (createExclusive(file, text)) break;
    const other = readLock(file);
    // an unreadable lock is one being created right now (fallback path) or damaged: judge it by age
    const stale = other ? ownerGone(other) : lockAgeMs(file) > 10_000;
    if (!stale || attempt >= 20) {
      const self = other && other.pid === rec.pid && other.start === rec.start && other.host === rec.host ? ', another job of this process' : '';
      throw inputError(`the output is locked by ${other ? describe(other) : 'another process'}${self} (lock file ${file}); ` +
        'wait for that job or choose another output', abs);
    }
    breakStale(file, other);
  }
  held.add(file);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => { for (const f of held) releaseFile(f, undefined); });
  }
  let released = false;
  return {
    file,
    release: () => {
      if (released) return;
      released = true;
      releaseFile(file, rec.nonce);
    },
  };
}

function lockAgeMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

/** Unlinks `file` when it is this process's lock (and, given a nonce, that very lock). */
function releaseFile(file: string, nonce: string | undefined): void {
  const r = readLock(file);
  const me = currentOwner();
  if (r && r.pid === me.pid && r.start === me.start && r.host === me.host && (nonce === undefined || r.nonce === nonce)) fs.rmSync(file, { force: true });
  held.delete(file);
}
