// Perplexity the way the GPTQ / SparseGPT papers report it: the corpus is tokenized as one stream,
// cut into non-overlapping windows of `seqlen` tokens (the tail that does not fill a window is
// dropped), each window scored on its own (no context from the previous one), and
//   ppl = exp( mean over windows of the window's mean next-token NLL )
// (their code: nlls.append(loss · seqlen); exp(Σ nlls / (n · seqlen))). WikiText-2: the test split
// joined with "\n\n" as one text; C4: the first 1100 validation documents joined with " ", at most
// 256 windows. BOS is put once at the start of the stream when the model family uses one (what the
// HF tokenizer call in their code does for Llama and OPT; GPT-2 has none).
//
// Anything with logits(seqs) works as the scorer — a CausalLM, or a model wrapped with adapters.

import { inputError } from '../errors';
import { Tokenizer } from '../tokenizers/tokenizer';
import { bosFor } from '../models/bos';
import { readCorpus } from './corpus';
import { isJsonl } from '../formats/json-lines';

export interface LogitsScorer {
  readonly config: { vocabSize: number; maxPositions: number; arch: string; bosTokenId?: number };
  /** Logits [len, V] for each sequence. */
  logits(seqs: number[][]): Promise<Float32Array[]>;
}

export interface EvalCorpus {
  ids: number[];
  files: string[];
  /** Window cap of the corpus' convention (256 for C4 JSONL), if any. */
  maxWindows?: number;
}

/** Token stream of evaluation files under the GPTQ papers' conventions (see the header). */
export function evalCorpus(patterns: string[], tok: Tokenizer, cfg: LogitsScorer['config'], opts: { maxDocs?: number } = {}): EvalCorpus {
  const { docs, files } = readCorpus(patterns);
  const jsonl = files.every(isJsonl);
  const text = jsonl ? docs.slice(0, opts.maxDocs ?? 1100).join(' ') : docs.join('\n\n');
  const ids = tok.encode(text);
  const bos = bosFor(cfg, tok);
  return { ids: bos !== undefined ? [bos, ...ids] : ids, files, maxWindows: jsonl ? 256 : undefined };
}

export interface PerplexityOptions {
  /** Window length (default: min(2048, the model's context)). */
  seqlen?: number;
  /** Score at most this many windows (the first ones). */
  maxWindows?: number;
  /** Windows per forward pass (default 1). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  isCancelled?: () => boolean;
}

export interface PerplexityResult {
  ppl: number;
  /** Mean NLL per token (nats). */
  nll: number;
  windows: number;
  seqlen: number;
  /** Tokens in the stream (before cutting into windows). */
  tokens: number;
  cancelled: boolean;
}

/** Mean next-token NLL of one window's logits [T, V] against its ids (float64 log-sum-exp). */
export function windowNll(logits: Float32Array, ids: number[], V: number): number {
  let sum = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const off = t * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (logits[off + v] > m) m = logits[off + v];
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - m);
    sum += Math.log(s) + m - logits[off + ids[t + 1]];
  }
  return sum / (ids.length - 1);
}

export async function perplexity(lm: LogitsScorer, ids: number[], o: PerplexityOptions = {}): Promise<PerplexityResult> {
  const seqlen = o.seqlen ?? Math.min(2048, lm.config.maxPositions);
  if (!(Number.isInteger(seqlen) && seqlen >= 2)) throw inputError(`sequence length must be an integer ≥ 2, got ${seqlen}`);
  if (seqlen > lm.config.maxPositions) throw inputError(`sequence length ${seqlen} exceeds the model's context of ${lm.config.maxPositions}`);
  let n = Math.floor(ids.length / seqlen);
  if (o.maxWindows !== undefined) n = Math.min(n, o.maxWindows);
  if (n < 1) throw inputError(`the text has ${ids.length} tokens: not one window of ${seqlen}`);
  const batch = Math.max(1, o.batch ?? 1);
  const V = lm.config.vocabSize;
  let total = 0;
  let done = 0;
  let cancelled = false;
  for (let i = 0; i < n; i += batch) {
    if (o.isCancelled?.()) { cancelled = true; break; }
    const wins = [];
    for (let j = i; j < Math.min(n, i + batch); j++) wins.push(ids.slice(j * seqlen, (j + 1) * seqlen));
    const logits = await lm.logits(wins);
    wins.forEach((w, j) => { total += windowNll(logits[j], w, V); });
    done += wins.length;
    o.onProgress?.(done, n);
  }
  const nll = done ? total / done : NaN;
  return { ppl: Math.exp(nll), nll, windows: done, seqlen, tokens: ids.length, cancelled };
}
