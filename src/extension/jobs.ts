// Jobs: every long workflow runs through runJob — a cancellable progress notification (percent,
// tokens/s, ETA), a log line at start and end, a registry for "IDP: Cancel Job", and errors shown
// without blocking (the notification always closes, whatever happens).

import * as vscode from 'vscode';
import { IncrementTracker, ProgressSample, progressMessage, formatDuration } from './progress-format';
import { isIdpError } from '../engine/errors';

export interface Job {
  id: number;
  title: string;
  started: number;
  cts: vscode.CancellationTokenSource;
  /** The last progress it reported (tests wait on it to know the work is under way). */
  last?: ProgressSample;
}

export type JobOutcome<T> = { ok: true; value: T } | { ok: false; cancelled: boolean; error?: Error };

export class Jobs {
  private seq = 0;
  readonly running = new Map<number, Job>();
  /** The last job that failed and what the user was told (for automation and tests). */
  lastFailure?: { title: string; message: string };
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly log: vscode.LogOutputChannel) {}

  /**
   * Runs `fn` as a job. Resolves with the outcome (never rejects): cancelled when the user (or
   * Cancel Job) cancelled it, else the error, which has been logged and shown.
   */
  async run<T>(title: string, fn: (report: (p: ProgressSample) => void, token: vscode.CancellationToken) => Promise<T>): Promise<JobOutcome<T>> {
    const job: Job = { id: ++this.seq, title, started: Date.now(), cts: new vscode.CancellationTokenSource() };
    this.running.set(job.id, job);
    this.changed.fire();
    this.log.info(`job ${job.id} started: ${title}`);
    try {
      const value = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `IDP: ${title}`, cancellable: true },
        async (progress, uiToken) => {
          const sub = uiToken.onCancellationRequested(() => job.cts.cancel());
          const inc = new IncrementTracker();
          const report = (p: ProgressSample) => {
            job.last = p;
            progress.report({ increment: inc.increment(p.fraction), message: progressMessage(p, Date.now() - job.started) });
          };
          try {
            return await fn(report, job.cts.token);
          } finally {
            sub.dispose();
          }
        },
      );
      const cancelled = job.cts.token.isCancellationRequested;
      this.log.info(`job ${job.id} ${cancelled ? 'cancelled' : 'finished'} after ${formatDuration(Date.now() - job.started)}: ${title}`);
      if (cancelled) {
        void vscode.window.showInformationMessage(`IDP: ${title} — cancelled; nothing was saved.`);
        return { ok: false, cancelled: true };
      }
      return { ok: true, value };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const cancelled = job.cts.token.isCancellationRequested;
      this.lastFailure = { title, message: err.message };
      this.log.error(`job ${job.id} failed: ${title}: ${err.message}${isIdpError(err) ? '' : `\n${err.stack ?? ''}`}`);
      // not awaited: the message stays until dismissed, the job does not
      void vscode.window.showErrorMessage(`IDP: ${title} failed — ${err.message}`, 'Show Log').then((b) => {
        if (b) this.log.show(true);
      });
      return { ok: false, cancelled, error: err };
    } finally {
      this.running.delete(job.id);
      job.cts.dispose();
      this.changed.fire();
    }
  }

  /** Cancels one job (the only one, or the one the user picks); returns whether one was cancelled. */
  async cancel(pick?: (jobs: Job[]) => Promise<Job | undefined>): Promise<boolean> {
    const jobs = [...this.running.values()];
    if (jobs.length === 0) {
      void vscode.window.showInformationMessage('IDP: no job is running.');
      return false;
    }
    const job = jobs.length === 1 || !pick ? jobs[jobs.length - 1] : await pick(jobs);
    if (!job) return false;
    job.cts.cancel();
    this.log.info(`job ${job.id} cancel requested: ${job.title}`);
    return true;
  }

  dispose(): void {
    for (const j of this.running.values()) j.cts.cancel();
    this.changed.dispose();
  }
}
