// Which paths a client may have the engine read and write, and the check of a request against them.
//
// A client declares its folders once, in `idp/initialize` ({writable, readable?}: absolute paths).
// From then on the engine process runs a request only when every path it reads (request-paths.ts)
// is inside a readable folder (any path when `readable` is not declared) and every path it writes is
// strictly inside a writable one, and it never overwrites a file it did not create itself (a bench
// report given as `out` that is already there, say). A client that declares nothing (an older
// client, a test, a trusted tool) gets full access, as the CLI has in-process.
//
// Containment compares real paths: the longest existing part of a path is resolved through symbolic
// links, so a link inside an allowed folder that points outside it is outside; `..` cannot climb out.
//
// The extension runs the same `accessProblem` before it sends a request (src/extension/trust.ts), so
// a refused path never reaches the engine; the engine's own check is the backstop.

import * as fs from 'fs';
import * as path from 'path';
import { denied, inputError } from '../engine/errors';
import { compareSource, requestPaths, RequestContext, RequestPaths } from './request-paths';
import { Methods } from '../protocol/engine-rpc';
import type { InitializeParams } from '../protocol/engine-rpc';

/** Is there anything at `p` (a dangling symbolic link too: it is not ours to replace)? */
function present(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A path with its longest existing prefix resolved through symbolic links (the rest as written). */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync.native(cur), ...rest.reverse());
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return abs;
      rest.push(path.basename(cur));
      cur = up;
    }
  }
}

/** Is `p` `root` or inside it (`strictly`: inside only)? Both as real paths. */
export function isInside(p: string, root: string, strictly = false): boolean {
  const rel = path.relative(realPath(root), realPath(p));
  if (rel === '') return !strictly;
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** The declared folders, checked (absolute paths); undefined: full access. */
export function checkAccess(p: unknown): InitializeParams | undefined {
  if (p === undefined || p === null) return undefined;
  if (typeof p !== 'object' || Array.isArray(p)) throw inputError('initialize: parameters must be an object {writable, readable?}');
  const o = p as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => k !== 'writable' && k !== 'readable');
  if (unknown.length) throw inputError(`initialize: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`);
  const folders = (key: string, v: unknown): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && path.isAbsolute(x))) throw inputError(`initialize: ${key} must be an array of absolute paths, got ${JSON.stringify(v)}`);
    return v.map((x: string) => path.resolve(x));
  };
  if (o.writable === undefined) throw inputError('initialize: writable is required when declaring folders (an empty array: the engine writes nothing)');
  return { writable: folders('writable', o.writable), ...(o.readable !== undefined ? { readable: folders('readable', o.readable) } : {}) };
}

/** The first path of `paths` that `access` does not allow, as a DENIED error; undefined when all are allowed. */
export function accessProblem(access: InitializeParams | undefined, paths: RequestPaths, method: string): Error | undefined {
  if (!access) return undefined;
  const what = method.replace(/^idp\//, '');
  if (access.readable) {
    const bad = paths.reads.find((r) => !access.readable!.some((root) => isInside(r, root)));
    if (bad !== undefined) return denied(bad, `${what}: outside the folders this engine may read (${access.readable.join(', ') || 'none'})`);
  }
  const out = paths.writes.find((w) => !access.writable.some((root) => isInside(w, root, true)));
  if (out !== undefined) return denied(out, `${what}: outside the folders this engine may write (${access.writable.join(', ') || 'none'})`);
  return undefined;
}

/** The engine process's side: the declaration, and what this process created (it may replace those). */
export class Confinement {
  private access?: InitializeParams;
  private declared = false;
  private created = new Set<string>();

  /** `idp/initialize`'s parameters; once per process (the folders cannot be widened later). */
  declare(p: unknown): void {
    if (this.declared) throw inputError('initialize: the engine was already initialized (its folders are declared once, at start-up)');
    this.access = checkAccess(p);
    this.declared = true;
  }

  get confined(): boolean {
    return this.access !== undefined;
  }

  /**
   * Runs `run` if `method` with `params` stays inside the declared folders and overwrites nothing this
   * process did not create; outputs it creates are remembered as its own.
   */
  async run<T>(method: string, params: unknown, ctx: RequestContext, run: () => Promise<T>): Promise<T> {
    if (!this.access) return run();
    this.pinCompare(method, params, ctx);
    const paths = requestPaths(method, params, ctx);
    const problem = accessProblem(this.access, paths, method);
    if (problem) throw problem;
    const existing = paths.writes.filter(present);
    const foreign = existing.find((w) => !this.created.has(realPath(w)));
    if (foreign !== undefined) throw denied(foreign, `${method.replace(/^idp\//, '')}: already exists and was not written by this engine: it is not overwritten (choose a new output)`);
    try {
      return await run();
    } finally {
      // partial outputs of a failed request are ours too (the client removes its staging folder)
      for (const w of paths.writes) if (!existing.includes(w) && present(w)) this.created.add(realPath(w));
    }
  }

  /**
   * `compare: true` names no path: with reads confined, the source it stands for is resolved here and
   * sent on as that path, so the model compared with is exactly the one checked.
   */
  private pinCompare(method: string, params: unknown, ctx: RequestContext): void {
    if (!this.access?.readable || method !== Methods.inspect.method || !params || typeof params !== 'object') return;
    const p = params as { model?: unknown; compare?: unknown };
    if (p.compare !== true) return;
    const model = typeof p.model === 'string' ? p.model : ctx.loadedModel;
    const source = model ? compareSource(model) : undefined;
    if (!source) throw inputError(`inspect: compare: ${model ?? 'the model'} names no source model in idp-compress.json: name the uncompressed model to compare with`);
    p.compare = source;
  }
}
