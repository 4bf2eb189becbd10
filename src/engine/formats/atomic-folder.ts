// Writing a folder (or file) atomically: fill a staging entry beside it, then rename it into place.
//
// Staging names carry their owner: `.NAME.PID-START-HHHHRRRR.tmp` (PID and START from
// process/process-identity, HHHH the first hex digits of a hash of the host name, RRRR random). A sweep
// removes only staging entries whose owner is gone (same host, pid dead or started at another time), so
// a second process — another `idp`, another VS Code window — never removes a write still in progress.
// Names from before this scheme (`.tmp-NAME-XXXXXX`) are removed when older than an hour, as they were.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { currentOwner, ownerGone } from '../process/process-identity';
import { assertCallerAlive } from '../process/caller';

/** This machine in staging names (4 hex of the host name's SHA-1), worked out once. */
const HOST_TAG = crypto.createHash('sha1').update(os.hostname()).digest('hex').slice(0, 4);
const STAGING = /^\.(.+)\.(\d+)-([0-9a-z]*)-([0-9a-f]{4})[0-9a-f]{4}\.tmp$/;
// the extension's staging names before the owner's start time was recorded: `.NAME.PID-XXXXXXXX.tmp`
const STAGING_PID_ONLY = /^\.(.+)\.(\d+)-[0-9a-f]{8}\.tmp$/;

/** The staging name for `target` (a path beside it), owned by this process. */
export function stagingPath(target: string): string {
  const o = currentOwner();
  const name = `.${path.basename(target)}.${o.pid}-${o.start}-${HOST_TAG}${crypto.randomBytes(2).toString('hex')}.tmp`;
  return path.join(path.dirname(target), name);
}

/** host: undefined for the older names, which did not record it (they were only ever written here). */
interface StagingName { base: string; pid: number; start: string; host?: string }

function parseStaging(name: string): StagingName | undefined {
  const m = STAGING.exec(name);
  if (m) return { base: m[1], pid: Number(m[2]), start: m[3], host: m[4] };
  const l = STAGING_PID_ONLY.exec(name);
  return l ? { base: l[1], pid: Number(l[2]), start: '' } : undefined;
}

/** For a staging entry's name: whether its owner is gone (undefined: not a staging name). */
export function stagingOwnerGone(name: string): boolean | undefined {
  const s = parseStaging(name);
  if (!s) return undefined;
  if (s.host !== undefined && s.host !== HOST_TAG) return false;   // written from another machine (a shared folder): not ours to judge
  return ownerGone({ pid: s.pid, start: s.start });
}

/**
 * Removes the staging entries in `dir` whose owner is gone (and legacy `.tmp-*` ones older than an hour);
 * `base` limits it to those of one target name. Returns how many were removed.
 */
export function sweepStaging(dir: string, base?: string): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const e of names) {
    const s = parseStaging(e);
    const legacy = e.startsWith(base === undefined ? '.tmp-' : `.tmp-${base}-`);
    if (s ? base !== undefined && s.base !== base : !legacy) continue;
    const p = path.join(dir, e);
    try {
      const gone = s ? stagingOwnerGone(e) : Date.now() - fs.statSync(p).mtimeMs > 3600_000;
      if (!gone) continue;
      fs.rmSync(p, { recursive: true, force: true });
      n++;
    } catch {
      // another process may be removing it too
    }
  }
  return n;
}

/** Create a fresh staging folder beside `folder` (its parent is created; staging left by dead owners removed). */
export function tempFolderBeside(folder: string): string {
  const parent = path.dirname(folder);
  fs.mkdirSync(parent, { recursive: true });
  sweepStaging(parent, path.basename(folder));
  for (;;) {
    const tmp = stagingPath(folder);
    try {
      fs.mkdirSync(tmp);
      return tmp;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * Moves the complete staging folder `staging` to `target`. A `target` already there is first moved
 * aside under a staging name of its own (so a crash between the renames leaves something a sweep
 * removes, never a half-replaced folder), then removed. Callers decide beforehand whether `target`
 * may be replaced (output-folder.ts). Refused when the process that started this job has gone
 * (process/caller.ts): a killed caller's job never puts its output in place.
 */
export function renameIntoPlace(staging: string, target: string): void {
  assertCallerAlive(target);
  if (!fs.existsSync(target)) {
    fs.renameSync(staging, target);
    return;
  }
  const old = stagingPath(target);
  fs.renameSync(target, old);
  try {
    fs.renameSync(staging, target);
  } catch (e) {
    fs.renameSync(old, target);   // put the previous folder back
    throw e;
  }
  fs.rmSync(old, { recursive: true, force: true });
}
