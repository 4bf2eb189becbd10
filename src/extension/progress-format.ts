// Pure helpers for job progress text (unit-tested without an editor).

export interface ProgressSample {
  fraction?: number;         // 0..1 of the job done
  tokensPerSecond?: number;
  message?: string;          // a phase, e.g. "layer 3/12"
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Remaining time from the fraction done so far (undefined until there is something to go on). */
export function eta(fraction: number | undefined, elapsedMs: number): number | undefined {
  if (fraction === undefined || !(fraction > 0.01) || fraction >= 1 || elapsedMs < 200) return undefined;
  return (elapsedMs * (1 - fraction)) / fraction;
}

/** "42% · 120 tok/s · ETA 3 s · layer 3/12" */
export function progressMessage(p: ProgressSample, elapsedMs: number): string {
  const parts: string[] = [];
  if (p.fraction !== undefined) parts.push(`${Math.floor(Math.min(1, Math.max(0, p.fraction)) * 100)}%`);
  if (p.tokensPerSecond !== undefined && p.tokensPerSecond > 0) parts.push(`${p.tokensPerSecond >= 100 ? Math.round(p.tokensPerSecond) : p.tokensPerSecond.toFixed(1)} tok/s`);
  const left = eta(p.fraction, elapsedMs);
  if (left !== undefined) parts.push(`ETA ${formatDuration(left)}`);
  if (p.message) parts.push(p.message);
  return parts.join(' · ');
}

/**
 * VS Code's progress takes increments; this turns absolute fractions into increments (never
 * negative, never past 100 in total).
 */
export class IncrementTracker {
  private reported = 0;

  increment(fraction: number | undefined): number | undefined {
    if (fraction === undefined || !Number.isFinite(fraction)) return undefined;
    const target = Math.min(100, Math.max(0, fraction * 100));
    const inc = target - this.reported;
    if (inc <= 0) return undefined;
    this.reported = target;
    return inc;
  }
}
