// Transparent huge pages for the weights ORT prepacks.
//
// On the CPU, ORT copies every constant MatMul weight into a prepacked buffer from malloc; decoding then
// streams all of them once per token, so a 100M-parameter F32 model reads ~400 MB per step through 4 KiB
// pages (~100 000 TLB entries). glibc (≥ 2.35) puts its large mmap'ed chunks on transparent huge pages
// when the tunable `glibc.malloc.hugetlb=1` is set, which works wherever THP is `madvise` or `always`.
// Measured here (AMD EPYC, THP `madvise`, 100M random Llama, one thread): 40.5 → 46.5 tok/s, same peak
// RSS (docs/engine.md). Tunables are read when a process starts, so the engine's processes get it in
// their environment: the extension's engine children (engine-client.ts) and the CLI and benchmark
// scripts, which relaunch themselves once with it (relaunchWithHugePages). IDP_HUGE_PAGES=0 turns it off.
// The same relaunch carries the CUDA library folders (gpu/cuda-env.ts), which the loader also reads only
// at start.

import * as cp from 'child_process';
import { CALLER_FD_ENV, dieWithCallerFromEnv } from '../process/caller';
import { withCudaLibraryPath } from './gpu/cuda-env';

export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

const wanted = (env: NodeJS.ProcessEnv) => process.platform === 'linux' && env.IDP_HUGE_PAGES !== '0';

/** Whether `env` (default: this process's) asks glibc for huge pages. */
export function hugePagesOn(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.GLIBC_TUNABLES ?? '').split(':').includes(HUGE_PAGES_TUNABLE);
}

/** `env` with the huge-pages tunable added to any tunables already there (Linux; unless IDP_HUGE_PAGES=0). */
export function withHugePages(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (!wanted(env) || hugePagesOn(env)) return env;
  const tunables = [env.GLIBC_TUNABLES, HUGE_PAGES_TUNABLE].filter(Boolean).join(':');
  return { ...env, GLIBC_TUNABLES: tunables };
}

/** `env` without the huge-pages tunable (what a process started by someone else would see). */
export function withoutHugePages(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const rest = (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t && t !== HUGE_PAGES_TUNABLE);
  const out = { ...env };
  if (rest.length) out.GLIBC_TUNABLES = rest.join(':');
  else delete out.GLIBC_TUNABLES;
  return out;
}

/**
 * Runs this script again in a child with the tunable set (and the CUDA library folders on LD_LIBRARY_PATH,
 * when the CUDA provider is installed and they are off it), when this process lacks them; the parent then
 * waits and leaves with the child's exit code or signal. Returns false (nothing done) when the environment
 * already has them or they are not wanted. The child runs in its own process group and the parent passes SIGINT,
 * SIGTERM and SIGHUP on: a terminal's Ctrl-C then reaches the child once, as if it were the process the
 * user started (the CLI reads a second Ctrl-C as "stop now"). Nothing in the CLI reads the terminal.
 * A signal that cannot be passed on (SIGKILL of the parent) must still end the child: it gets the read end
 * of a pipe (fd 3) that only the parent can write to, and exits when that closes (caller.ts).
 */
export function relaunchWithHugePages(): boolean {
  const want = withCudaLibraryPath(withHugePages());
  if (want === process.env) {
    dieWithCallerFromEnv();
    return false;
  }
  const env = { ...want, [CALLER_FD_ENV]: '3' };
  const child = cp.spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env, detached: true });
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => [sig, () => { child.kill(sig); }] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  child.on('error', (e) => {
    process.stderr.write(`idp: cannot start ${process.execPath} again with huge pages / the CUDA library path (${e.message}); IDP_HUGE_PAGES=0 IDP_CUDA_LIBRARY_PATH=0 skips this\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const [sig, h] of handlers) process.off(sig, h);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
  return true;
}
