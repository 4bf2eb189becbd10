// Jobs die with their caller.
//
// Two kinds of engine process are started by another process on someone's behalf: the CLI's huge-pages
// relaunch (huge-pages.ts: the user's `idp` waits for it) and the extension's engine process (server/main.ts).
// When that caller is killed outright (SIGKILL: `timeout -s KILL`, a CI runner, a task manager), no signal
// reaches the child, which used to finish the job and write its output folder long after the caller's exit
// status said it had failed — racing any retry. Such a child holds the read end of a pipe whose only write
// end its caller holds; the kernel closes that end when the caller dies however it dies, and the child exits.
// A job that is inside a long synchronous step notices only at its next turn of the event loop, so every
// rename of a finished output into place asks callerAlive() first (assertCallerAlive): the process may
// still be winding down, but nothing it finished after its caller died ever appears.
//
// A process nobody registered (a CLI run straight from a shell, with IDP_HUGE_PAGES=0 or off Linux) has no
// caller to watch: `nohup idp compress … &` must still write its output after the terminal closes.

import * as net from 'net';
import { runtimeError } from '../errors';

/** Environment variable naming the file descriptor of the caller's pipe (set by the caller, read once). */
export const CALLER_FD_ENV = 'IDP_CALLER_FD';
/** Exit status of a process that stopped because its caller went away (as if killed by SIGHUP). */
export const CALLER_GONE_EXIT = 129;

interface Watched { ppid: number; gone: boolean }
let watched: Watched | undefined;

/**
 * Exit (with `exitCode`) when `stream` ends or fails — the caller's end of a pipe closed — or when this
 * process is re-parented (its parent died; checked every `pollMs` as a second witness, e.g. where a
 * grandchild inherited the pipe's write end). The timer does not keep the process alive.
 */
export function dieWithCaller(stream: NodeJS.ReadableStream, exitCode = CALLER_GONE_EXIT, pollMs = 500): void {
  const w: Watched = watched = { ppid: process.ppid, gone: false };
  const gone = () => {
    if (w.gone) return;
    w.gone = true;
    process.exit(exitCode);
  };
  stream.on('end', gone);
  stream.on('close', gone);
  stream.on('error', gone);
  stream.resume();   // nothing is ever written; reading is how the end is seen
  setInterval(() => { if (process.ppid !== w.ppid) gone(); }, pollMs).unref();
}

/**
 * When this process was started with a caller pipe (CALLER_FD_ENV), watch it (dieWithCaller). The variable
 * is removed so that processes this one starts do not take an unrelated descriptor for a caller pipe.
 */
export function dieWithCallerFromEnv(): void {
  const v = process.env[CALLER_FD_ENV];
  if (v === undefined) return;
  delete process.env[CALLER_FD_ENV];
  const fd = Number(v);
  if (!Number.isInteger(fd) || fd < 3) return;
  const s = new net.Socket({ fd, readable: true, writable: false });
  s.unref();   // the pipe alone must not keep a finished job's process alive
  dieWithCaller(s);
}

/** False once the registered caller is known to be gone; true when there is none (see above). */
export function callerAlive(): boolean {
  return !watched || (!watched.gone && process.ppid === watched.ppid);
}

/** Call right before renaming a finished output into place: throws when the caller has gone. */
export function assertCallerAlive(output: string): void {
  if (!callerAlive()) throw runtimeError(`the process that started this job has gone; not writing ${output}`);
}
