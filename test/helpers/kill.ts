// Processes as the kernel sees them (Linux /proc): who is whose child, who is still running, and polling
// for a condition with a deadline (tests never sleep blindly).

import * as fs from 'fs';

/** State letter of `pid` from /proc (R, S, D, Z, …), or undefined when there is no such process. */
function state(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Running: it exists and is not a zombie (a zombie has finished; only its exit status is left). */
export const running = (pid: number): boolean => { const s = state(pid); return s !== undefined && s !== 'Z'; };

/** Pids whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // it exited while we looked
    }
  }
  return out;
}

/** Resolves with the first truthy value of `probe`, polled every `everyMs`; rejects after `ms` with `what`. */
export async function waitFor<T>(probe: () => T | undefined | false, ms: number, what: string, everyMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** SIGKILL `pid` if it still runs (cleanup after a failed assertion). */
export function killIfRunning(pid: number): void {
  try {
    if (running(pid)) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
