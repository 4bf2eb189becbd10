// The engine process's long workflows (src/protocol/workflows.ts): each request runs one job of the engine
// (engine/jobs/*) with the request's params as the job's options — absolute paths required, the
// progress streamed under the request's progressToken, the request's cancellation as the job's
// AbortSignal. Each job loads its own model from the path it is given, so it never disturbs the model
// the editor generates with. Nothing here decides what a job does.

import type { CancellationToken, MessageConnection, ProgressType } from 'vscode-jsonrpc';
import { runBankAssemble, runBankCalibrate, runBankCompare, runBankEval, runBench, runCompress, runPpl, runStudyJob, runTrain, runTrainBank } from '../engine/index';
import type { JobHooks } from '../engine/index';
import type {
  BankCalibrateProgressValue, BankEvalProgressValue, BenchProgressValue, PplProgressValue, CompressProgressValue, StudyProgressValue, TrainProgressValue, WorkflowCapability,
} from '../protocol/engine-rpc';
import { Methods, WorkflowProgress } from '../protocol/engine-rpc';
import type { Cancellation } from './engine-service';

export const WORKFLOW_CAPABILITIES: WorkflowCapability[] = [
  'compress', 'trainBank', 'trainBaseline', 'bench', 'study', 'bankEval', 'ppl', 'bankCompare', 'bankAssemble', 'bankCalibrate',
];

type Job<O, P, R> = (options: O, hooks: JobHooks<P>) => Promise<R>;

/** The request's cancellation as an AbortSignal (the token's event where it has one, else polled). */
export function signalOf(token: Cancellation): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  if (token.isCancellationRequested) ac.abort();
  const event = (token as Partial<CancellationToken>).onCancellationRequested;
  if (event) {
    const d = event(() => ac.abort());
    return { signal: ac.signal, dispose: () => d.dispose() };
  }
  const poll = setInterval(() => { if (token.isCancellationRequested) ac.abort(); }, 50);
  return { signal: ac.signal, dispose: () => clearInterval(poll) };
}

/** Runs `job` on a request's params (without its progressToken); a parameter error rejects, never throws. */
export async function runRequest<O, P, R>(job: Job<O, P, R>, params: unknown, token: Cancellation, onProgress?: (v: P) => void): Promise<R> {
  let options = params;
  if (params !== null && typeof params === 'object' && !Array.isArray(params)) {
    const { progressToken: _t, ...rest } = params as Record<string, unknown>;
    options = rest;
  }
  const s = signalOf(token);
  try {
    return await job(options as O, { signal: s.signal, onProgress, absolutePaths: true, onWarning: (w) => process.stderr.write(`${w}\n`) });
  } finally {
    s.dispose();
  }
}

/** The reply without the job's whole report (bench, study: it is in the files the job wrote). */
const withoutReport = <R extends { report: unknown }>(r: R): Omit<R, 'report'> => {
  const { report: _r, ...reply } = r;
  return reply;
};

type Progress<V> = ((v: V) => void) | undefined;

export class Workflows {
  compress = (p: unknown, token: Cancellation, onProgress?: Progress<CompressProgressValue>) => runRequest(runCompress, p, token, onProgress);
  trainBank = (p: unknown, token: Cancellation, onProgress?: Progress<TrainProgressValue>) => runRequest(runTrainBank, p, token, onProgress);
  trainBaseline = (p: unknown, token: Cancellation, onProgress?: Progress<TrainProgressValue>) => runRequest(runTrain, p, token, onProgress);
  bench = (p: unknown, token: Cancellation, onProgress?: Progress<BenchProgressValue>) => runRequest(runBench, p, token, onProgress).then(withoutReport);
  study = (p: unknown, token: Cancellation, onProgress?: Progress<StudyProgressValue>) => runRequest(runStudyJob, p, token, onProgress).then(withoutReport);
  bankEval = (p: unknown, token: Cancellation, onProgress?: Progress<BankEvalProgressValue>) => runRequest(runBankEval, p, token, onProgress);
  ppl = (p: unknown, token: Cancellation, onProgress?: Progress<PplProgressValue>) => runRequest(runPpl, p, token, onProgress);
  bankCompare = (p: unknown, token: Cancellation, onProgress?: Progress<TrainProgressValue>) => runRequest(runBankCompare, p, token, onProgress);
  bankAssemble = (p: unknown, token: Cancellation) => runRequest(runBankAssemble, p, token);
  bankCalibrate = (p: unknown, token: Cancellation, onProgress?: Progress<BankCalibrateProgressValue>) => runRequest(runBankCalibrate, p, token, onProgress);
}

/**
 * Registers every workflow request; progress goes out under the request's progressToken. `guard` runs
 * each request (checking its paths against the client's folders) and types its errors.
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
  conn.onRequest(m.bankEval, (p, ct) => guard(m.bankEval.method, p, () => w.bankEval(p, ct, progress(WorkflowProgress.bankEval, tok(p)))));
  conn.onRequest(m.ppl, (p, ct) => guard(m.ppl.method, p, () => w.ppl(p, ct, progress(WorkflowProgress.ppl, tok(p)))));
  conn.onRequest(m.bankCompare, (p, ct) => guard(m.bankCompare.method, p, () => w.bankCompare(p, ct, progress(WorkflowProgress.bankCompare, tok(p)))));
  conn.onRequest(m.bankAssemble, (p, ct) => guard(m.bankAssemble.method, p, () => w.bankAssemble(p, ct)));
  conn.onRequest(m.bankCalibrate, (p, ct) => guard(m.bankCalibrate.method, p, () => w.bankCalibrate(p, ct, progress(WorkflowProgress.bankCalibrate, tok(p)))));
}
