// Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, `data: [DONE]\n\n` at the end,
// and the text a stream may send so far (what can no longer change).

import type * as http from 'http';

export class SseWriter {
  constructor(private readonly res: http.ServerResponse) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.flushHeaders();
  }

  send(obj: unknown): void {
    if (!this.res.destroyed) this.res.write(`data: ${JSON.stringify(obj)}\n\n`);
  }

  end(): void {
    if (!this.res.destroyed) this.res.end('data: [DONE]\n\n');
  }
}

/**
 * How much of the continuation `text` is settled: not a trailing U+FFFD (an incomplete UTF-8 sequence that
 * the next token completes) and not a tail that could still grow into a stop sequence (the stop text is cut
 * off the answer, so a stream must not have sent its start).
 */
export function settledLength(text: string, stop: string[]): number {
  let end = text.length;
  while (end > 0 && text[end - 1] === '\uFFFD') end--;
  let hold = 0;
  for (const s of stop) {
    for (let k = Math.min(s.length - 1, end); k > hold; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) { hold = k; break; }
    }
  }
  return end - hold;
}

/** Deltas of a growing continuation: each call returns the newly settled text (empty when none). */
export class TextDeltas {
  private sent = '';

  constructor(private readonly stop: string[]) {}

  next(text: string): string {
    const n = settledLength(text, this.stop);
    if (n <= this.sent.length || !text.startsWith(this.sent)) return '';
    const d = text.slice(this.sent.length, n);
    this.sent = text.slice(0, n);
    return d;
  }

  /** The rest of the final text (the generation's own, stop sequence cut off); what was sent stays sent. */
  finish(final: string): string {
    const d = final.startsWith(this.sent) ? final.slice(this.sent.length) : '';
    this.sent = final;
    return d;
  }
}
