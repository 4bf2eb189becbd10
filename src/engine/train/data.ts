// Training data: documents from files (plain text, JSONL with a "text" field as C4 ships it, WikiText
// raw; paths or globs, read by eval/corpus.ts), tokenized, joined into one stream and packed into
// blocks of the training length; or, for users without data, a corpus sampled from the model itself.
//
// Stream: each document starts with BOS where the family uses one (Llama, OPT; as llama2.c trains);
// GPT-2 separates documents with EOS (<|endoftext|>). Blocks are consecutive T-token slices of the
// stream (the tail that does not fill a block is dropped). Held-out blocks are the last ones of the
// stream unless separate evaluation files are given. Bad input (missing, empty or binary files, a
// JSONL line without "text", too little data) is a typed error naming the file.

import * as fs from 'fs';
import { expandPaths, readDocuments } from '../eval/corpus';
import { formatError, inputError } from '../errors';
import type { ModelConfig } from '../models/config';
import { documentEndFor } from '../models/arch/registry';
import { Tokenizer } from '../tokenizers/tokenizer';
import { bosFor, startTokenFor } from '../models/bos';
import type { CausalLM } from '../runtime/lm';
import { generate } from '../runtime/generate';

/** Blocks of T token ids, stored as one buffer. */
export class Blocks {
  constructor(readonly ids: Int32Array, readonly T: number) {}
  get count(): number {
    return Math.floor(this.ids.length / this.T);
  }
  get(i: number): Int32Array {
    return this.ids.subarray(i * this.T, (i + 1) * this.T);
  }
  slice(from: number, to: number): Blocks {
    return new Blocks(this.ids.slice(from * this.T, to * this.T), this.T);
  }
}

/** What a training run reads: training and held-out blocks, and where known the held-out documents (Corpus.heldoutDocs). */
export interface TrainData {
  train: Blocks;
  eval: Blocks;
  heldoutDocs?: number[][];
}

export interface Corpus {
  train: Blocks;
  eval: Blocks;
  files: string[];
  /** Tokens in the stream before packing. */
  tokens: number;
  /**
   * The documents no training block touches (encodeDocument's ids, whole): those of the evaluation files, or
   * those that start at or after the first held-out block of the stream (a document cut by the split is left
   * out). What a bank trained on this data calibrates its selection with.
   */
  heldoutDocs: number[][];
}

/** Why a file's text is not usable training text, or undefined. */
function textProblem(text: string): string | undefined {
  if (text.trim().length === 0) return 'is empty: no text to train on';
  const sample = text.length > 65536 ? text.slice(0, 65536) : text;
  if (sample.includes('\u0000')) return 'looks binary (it contains NUL bytes), not text';
  let bad = 0;
  for (let i = 0; i < sample.length; i++) if (sample.charCodeAt(i) === 0xfffd) bad++;
  if (bad > 8 && bad > sample.length / 100) return 'is not UTF-8 text (many invalid byte sequences)';
  return undefined;
}

/** Documents of every file, each file checked (exists, not empty, not binary, JSONL rows with "text"). */
export function readTrainingDocs(patterns: string[], cwd?: string): { docs: string[]; files: string[] } {
  if (patterns.length === 0) throw inputError('no training data: give at least one file or glob');
  const files = expandPaths(patterns, cwd);
  const docs: string[] = [];
  for (const f of files) {
    if (fs.statSync(f).size === 0) throw formatError(f, 'is empty: no text to train on');
    const d = readDocuments(f);
    const why = textProblem(d.join('\n'));
    if (why) throw formatError(f, why);
    docs.push(...d.filter((x) => x.length > 0));
  }
  return { docs, files };
}

/** One document's ids as the training stream holds it: BOS first (bosFor), or for GPT-2 EOS after it. */
export function encodeDocument(text: string, tok: Tokenizer, cfg: Pick<ModelConfig, 'arch' | 'bosTokenId' | 'eosTokenId'>): number[] {
  const bos = bosFor(cfg, tok);
  const eos = documentEndFor(cfg, tok);
  return [...(bos !== undefined ? [bos] : []), ...tok.encode(text), ...(eos !== undefined ? [eos] : [])];
}

/**
 * The documents of one data entry (a file or a quoted glob: plain text = one document, JSONL = one per "text")
 * as token ids (encodeDocument), the first `maxDocs`, each cut to `maxTokens`; `skipped`: those left under 2 tokens.
 */
export function documentIds(entry: string, tok: Tokenizer, cfg: Pick<ModelConfig, 'arch' | 'bosTokenId' | 'eosTokenId'>,
  o: { maxDocs?: number; maxTokens: number; cwd?: string }): { ids: number[][]; index: number[]; files: string[]; skipped: number } {
  const { docs, files } = readTrainingDocs([entry], o.cwd);
  const all = docs.slice(0, o.maxDocs).map((d) => encodeDocument(d, tok, cfg).slice(0, o.maxTokens));
  const index = all.map((_, i) => i).filter((i) => all[i].length >= 2);
  return { ids: index.map((i) => all[i]), index, files, skipped: all.length - index.length };
}

/** Token stream of documents (each as encodeDocument makes it). */
export function tokenizeDocs(docs: string[], tok: Tokenizer, cfg: ModelConfig): Int32Array {
  return joinDocs(docs.map((d) => encodeDocument(d, tok, cfg)));
}

/** Encoded documents joined into one stream, in order. */
export function joinDocs(parts: ArrayLike<number>[]): Int32Array {
  const out = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
  let k = 0;
  for (const p of parts) { out.set(p, k); k += p.length; }
  return out;
}

export interface CorpusOptions {
  /** Block length T (tokens per training row). */
  seqLen: number;
  /** Held-out evaluation files; default: the last blocks of the training stream. */
  evalFiles?: string[];
  /** Fraction of blocks held out when no evaluation files are given (default 0.05, at least 1 block). */
  evalFraction?: number;
  /** At most this many held-out blocks (default 64). */
  maxEvalBlocks?: number;
  /**
   * Hold out this fraction of the documents (evenly spaced, at least 2) instead of the stream's last blocks:
   * they leave the training stream whole, become the held-out blocks and Corpus.heldoutDocs.
   */
  holdoutDocs?: number;
  cwd?: string;
}

function pack(stream: Int32Array, T: number, what: string, file: string): Blocks {
  const b = new Blocks(stream, T);
  if (b.count === 0) throw inputError(`${what} has ${stream.length} tokens, fewer than one block of ${T}`, file);
  return b;
}

/** Read, tokenize and pack training (and held-out) data. */
export function loadCorpus(patterns: string[], tok: Tokenizer, cfg: ModelConfig, o: CorpusOptions): Corpus {
  const { docs, files } = readTrainingDocs(patterns, o.cwd);
  const parts = docs.map((d) => encodeDocument(d, tok, cfg));
  const maxEval = o.maxEvalBlocks ?? 64;
  if (o.holdoutDocs !== undefined && !o.evalFiles?.length) {
    const k = Math.min(parts.length - 1, Math.max(2, Math.round(parts.length * o.holdoutDocs)));
    if (k < 2) throw inputError(`holding out documents needs at least 3, the data has ${parts.length}`, files[0]);
    const held = new Set(Array.from({ length: k }, (_, j) => Math.floor(((j + 0.5) * parts.length) / k)));
    const heldoutDocs = parts.filter((_, i) => held.has(i));
    const train = pack(joinDocs(parts.filter((_, i) => !held.has(i))), o.seqLen, 'the training data', files[0]);
    const evalBlocks = pack(joinDocs(heldoutDocs), o.seqLen, 'the held-out documents', files[0]);
    return { train, eval: evalBlocks.slice(0, Math.min(maxEval, evalBlocks.count)), files, tokens: parts.reduce((a, p) => a + p.length, 0), heldoutDocs };
  }
  const stream = joinDocs(parts);
  const all = pack(stream, o.seqLen, 'the training data', files[0]);
  if (o.evalFiles && o.evalFiles.length) {
    const ev = readTrainingDocs(o.evalFiles, o.cwd);
    const evParts = ev.docs.map((d) => encodeDocument(d, tok, cfg));
    const evalBlocks = pack(joinDocs(evParts), o.seqLen, 'the evaluation data', ev.files[0]);
    return { train: all, eval: evalBlocks.slice(0, Math.min(maxEval, evalBlocks.count)), files, tokens: stream.length, heldoutDocs: evParts };
  }
  const nEval = Math.min(maxEval, Math.max(1, Math.round(all.count * (o.evalFraction ?? 0.05))));
  if (all.count - nEval < 1) {
    throw inputError(`the training data packs into ${all.count} block(s) of ${o.seqLen} tokens: need at least 2 (one is held out), or give evaluation files`, files[0]);
  }
  const trainEnd = (all.count - nEval) * o.seqLen;
  const heldoutDocs: number[][] = [];
  for (let i = 0, at = 0; i < parts.length; at += parts[i].length, i++) if (at >= trainEnd) heldoutDocs.push(parts[i]);
  return { train: all.slice(0, all.count - nEval), eval: all.slice(all.count - nEval, all.count), files, tokens: stream.length, heldoutDocs };
}

export interface SampleOptions {
  /** Tokens to sample in total (rounded up to whole blocks). */
  tokens: number;
  seqLen: number;
  seed: number;
  temperature?: number;   // default 1 (the model's own distribution)
  /** Sequences generated together (default 16). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  isCancelled?: () => boolean;
}

/**
 * Data-free corpus: blocks sampled from the (uncompressed) model itself, each starting at BOS (or
 * EOS for GPT-2) and continuing for seqLen − 1 tokens; sequences that end early are continued with a
 * new document (BOS + sample) so every block is full.
 */
export async function sampleCorpus(lm: CausalLM, tok: Tokenizer | undefined, o: SampleOptions): Promise<Blocks> {
  const cfg = lm.config;
  const start = startTokenFor(cfg, tok);
  if (start === undefined) throw inputError('data-free training needs a model with a BOS (or EOS) token to start samples from');
  if (o.seqLen > cfg.maxPositions) throw inputError(`sequence length ${o.seqLen} exceeds the model's context of ${cfg.maxPositions}`);
  const nBlocks = Math.max(1, Math.ceil(o.tokens / o.seqLen));
  const out = new Int32Array(nBlocks * o.seqLen);
  const batch = o.batch ?? 16;
  let filled = 0;
  let round = 0;
  const row: number[][] = [];
  while (filled < out.length) {
    if (o.isCancelled?.()) throw inputError('cancelled while sampling the data-free corpus');
    const res = await generate(lm, tok, Array.from({ length: batch }, () => [start]), {
      maxTokens: o.seqLen - 1, temperature: o.temperature ?? 1, seed: o.seed * 7919 + round++, stopIds: [],
    });
    for (const r of res.rows) row.push([start, ...r.ids]);
    const flat = row.splice(0).flat();
    const take = Math.min(flat.length, out.length - filled);
    out.set(flat.slice(0, take), filled);
    filled += take;
    o.onProgress?.(filled, out.length);
  }
  return new Blocks(out, o.seqLen);
}
