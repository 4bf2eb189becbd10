// Per-document metrics and their aggregation, as lm-eval's api/task.py and api/metrics.py define them.
//
// multiple_choice: ll_i = loglikelihood of continuation i; acc = argmax ll == gold; acc_norm = argmax
//   ll_i / len(choice_i) == gold, len in characters (Python code points) of the choice string without
//   the delimiter; exact_match = the gold continuation (any gold, for WebQS) is the greedy one. argmax
//   takes the first maximum (numpy). A list gold counts acc when the prediction is any gold index.
// loglikelihood (LAMBADA): acc = greedy; perplexity = exp(−mean ll) over documents.
// generate_until (TriviaQA): leading whitespace stripped (remove_whitespace: lstrip up to v0.4.9.1, the
//   releases whose BOS rule requests.ts follows; strip() from v0.4.9.2; v0.4.0 removed one leading space),
//   take_first, then exact_match
//   against each target with ignore_case and ignore_punctuation (string.punctuation removed from both).
// loglikelihood_rolling: word_perplexity = exp(−Σll / Σwords), byte_perplexity = exp(−Σll / Σbytes),
//   bits_per_byte = −Σll / Σbytes / ln 2.
// Standard errors: means use the sample standard deviation (ddof 1) / √n, as lm-eval's mean_stderr;
// perplexity uses a seeded bootstrap of exp(−mean ll) (lm-eval bootstraps it too, with 100,000 draws
// and Python's RNG, so the last digit of its stderr differs); weighted perplexities have none (nor
// does lm-eval give one).

import { Rng } from '../rng';
import { pyLen, pyLstrip, pyWordCount, utf8Len, PY_PUNCTUATION } from './pystr';
import type { LoglikelihoodResult, RollingResult } from './requests';
import type { GenerateDoc, McDoc, MetricName } from './tasks/types';

/** One document's contribution: a 0/1 score, a loglikelihood, or an (ll, weight) pair. */
export type DocValue = number | [number, number];
export type DocMetrics = Partial<Record<MetricName, DocValue>>;

const firstArgmax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);

export function mcMetrics(doc: McDoc, results: LoglikelihoodResult[]): DocMetrics & { pred: number; predNorm: number } {
  const lls = results.map((r) => r.ll);
  const pred = firstArgmax(lls);
  const predNorm = firstArgmax(lls.map((ll, i) => ll / pyLen(doc.choices[i])));
  const golds = Array.isArray(doc.gold) ? doc.gold : [doc.gold];
  return {
    acc: golds.includes(pred) ? 1 : 0,
    acc_norm: golds.includes(predNorm) ? 1 : 0,
    exact_match: golds.some((g) => results[g]?.isGreedy) ? 1 : 0,
    pred,
    predNorm,
  };
}

export function loglikelihoodMetrics(r: LoglikelihoodResult): DocMetrics {
  return { acc: r.isGreedy ? 1 : 0, perplexity: r.ll };
}

/** exact_match's normalisation with ignore_case and ignore_punctuation. */
export function normalizeAnswer(s: string): string {
  let out = '';
  for (const ch of s.toLowerCase()) if (!PY_PUNCTUATION.includes(ch)) out += ch;
  return out;
}

export function generationMetrics(doc: GenerateDoc, text: string): DocMetrics & { answer: string } {
  const answer = pyLstrip(text);
  const a = normalizeAnswer(answer);
  return { exact_match: doc.targets.some((t) => normalizeAnswer(t) === a) ? 1 : 0, answer };
}

export function rollingMetrics(text: string, r: RollingResult): DocMetrics {
  const bytes = utf8Len(text);
  return { word_perplexity: [r.ll, pyWordCount(text)], byte_perplexity: [r.ll, bytes], bits_per_byte: [r.ll, bytes] };
}

export interface MetricValue {
  value: number;
  /** Standard error, or null where there is none (n = 1, weighted perplexities). */
  stderr: number | null;
}

export const HIGHER_IS_BETTER: Record<MetricName, boolean> = {
  acc: true, acc_norm: true, exact_match: true, perplexity: false, word_perplexity: false, byte_perplexity: false, bits_per_byte: false,
};

export function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (ddof 1) / √n; null below two values. */
export function meanStderr(xs: number[]): number | null {
  const n = xs.length;
  if (n < 2) return null;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (n - 1)) / Math.sqrt(n);
}

export const perplexityOf = (lls: number[]) => Math.exp(-mean(lls));

/** Bootstrap standard error of f over resamples (with replacement) of xs; seeded. */
export function bootstrapStderr(xs: number[], f: (sample: number[]) => number, iters = 10_000, seed = 1234): number | null {
  const n = xs.length;
  if (n < 2 || iters < 2) return null;
  const rng = Rng.for(seed, 'bootstrap');
  const stats: number[] = new Array(iters);
  const sample: number[] = new Array(n);
  for (let k = 0; k < iters; k++) {
    for (let i = 0; i < n; i++) sample[i] = xs[rng.int(n)];
    stats[k] = f(sample);
  }
  const m = mean(stats);
  let s = 0;
  for (const x of stats) s += (x - m) ** 2;
  return Math.sqrt(s / (iters - 1));
}

/** Aggregate one metric over documents. */
export function aggregateMetric(name: MetricName, values: DocValue[], opts: { bootstrapIters?: number; seed?: number } = {}): MetricValue {
  if (!values.length) return { value: NaN, stderr: null };
  switch (name) {
    case 'perplexity': {
      const lls = values as number[];
      return { value: perplexityOf(lls), stderr: bootstrapStderr(lls, perplexityOf, opts.bootstrapIters, opts.seed) };
    }
    case 'word_perplexity':
    case 'byte_perplexity':
    case 'bits_per_byte': {
      let ll = 0;
      let w = 0;
      for (const [a, b] of values as Array<[number, number]>) { ll += a; w += b; }
      return { value: name === 'bits_per_byte' ? -ll / w / Math.LN2 : Math.exp(-ll / w), stderr: null };
    }
    default: {
      const xs = values as number[];
      return { value: mean(xs), stderr: meanStderr(xs) };
    }
  }
}
