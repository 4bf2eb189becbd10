// What every job (engine/jobs/*) takes besides its options: where its progress goes, what stops it, and
// how strict its path checks are. The CLI and the engine process each fill these in their own way
// (stderr lines and Ctrl-C; `$/progress` and `$/cancelRequest`); the job does the same work for both.

import type { OutputClaim } from '../formats/output-folder';

export interface JobHooks<P> {
  /** Structured progress (the engine process streams it as is; the CLI prints lines from it). */
  onProgress?: (p: P) => void;
  /** Aborting stops the job after its current unit of work (what that is depends on the job). */
  signal?: AbortSignal;
  /** Warnings about the inputs that do not stop the job (a bank saved by an older build, say). */
  onWarning?: (message: string) => void;
  /** The caller's claim on the job's output (output-folder.ts); else the job claims it before any compute. */
  claim?: OutputClaim;
  /**
   * Every path in the options must be absolute (the engine process: its working folder is not its
   * client's). Without it, relative paths resolve against the working folder (the CLI).
   */
  absolutePaths?: boolean;
}

/** The job's cancellation poll. */
export const cancelledBy = (signal: AbortSignal | undefined) => (): boolean => !!signal?.aborted;
