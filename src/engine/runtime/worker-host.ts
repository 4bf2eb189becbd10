// The caller's side of the engine worker: an async LM whose long runs never block this thread.
//
//   const lm = await RemoteLM.start(modelPath, { threads: 1 });
//   const r = await lm.generate({ prompt: 'Once', options: { maxTokens: 64 } }, (row, id, text) => …);
//   lm.cancel(); await lm.close();

import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { FromWorker, ToWorker, WireError, WorkerGenerateOptions } from './worker-protocol';
import type { GenerateResult } from './generate';
import type { SessionOptions } from './session';
import { IdpError, runtimeError } from '../errors';

/** The worker script: bundled beside the caller (dist/engine-worker.js) or compiled next to this file. */
function workerScript(): string {
  const candidates = [path.join(__dirname, 'engine-worker.js'), path.join(__dirname, 'worker-main.js')];
  const hit = candidates.find((p) => fs.existsSync(p));
  if (!hit) throw runtimeError(`engine worker script not found (looked for ${candidates.join(', ')})`);
  return hit;
}

const toError = (e: WireError) => (e.code ? new IdpError(e.code, e.file ? e.message.slice(e.file.length + 2) : e.message, e.file) : new Error(e.message));

interface Pending { resolve: (v: any) => void; reject: (e: Error) => void; onToken?: (row: number, id: number, text: string) => void }

export class RemoteLM {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private exited?: Error;
  info: Record<string, unknown> = {};

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'token') { p.onToken?.(m.row, m.token, m.text); return; }
      this.pending.delete(m.id);
      if (m.type === 'error') p.reject(toError(m.error));
      else if (m.type === 'generated') p.resolve(m.result);
      else if (m.type === 'logits') p.resolve(m.logits);
      else if (m.type === 'loaded') p.resolve(m.info);
    });
    const fail = (e: Error) => {
      this.exited = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(runtimeError(`engine worker crashed: ${e.message}`)));
    worker.on('exit', (code) => fail(runtimeError(`engine worker exited (code ${code})`)));
  }

  static async start(model: string, opts: SessionOptions & { tokenizer?: string } = {}): Promise<RemoteLM> {
    const r = new RemoteLM(new Worker(workerScript()));
    const { tokenizer, ...session } = opts;
    try {
      r.info = await r.call({ type: 'load', id: 0, model, tokenizer, session });
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  private call<T>(m: ToWorker, onToken?: Pending['onToken']): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onToken });
      this.worker.postMessage({ ...m, id });
    });
  }

  /** The id of the last request sent (what `cancel` cancels by default). */
  get lastId(): number {
    return this.nextId - 1;
  }

  generate(req: { prompt?: string; ids?: number[][]; options?: WorkerGenerateOptions }, onToken?: Pending['onToken']): Promise<GenerateResult> {
    return this.call({ type: 'generate', id: 0, prompt: req.prompt, ids: req.ids, options: req.options ?? {}, stream: !!onToken }, onToken);
  }

  logits(ids: number[][]): Promise<Float32Array[]> {
    return this.call({ type: 'logits', id: 0, ids });
  }

  cancel(id = this.lastId): void {
    if (!this.exited) this.worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
