// The extension's side of the engine process. Imports no `vscode` (unit-tested with a real child
// process): the extension passes in where to log and what to say when the engine dies.
//
// - start(): spawns `node dist/server.js` (the extension host's own Node; ELECTRON_RUN_AS_NODE for
//   desktop VS Code) and connects vscode-jsonrpc over its stdio.
// - Every call is async; nothing here ever waits synchronously on the engine.
// - When the process dies unexpectedly (killed, out of memory, native crash) every pending call
//   rejects with a RUNTIME IdpError saying so, `onCrash` is told, and the engine is started again
//   and the last model reloaded, up to MAX_RESTARTS within RESTART_WINDOW_MS (then it stays down
//   and says why; the next call tries again).
// - A cancelled generation that the engine does not finish within `cancelGraceMs` (stuck in a
//   native call) is ended by restarting the engine, so no progress notification waits forever.

import * as cp from 'child_process';
import {
  CancellationTokenSource, createMessageConnection, MessageConnection, ProgressType, RequestType, ResponseError, StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import { IdpError, runtimeError } from '../engine/errors';
import { withHugePages } from '../engine/runtime/huge-pages';
import { withCudaLibraryPath } from '../engine/runtime/gpu/cuda-env';
import {
  ENGINE_ERROR, GenerateParams, GenerateProgress, GenerateProgressType, GenerateReply, HealthResult, InitializeParams, InitializeResult, InspectParams, InspectReply,
  LoadParams, Methods, ModelInfo, PROTOCOL_VERSION, WireError,
} from '../protocol/engine-rpc';
import { accessProblem } from '../server/confinement';
import { requestPaths } from '../server/request-paths';

export interface CancelToken {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}

export interface EngineClientOptions {
  serverScript: string;
  /** The Node binary (default: this process's). */
  nodePath?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** The engine died unexpectedly; `restarting` tells whether it is being started again. */
  onCrash?: (reason: string, restarting: boolean) => void;
  /** The engine came back after a crash (model reloaded if there was one). */
  onRestarted?: (info: ModelInfo | null) => void;
  cancelGraceMs?: number;
  /**
   * The folders the engine may use (idp/initialize), asked at every start; none: full access. Every
   * request is checked against them here too, before it is sent (a refusal is a DENIED IdpError).
   */
  access?: () => InitializeParams | undefined;
}

export const MAX_RESTARTS = 3;
export const RESTART_WINDOW_MS = 60_000;

/** `exited` resolves with what ended the process ("the engine process was killed (SIGKILL…)"). */
interface Proc { child: cp.ChildProcess; conn: MessageConnection; init: InitializeResult; exited: Promise<string> }

/** What ended an engine process, in words (its last stderr line when it exited with an error). */
function exitReason(code: number | null, signal: NodeJS.Signals | null, stderrTail: string): string {
  const how = signal ? `was killed (${signal}${signal === 'SIGKILL' ? ': out of memory, or ended from outside' : ''})` : `exited with code ${code}`;
  const last = stderrTail.trim().split('\n').pop();
  return `the engine process ${how}${last && code ? `: ${last}` : ''}`;
}

/** A JSON-RPC error from the engine → the engine's typed error. */
export function fromWire(e: unknown): Error {
  if (e instanceof ResponseError && e.code === ENGINE_ERROR) {
    const d = e.data as WireError | undefined;
    if (d?.code) return new IdpError(d.code, d.message, d.file);
    return new Error(d?.message ?? e.message);
  }
  return e instanceof Error ? e : new Error(String(e));
}

export class EngineClient {
  private proc?: Promise<Proc>;
  private stopping = false;
  private restarts: number[] = [];
  private progressSeq = 0;
  /** What the user last loaded: reloaded after a restart. */
  private wanted?: LoadParams;
  private loaded: ModelInfo | null = null;
  private deadReason?: string;
  /** The newest process, and those that finished starting (only their deaths are crashes). */
  private current?: cp.ChildProcess;
  private ready = new WeakSet<cp.ChildProcess>();
  /** Requests in flight, and why the engine must restart once there are none (reconfigure). */
  private pending = 0;
  private restartWhenIdle?: string;

  constructor(private readonly o: EngineClientOptions) {}

  private log(s: string): void {
    this.o.log?.(s);
  }

  /** The running engine, started on first use. */
  private ensure(): Promise<Proc> {
    if (this.stopping) return Promise.reject(runtimeError('the engine is shutting down'));
    if (!this.proc) {
      this.proc = this.spawn();
      this.proc.catch(() => { this.proc = undefined; });
    }
    return this.proc;
  }

  private async spawn(): Promise<Proc> {
    const child = this.current = cp.spawn(this.o.nodePath ?? process.execPath, [this.o.serverScript], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...withHugePages(withCudaLibraryPath(this.o.env ?? process.env)), ELECTRON_RUN_AS_NODE: '1' },   // runtime/huge-pages.ts, runtime/gpu/cuda-env.ts
      windowsHide: true,
    });
    let stderrTail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderrTail = (stderrTail + s).slice(-2000);
      for (const line of s.split('\n')) if (line.trim()) this.log(`[engine] ${line}`);
    });
    const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    conn.onError(([e]) => this.log(`[engine] connection error: ${e.message}`));
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => {
        conn.dispose();
        const reason = exitReason(code, signal, stderrTail);
        resolve(reason);
        this.onExit(child, reason);
      });
    });
    const spawnError = new Promise<never>((_, reject) => child.once('error', (e) => reject(runtimeError(`cannot start the engine process: ${e.message}`))));
    conn.listen();
    const startupExit = () => runtimeError(`the engine process exited during start-up${stderrTail ? `: ${stderrTail.trim().split('\n').pop()}` : ''}`);
    const init = await Promise.race([conn.sendRequest(Methods.initialize, this.o.access?.() ?? null), spawnError, exited.then(() => { throw startupExit(); })])
      .catch(async (e: unknown) => {
        // the connection closing is the symptom; the process's exit (and its last words) the cause
        const gone = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 1000))]);
        throw gone ? startupExit() : fromWire(e);
      });
    if (init.protocolVersion !== PROTOCOL_VERSION) {
      child.kill();
      throw runtimeError(`engine protocol ${init.protocolVersion} does not match the extension's ${PROTOCOL_VERSION}: reinstall the extension`);
    }
    this.log(`engine started (pid ${init.pid}, node ${init.node})`);
    this.ready.add(child);
    return { child, conn, init, exited };
  }

  private async onExit(child: cp.ChildProcess, reason: string): Promise<void> {
    // a process ended on purpose, replaced, or that never came up (its start reports that) is no crash
    if (child !== this.current || !this.ready.has(child) || this.stopping) return;
    this.current = undefined;
    this.proc = undefined;
    this.loaded = null;
    this.log(reason);
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    const restarting = this.restarts.length < MAX_RESTARTS;
    this.deadReason = restarting ? undefined : `${reason}; it died ${MAX_RESTARTS + 1} times within a minute, so it was not restarted`;
    this.o.onCrash?.(reason, restarting);
    if (!restarting) return;
    this.restarts.push(now);
    try {
      await this.ensure();
      if (this.wanted) await this.load(this.wanted);
      this.log('engine restarted');
      this.o.onRestarted?.(this.loaded);
    } catch (e) {
      this.log(`engine restart failed: ${(e as Error).message}`);
    }
  }

  /**
   * Refuses a request whose paths (request-paths.ts) the declared folders do not allow: the same check
   * the engine makes, made before anything is sent.
   */
  private vet(method: string, params: unknown): void {
    const problem = accessProblem(this.o.access?.(), requestPaths(method, params, { loadedModel: this.loaded?.path }), method);
    if (problem) throw problem;
  }

  /**
   * The folders changed (the workspace was trusted, its folders changed): the engine is started again
   * with the new ones, at once when idle, else when its requests have finished (a job is not killed).
   */
  reconfigure(why: string): void {
    if (!this.proc) return; // the next start declares the new folders
    if (this.pending === 0) void this.restart(why).catch((e: unknown) => this.log(`engine restart failed: ${(e as Error).message}`));
    else this.restartWhenIdle = why;
  }

  /** Sends a request; a death of the process while it is pending rejects it with the reason. */
  private async call<R>(fn: (conn: MessageConnection) => Promise<R>): Promise<R> {
    this.pending++;
    try {
      return await this.callNow(fn);
    } finally {
      if (--this.pending === 0 && this.restartWhenIdle) {
        const why = this.restartWhenIdle;
        this.restartWhenIdle = undefined;
        this.reconfigure(why);
      }
    }
  }

  private async callNow<R>(fn: (conn: MessageConnection) => Promise<R>): Promise<R> {
    if (this.deadReason) {
      // a deliberate call after the engine gave up: try again from scratch
      this.deadReason = undefined;
      this.restarts = [];
    }
    const p = await this.ensure();
    // the reason names what happened ("… was killed (SIGKILL: out of memory, or ended from outside)")
    const died = p.exited.then((why) => { throw runtimeError(`the engine process died while working on this request: ${why.replace(/^the engine process /, 'it ')}; it is being restarted (see the IDP log)`); });
    try {
      return await Promise.race([fn(p.conn), died]);
    } catch (e) {
      throw fromWire(e);
    }
  }

  /** The engine's process id (starting it if needed). */
  async processId(): Promise<number> {
    return (await this.ensure()).init.pid;
  }

  async capabilities(): Promise<string[]> {
    return (await this.ensure()).init.capabilities;
  }

  get model(): ModelInfo | null {
    return this.loaded;
  }

  async load(p: LoadParams): Promise<ModelInfo> {
    this.vet(Methods.load.method, p);
    const info = await this.call((c) => c.sendRequest(Methods.load, p));
    this.wanted = p;
    this.loaded = info;
    return info;
  }

  info(): Promise<ModelInfo | null> {
    return this.call((c) => c.sendRequest(Methods.info));
  }

  health(): Promise<HealthResult> {
    return this.call((c) => c.sendRequest(Methods.health));
  }

  /** IDP's selection, scores and attention maps for one input with a bank (capability 'inspect'). */
  async inspect(p: InspectParams): Promise<InspectReply> {
    this.vet(Methods.inspect.method, p);
    return this.call((c) => c.sendRequest(Methods.inspect, p));
  }

  /**
   * Generates; `onProgress` receives streamed progress; `token` cancels (the engine finishes the
   * run early and the reply's finish is 'cancelled'). If the engine does not answer a cancel
   * within the grace period it is restarted and this rejects.
   */
  async generate(p: Omit<GenerateParams, 'progressToken'>, onProgress?: (v: GenerateProgress) => void, token?: CancelToken): Promise<GenerateReply> {
    return this.progressRequest(Methods.generate, GenerateProgressType, p, onProgress, token, this.o.cancelGraceMs ?? 5000);
  }

  /**
   * A long workflow (compress, trainBank, trainBaseline, bench, study; see src/protocol/workflows.ts) with
   * streamed progress and cancellation. A workflow stops at its next step after a cancel (a training
   * micro-batch, a compressed module, a forward pass), so it gets a longer grace period than a
   * generation before the engine is restarted.
   */
  workflow<P extends { progressToken?: string }, R, V>(
    type: RequestType<P, R, void>, progress: ProgressType<V>, p: Omit<P, 'progressToken'>, onProgress?: (v: V) => void, token?: CancelToken,
  ): Promise<R> {
    return this.progressRequest(type, progress, p, onProgress, token, Math.max(this.o.cancelGraceMs ?? 5000, 30_000));
  }

  /** A request with progress under a fresh token; a cancel the engine does not honour within graceMs restarts it. */
  private progressRequest<P extends { progressToken?: string }, R, V>(
    type: RequestType<P, R, void>, progress: ProgressType<V>, p: Omit<P, 'progressToken'>, onProgress: ((v: V) => void) | undefined,
    token: CancelToken | undefined, graceMs: number,
  ): Promise<R> {
    try {
      this.vet(type.method, p);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.call(async (conn) => {
      const progressToken = onProgress ? `${type.method.replace(/^idp\//, '')}-${++this.progressSeq}` : undefined;
      const sub = progressToken ? conn.onProgress(progress, progressToken, onProgress!) : undefined;
      const cts = new CancellationTokenSource();
      let grace: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        const onCancel = () => {
          cts.cancel();
          grace = setTimeout(() => {
            reject(runtimeError(`the engine did not stop within ${graceMs} ms of the cancel; it was restarted`));
            void this.restart('it did not answer a cancel');
          }, graceMs);
        };
        if (token?.isCancellationRequested) onCancel();
        else token?.onCancellationRequested(onCancel);
      });
      try {
        return await Promise.race([conn.sendRequest(type as RequestType<unknown, R, void>, { ...p, progressToken }, cts.token), stuck]);
      } finally {
        if (grace) clearTimeout(grace);
        sub?.dispose();
        cts.dispose();
      }
    });
  }

  /** Ends the engine process and starts a fresh one (the model is reloaded). */
  restart(why: string): Promise<void> {
    this.log(`restarting the engine: ${why}`);
    const old = this.proc;
    const next = (async () => {
      const p = await old?.catch(() => undefined);
      if (p) {
        this.current = undefined; // its exit is no crash
        p.conn.dispose();
        p.child.kill('SIGKILL');
        await p.exited;
      }
      this.loaded = null;
      return this.spawn();
    })();
    this.proc = next; // callers from now on wait for the new process
    next.catch(() => { if (this.proc === next) this.proc = undefined; });
    return next.then(async () => { if (this.wanted) await this.load(this.wanted); });
  }

  /** Asks the engine to exit, then ends it if it does not. */
  async dispose(): Promise<void> {
    this.stopping = true;
    const p = await this.proc?.catch(() => undefined);
    this.proc = undefined;
    this.current = undefined;
    if (!p) return;
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 2000);
    p.conn.sendRequest(Methods.shutdown).catch(() => undefined);
    setTimeout(() => p.child.kill('SIGTERM'), 500).unref();
    await p.exited;
    clearTimeout(timer);
  }
}
