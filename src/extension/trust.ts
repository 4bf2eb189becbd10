// Workspace trust → the folders the engine may use, and the one check every path the extension hands
// the engine goes through.
//
// Trusted workspace: the engine reads anything, and writes only into the lab (its runs are staged
// there). Restricted Mode: it reads only the default model, the lab (in global storage, written by
// the extension itself) and the staged data folder, and writes only into the lab. The same folders
// are declared to the engine process at start-up (idp/initialize), which enforces them too; the
// editor's engine (generation, completion, the Inspector) writes nothing.
//
// `requestProblem` is the check: the paths a request reads and writes (server/request-paths.ts:
// models, banks and their sources, comparison models, tokenizers, data folders, task files, globs'
// base folders, outputs) against these folders. EngineClient runs it on every request it sends;
// commands run it early to refuse with a message before a job starts. Imports no `vscode`.

import { defaultModelPath, dataDir } from '../engine/defaults';
import { accessProblem } from '../server/confinement';
import { requestPaths, RequestContext } from '../server/request-paths';
import type { InitializeParams } from '../protocol/engine-rpc';

export interface TrustState {
  trusted: boolean;
  /** The lab folder (.idp in a trusted workspace, else the extension's global storage). */
  labRoot: string;
}

/** Which engine: the editor's (generation, completion, Inspector) or the job engine (workflows). */
export type EngineRole = 'editor' | 'jobs';

/** The folders an engine of `role` may use in this workspace. */
export function engineAccess(t: TrustState, role: EngineRole): InitializeParams {
  const writable = role === 'jobs' ? [t.labRoot] : [];
  return t.trusted ? { writable } : { writable, readable: untrustedReadable(t) };
}

/** What Restricted Mode lets the engine (and the extension) read. */
export function untrustedReadable(t: TrustState): string[] {
  return [defaultModelPath(), t.labRoot, dataDir()];
}

/** Why the engine may not run `method` with `params` in this workspace (a DENIED IdpError), or undefined. */
export function requestProblem(t: TrustState, method: string, params: unknown, ctx: RequestContext = {}): Error | undefined {
  return accessProblem(engineAccess(t, 'jobs'), requestPaths(method, params, ctx), method);
}

/** May the extension itself read `p` (a bank's bank.json, say) in this workspace? */
export function readAllowed(t: TrustState, p: string): boolean {
  return accessProblem(engineAccess(t, 'jobs'), { reads: [p], writes: [] }, 'read') === undefined;
}
