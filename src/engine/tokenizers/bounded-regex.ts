// Regular expressions from tokenizer.json, run with a time bound.
//
// A tokenizer.json names regexes of its own (Split and Replace pre-tokenizers, Replace normalizers and
// decoders) which @huggingface/tokenizers compiles into ordinary JS RegExps and runs on every encode.
// JS regexes backtrack, so a pattern such as `(a+)+$` takes exponential time: 31 characters held the engine
// for more than 30 s. Node has no regex timeout and V8's linear-time engine lacks the lookaheads real
// tokenizers use (GPT-2's `\s+(?!\S)`), so each such regex is replaced, once the library has built it, by
// one that runs its match / split / matchAll / replace inside a `vm` context with a timeout that grows
// with the text (REGEX_MS_BASE + REGEX_MS_PER_KCHAR per 1,000 characters), far above what a sane pattern
// needs and failing with a typed FORMAT error naming the tokenizer file.

import * as vm from 'vm';
import { formatError } from '../errors';

export const REGEX_MS_BASE = 1000;
export const REGEX_MS_PER_KCHAR = 2;

const context = vm.createContext({});
// One script, fed through the context's `job` (arguments cannot be passed to runInContext otherwise).
const OPS = new vm.Script(`(() => {
  const { op, source, flags, text, arg } = job;
  const re = new RegExp(source, flags);
  switch (op) {
    case 'match': return text.match(re);
    case 'split': return text.split(re, arg);
    case 'replace': return text.replace(re, arg);
    case 'matchAll': return Array.from(text.matchAll(re), (m) => ({ parts: Array.from(m), index: m.index }));
  }
})()`);

function run(re: BoundedRegExp, op: string, text: string, arg?: unknown): unknown {
  const timeout = Math.ceil(REGEX_MS_BASE + (text.length / 1000) * REGEX_MS_PER_KCHAR);
  context.job = { op, source: re.source, flags: re.flags, text, arg };
  try {
    return OPS.runInContext(context, { timeout });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw formatError(re.file, `the tokenizer's regex ${JSON.stringify(re.shown.slice(0, 80))} took more than ${timeout} ms on ${text.length} characters ` +
        '(catastrophic backtracking?); fix or remove that pattern');
    }
    throw e;
  } finally {
    context.job = undefined;
  }
}

/** A RegExp whose string operations (the ones the tokenizer library uses) run with a time bound. */
class BoundedRegExp extends RegExp {
  /** `shown`: the pattern as the file has it (the library rewrites some Oniguruma syntax). */
  constructor(re: RegExp, readonly file: string, readonly shown: string) {
    super(re.source, re.flags);
  }

  override [Symbol.match](text: string): RegExpMatchArray | null {
    const r = run(this, 'match', text) as string[] | null;
    return r ? Array.from(r) as RegExpMatchArray : null;
  }

  override [Symbol.split](text: string, limit?: number): string[] {
    return Array.from(run(this, 'split', text, limit) as string[]);
  }

  override [Symbol.replace](text: string, replacement: unknown): string {
    if (typeof replacement !== 'string') throw new Error('BoundedRegExp: only string replacements');
    return run(this, 'replace', text, replacement) as string;
  }

  override [Symbol.matchAll](text: string): IterableIterator<RegExpMatchArray> {
    const all = run(this, 'matchAll', text) as Array<{ parts: string[]; index: number }>;
    return all.map((m) => Object.assign(Array.from(m.parts), { index: m.index, input: text }) as RegExpMatchArray).values();
  }
}

/** Children lists of the library's Sequence normalizer / pre-tokenizer / decoder. */
const CHILD_LISTS = ['normalizers', 'tokenizers', 'decoders'];

/**
 * Replace every regex that `lib` built from the tokenizer.json's own patterns (a `pattern` next to a
 * `config.pattern`) by a time-bounded one. Returns how many were replaced.
 */
export function boundTokenizerRegexes(lib: object, file: string): number {
  let n = 0;
  const visit = (x: unknown): void => {
    if ((typeof x !== 'object' && typeof x !== 'function') || x === null) return;   // the library's steps are callable objects
    const o = x as Record<string, unknown>;
    const cfg = o.config as Record<string, unknown> | undefined;
    // only the file's own regexes: a {String} pattern is an escaped literal that cannot backtrack, and bounding
    // it would put a vm call on every decoded token (decoders' Replace runs per token)
    const p = cfg && typeof cfg === 'object' ? cfg.pattern as { Regex?: unknown } | undefined : undefined;
    if (o.pattern instanceof RegExp && !(o.pattern instanceof BoundedRegExp) && p?.Regex !== undefined) {
      o.pattern = new BoundedRegExp(o.pattern, file, String(p.Regex));
      n++;
    }
    for (const k of CHILD_LISTS) if (Array.isArray(o[k])) (o[k] as unknown[]).forEach(visit);
  };
  const l = lib as Record<string, unknown>;
  for (const k of ['normalizer', 'pre_tokenizer', 'decoder']) visit(l[k]);
  return n;
}
