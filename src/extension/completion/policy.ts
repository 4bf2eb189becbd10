// Inline-completion policy, free of `vscode`: adaptive debounce, an LRU cache, and stop rules that
// cut what the model wrote to what belongs at the cursor.

/**
 * Debounce that follows the engine: about half the recent request latency (an exponentially
 * weighted average), within [min, max]. A fast engine answers almost at once; a slow one is
 * not asked on every keystroke.
 */
export class AdaptiveDebounce {
  private ewma?: number;

  constructor(readonly minMs = 25, readonly maxMs = 300, readonly alpha = 0.3) {}

  record(latencyMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    this.ewma = this.ewma === undefined ? latencyMs : this.alpha * latencyMs + (1 - this.alpha) * this.ewma;
  }

  get delayMs(): number {
    const want = this.ewma === undefined ? this.minMs * 2 : this.ewma / 2;
    return Math.round(Math.min(this.maxMs, Math.max(this.minMs, want)));
  }
}

/** A least-recently-used map of at most `capacity` entries. */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity = 100) {}

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v === undefined) return undefined;
    this.map.delete(k);
    this.map.set(k, v);
    return v;
  }

  set(k: K, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

export interface StopRules {
  /** Only the rest of the current line (the cursor is mid-line, or single-line mode). */
  singleLine: boolean;
  /** Most lines a multi-line completion may have. */
  maxLines: number;
  /** Indentation of the cursor's line: a later non-blank line indented less ends the block. */
  indent: string;
  /** Text after the cursor on its line: a completion that reproduces it stops there. */
  lineSuffix: string;
}

const indentWidth = (s: string) => {
  let w = 0;
  for (const c of s) {
    if (c === ' ') w++;
    else if (c === '\t') w += 4;
    else break;
  }
  return w;
};

/** Cuts model text to what should be shown at the cursor (possibly ''). */
export function applyStopRules(text: string, r: StopRules): string {
  let out = text.replace(/\r\n?/g, '\n');
  if (r.singleLine) {
    const nl = out.indexOf('\n');
    out = nl >= 0 ? out.slice(0, nl) : out;
  } else {
    const lines = out.split('\n');
    const kept: string[] = [lines[0]];
    const base = indentWidth(r.indent);
    let blanks = 0;
    for (let i = 1; i < lines.length && kept.length < r.maxLines; i++) {
      const line = lines[i];
      if (line.trim() === '') {
        if (++blanks >= 2) break;
        kept.push(line);
        continue;
      }
      blanks = 0;
      if (indentWidth(line) < base) break; // the block ends
      kept.push(line);
    }
    out = kept.join('\n');
  }
  // do not repeat what already follows the cursor
  const tail = r.lineSuffix.trim();
  if (tail) {
    const at = out.indexOf(tail);
    if (at >= 0) out = out.slice(0, at);
  }
  return out.replace(/\s+$/, '');
}

/** Key for the cache: the model, the language and the context near the cursor. */
export function cacheKey(model: string, languageId: string, prefix: string, suffix: string): string {
  return `${model}\u0000${languageId}\u0000${prefix.slice(-1024)}\u0000${suffix.slice(0, 256)}`;
}

/** Per-language switch: `languages[id]`, else `languages['*']`, else on. */
export function enabledFor(languages: Record<string, unknown> | undefined, languageId: string): boolean {
  const v = languages?.[languageId] ?? languages?.['*'];
  return v === undefined ? true : v === true;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}
