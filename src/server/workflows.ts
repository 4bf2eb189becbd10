// The engine process's long workflows (workflow-protocol.ts): compress, trainBank, trainBaseline,
// bench, study. Each loads its own model from the path it is given,
// so it never disturbs the model the editor generates with; each reports progress and polls the
// request's cancellation between steps. `registerWorkflows` wires them onto the connection.

import type { MessageConnection, ProgressType } from 'vscode-jsonrpc';
import type { WorkflowCapability } from './protocol';
import { Methods, WorkflowProgress } from './protocol';
import type { Cancellation } from './engine-service';
import { runCompress } from './compress-service';
import { runTrainBank, runTrainBaseline } from './train-service';
import { runBench } from './bench-service';
import { runStudyRequest } from './study-service';

export const WORKFLOW_CAPABILITIES: WorkflowCapability[] = ['compress', 'trainBank', 'trainBaseline', 'bench', 'study'];

/** Runs `fn` so that a parameter error rejects (never throws synchronously). */
const start = <T>(fn: () => Promise<T>): Promise<T> => {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
};

export class Workflows {
  compress = (p: Parameters<typeof runCompress>[0], token: Cancellation, onProgress?: Parameters<typeof runCompress>[2]) =>
    start(() => runCompress(p, token, onProgress));

  trainBank = (p: Parameters<typeof runTrainBank>[0], token: Cancellation, onProgress?: Parameters<typeof runTrainBank>[2]) =>
    start(() => runTrainBank(p, token, onProgress));

  trainBaseline = (p: Parameters<typeof runTrainBaseline>[0], token: Cancellation, onProgress?: Parameters<typeof runTrainBaseline>[2]) =>
    start(() => runTrainBaseline(p, token, onProgress));

  bench = (p: Parameters<typeof runBench>[0], token: Cancellation, onProgress?: Parameters<typeof runBench>[2]) =>
    start(() => runBench(p, token, onProgress));

  study = (p: Parameters<typeof runStudyRequest>[0], token: Cancellation, onProgress?: Parameters<typeof runStudyRequest>[2]) =>
    start(() => runStudyRequest(p, token, onProgress));
}

/**
 * Registers every workflow request; progress goes out under the request's progressToken (throttled by each
 * workflow). `guard` runs each request (checking its paths against the client's folders) and types its errors.
 */
export function registerWorkflows(conn: MessageConnection, w: Workflows, guard: <T>(method: string, params: unknown, run: () => Promise<T>) => Promise<T>): void {
  const tok = (p: unknown) => (p && typeof p === 'object' ? (p as { progressToken?: unknown }).progressToken : undefined);
  const progress = <V>(type: ProgressType<V>, token: unknown): ((v: V) => void) | undefined =>
    typeof token === 'string' ? (v: V) => void conn.sendProgress(type, token, v as never) : undefined;
  const m = Methods;
  conn.onRequest(m.compress, (p, ct) => guard(m.compress.method, p, () => w.compress(p, ct, progress(WorkflowProgress.compress, tok(p)))));
  conn.onRequest(m.trainBank, (p, ct) => guard(m.trainBank.method, p, () => w.trainBank(p, ct, progress(WorkflowProgress.trainBank, tok(p)))));
  conn.onRequest(m.trainBaseline, (p, ct) => guard(m.trainBaseline.method, p, () => w.trainBaseline(p, ct, progress(WorkflowProgress.trainBaseline, tok(p)))));
  conn.onRequest(m.bench, (p, ct) => guard(m.bench.method, p, () => w.bench(p, ct, progress(WorkflowProgress.bench, tok(p)))));
  conn.onRequest(m.study, (p, ct) => guard(m.study.method, p, () => w.study(p, ct, progress(WorkflowProgress.study, tok(p)))));
}
