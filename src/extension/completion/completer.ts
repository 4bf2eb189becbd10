// The inline-completion core, free of `vscode` (the provider adapts it; the benchmark replays
// typing through it against the real engine process):
// - adaptive debounce (skipped for an explicit trigger), waiting on the caller's cancel token;
// - at most one request in flight: a new one cancels the old ($/cancelRequest), whose tokens are
//   counted as wasted work;
// - typing through a shown completion and an LRU cache answer without the engine;
// - stop rules (line, indentation, max lines; max tokens in the request).

import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { CancelToken } from '../engine-client';
import type { GenerateParams, GenerateReply } from '../../protocol/engine-rpc';
import type { FimChoice } from '../../engine/fim';
import { AdaptiveDebounce, applyStopRules, cacheKey, LruCache } from './policy';

export interface CompletionContext {
  prefix: string;          // text before the cursor (already limited by the caller)
  suffix: string;          // text after the cursor
  languageId: string;
  explicit: boolean;       // invoked by the user (no debounce)
  repo?: string;           // workspace folder name and the file's path in it (repository-level FIM formats)
  path?: string;
}

export interface CompletionOptions {
  maxTokens: number;
  maxLines: number;
  model: string;           // cache key part: a new model empties nothing, it just misses
  fimTemplate?: FimChoice; // FIM format (idp.inlineCompletion.fimTemplate; default auto)
}

export interface Completion {
  text: string;
  source: 'engine' | 'cache' | 'typed-through';
  latencyMs: number;        // engine time for this request (0 from the cache)
  tokensPerSecond?: number;
}

export interface CompleterStats {
  requests: number;         // engine requests sent
  completed: number;        // engine requests whose answer was used
  cancelled: number;        // engine requests cancelled (superseded or by the editor)
  cacheHits: number;
  generatedTokens: number;  // all tokens the engine generated
  wastedTokens: number;     // tokens of cancelled or discarded requests
  latenciesMs: number[];    // per used engine request
}

export type Backend = (p: Omit<GenerateParams, 'progressToken'>, token: CancelToken) => Promise<GenerateReply>;

const sleep = (ms: number, token: CancelToken) => new Promise<boolean>((resolve) => {
  if (token.isCancellationRequested) return resolve(false);
  const t = setTimeout(() => { sub.dispose(); resolve(true); }, ms);
  const sub = token.onCancellationRequested(() => { clearTimeout(t); sub?.dispose(); resolve(false); });
});

function lineContext(prefix: string, suffix: string): { indent: string; lineSuffix: string; midLine: boolean } {
  const lineStart = prefix.lastIndexOf('\n') + 1;
  const line = prefix.slice(lineStart);
  const indent = /^[ \t]*/.exec(line)![0];
  const nl = suffix.indexOf('\n');
  const lineSuffix = nl >= 0 ? suffix.slice(0, nl) : suffix;
  return { indent, lineSuffix, midLine: lineSuffix.trim().length > 0 };
}

export class Completer {
  readonly debounce = new AdaptiveDebounce();
  readonly cache = new LruCache<string, string>(200);
  readonly stats: CompleterStats = { requests: 0, completed: 0, cancelled: 0, cacheHits: 0, generatedTokens: 0, wastedTokens: 0, latenciesMs: [] };
  private inflight?: CancellationTokenSource;
  private last?: { prefix: string; suffix: string; text: string; key: string };

  constructor(private readonly backend: Backend) {}

  /** The completion to show at the cursor, or undefined (cancelled, nothing to say, or an error). */
  async complete(c: CompletionContext, o: CompletionOptions, token: CancelToken): Promise<Completion | undefined> {
    // typing through the last completion: the user typed what it proposed
    const l = this.last;
    if (l && l.suffix === c.suffix && c.prefix.startsWith(l.prefix)) {
      const typed = c.prefix.slice(l.prefix.length);
      if (typed.length > 0 && typed.length < l.text.length && l.text.startsWith(typed)) {
        this.stats.cacheHits++;
        return { text: l.text.slice(typed.length), source: 'typed-through', latencyMs: 0 };
      }
    }
    const key = cacheKey(`${o.model}|${o.fimTemplate ?? 'auto'}`, c.languageId, c.prefix, c.suffix);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.stats.cacheHits++;
      this.last = { prefix: c.prefix, suffix: c.suffix, text: hit, key };
      return hit ? { text: hit, source: 'cache', latencyMs: 0 } : undefined;
    }
    // a newer keystroke supersedes whatever is running
    this.inflight?.cancel();
    if (!c.explicit && !(await sleep(this.debounce.delayMs, token))) return undefined;
    if (token.isCancellationRequested) return undefined;

    const cts = new CancellationTokenSource();
    this.inflight = cts;
    const sub = token.onCancellationRequested(() => cts.cancel());
    const ctx = lineContext(c.prefix, c.suffix);
    const singleLine = ctx.midLine || o.maxLines <= 1;
    const t0 = performance.now();
    this.stats.requests++;
    let reply: GenerateReply;
    try {
      reply = await this.backend({
        fim: { prefix: c.prefix, suffix: c.suffix, template: o.fimTemplate, repo: c.repo, path: c.path }, maxTokens: o.maxTokens, temperature: 0,
        stop: singleLine ? ['\n'] : undefined,
      }, cts.token);
    } catch (e) {
      if (cts.token.isCancellationRequested) { this.stats.cancelled++; return undefined; }
      throw e;
    } finally {
      sub.dispose();
      if (this.inflight === cts) this.inflight = undefined;
    }
    const latencyMs = performance.now() - t0;
    this.stats.generatedTokens += reply.ids.length;
    if (cts.token.isCancellationRequested || reply.finish === 'cancelled') {
      this.stats.cancelled++;
      this.stats.wastedTokens += reply.ids.length;
      return undefined;
    }
    this.debounce.record(latencyMs);
    this.stats.completed++;
    this.stats.latenciesMs.push(latencyMs);
    const text = applyStopRules(reply.text, { singleLine, maxLines: o.maxLines, indent: ctx.indent, lineSuffix: ctx.lineSuffix });
    this.cache.set(key, text);
    this.last = { prefix: c.prefix, suffix: c.suffix, text, key };
    if (!text) return undefined;
    const decodeTokens = reply.timings.decode_tokens;
    return { text, source: 'engine', latencyMs, tokensPerSecond: decodeTokens > 0 ? reply.timings.decode_tokens_per_s : undefined };
  }

  /** Forget cached answers (e.g. after a model change). */
  reset(): void {
    this.cache.clear();
    this.last = undefined;
  }
}
