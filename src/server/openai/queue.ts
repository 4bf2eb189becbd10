// One generation at a time, a bounded line of waiting requests behind it: a request that finds the line
// full is refused at once (429) instead of waiting without limit; a waiting request whose client has gone
// leaves the line without running.

import { ApiError } from './errors';

export interface QueueStats { running: number; waiting: number; refused: number }

export class GenerationQueue {
  private busy = false;
  private line: Array<{ start: () => void; skip: () => void; abandoned: () => boolean }> = [];
  private refused = 0;

  /** `maxWaiting`: requests that may wait behind the running one. */
  constructor(readonly maxWaiting: number) {}

  get stats(): QueueStats {
    this.dropAbandoned();
    return { running: this.busy ? 1 : 0, waiting: this.line.length, refused: this.refused };
  }

  /** Waiting requests whose client has gone free their place at once (not only when their turn comes). */
  private dropAbandoned(): void {
    this.line = this.line.filter((w) => !w.abandoned() || (w.skip(), false));
  }

  /**
   * Runs `job` when every earlier job has finished; throws a 429 ApiError now when the line is full.
   * `abandoned` is polled when a request arrives and when the job's turn comes: true drops it (the promise rejects with a 499 ApiError).
   */
  run<T>(job: () => Promise<T>, abandoned: () => boolean = () => false): Promise<T> {
    this.dropAbandoned();
    if (this.busy && this.line.length >= this.maxWaiting) {
      this.refused++;
      throw new ApiError(429, 'rate_limit_error', `the server is busy: ${this.maxWaiting} requests already wait (--max-queue)`, null, 'queue_full');
    }
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.busy = true;
        job().then(resolve, reject).finally(() => this.next());
      };
      if (!this.busy) start();
      else this.line.push({ start, abandoned, skip: () => reject(new ApiError(499, 'invalid_request_error', 'the client closed the request', null, 'client_closed')) });
    });
  }

  private next(): void {
    this.busy = false;
    while (this.line.length) {
      const w = this.line.shift()!;
      if (w.abandoned()) { w.skip(); continue; }   // its client is gone: nobody would read the answer
      w.start();
      return;
    }
  }
}
