// Who owns a lock or a staging folder: a process id plus the process's start time, so that a pid the
// system has reused for another program is not taken for the owner, plus the host name, so that a lock
// on a shared (network) folder is never judged by a machine that cannot see the owner's processes.
//
// Start time: on Linux field 22 of /proc/PID/stat (clock ticks since boot, exact and cheap); elsewhere
// what `ps -o lstart=` prints (macOS, BSD), reduced to 8 hex digits; where neither answers (Windows) ''
// — then only "is the pid alive" is known, which is what a lock without a start time falls back to.

import * as cp from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';

export interface ProcessOwner {
  pid: number;
  /** startToken(pid) when the owner was recorded ('' where the platform cannot tell). */
  start: string;
  host: string;
}

/** A short token of `pid`'s start time: the same for the life of the process, different for a reused pid. */
export function startToken(pid: number): string | undefined {
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // the command name (field 2) is in parentheses and may hold spaces or ')': count fields after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = fields[22 - 3];
      if (ticks && /^\d+$/.test(ticks)) return Number(ticks).toString(36);
    } catch {
      return undefined;   // no such process
    }
  }
  if (process.platform === 'win32') return isAlive(pid) ? '' : undefined;
  const r = cp.spawnSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || !r.stdout?.trim()) return r.error ? (isAlive(pid) ? '' : undefined) : undefined;
  return crypto.createHash('sha1').update(r.stdout.trim()).digest('hex').slice(0, 8);
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let self: ProcessOwner | undefined;

/** This process as an owner. */
export function currentOwner(): ProcessOwner {
  return (self ??= { pid: process.pid, start: startToken(process.pid) ?? '', host: os.hostname() });
}

/**
 * Whether the recorded owner is certainly gone: on this host, and its pid is dead or now belongs to a
 * process that started at another time. An owner on another host is never judged gone.
 */
export function ownerGone(o: { pid: number; start: string; host?: string }): boolean {
  if (o.host !== undefined && o.host !== os.hostname()) return false;
  if (!(Number.isInteger(o.pid) && o.pid > 0)) return true;
  const now = startToken(o.pid);
  if (now === undefined) return true;
  return o.start !== '' && now !== '' && now !== o.start;
}
