// Byte-level BPE training (the GPT-2 scheme), producing a tokenizer.json that loadTokenizerJson reads.
//
//   1. Pre-tokenization: text is cut by GPT-2's pattern (contractions, letters, digits, other
//      symbols, whitespace runs; a leading space stays with the next word) — the pattern the
//      ByteLevel pre-tokenizer of tokenizer.json applies at encode time, so training and encoding
//      see the same pieces. Special-token strings are cut out first (as tokenizer.json's added
//      tokens are) and never enter the counts.
//   2. Each distinct piece is a "word" (UTF-8 bytes) with its count; symbols start as the 256 bytes.
//   3. Repeatedly the most frequent adjacent pair (summed over words, weighted by count) is merged
//      into a new symbol, in every word, left to right without overlap. Ties go to the pair whose
//      (left id, right id) is smallest: ids are specials, then bytes in byte order, then merges in
//      the order learned — so the result is a pure function of the input counts.
//   4. Stops at the target vocabulary size, or when no pair occurs `minFrequency` times.
//
// Pair counts are updated incrementally: a merge touches only the words that contain the pair (an
// index pair → words, pruned lazily) and a max-heap with stale entries skipped on pop picks the next
// pair, so training is ~O(corpus + merges × affected words).
//
// Vocabulary strings use GPT-2's byte → printable-character map (bytes_to_unicode), as tokenizer.json
// expects; a merge whose result string already exists reuses that id (two merge paths can spell the
// same bytes).

import { inputError } from '../errors';
import { AddedTokenSpec, byteLevelBpeJson } from './hf';

/** GPT-2's pre-tokenization pattern (the ByteLevel pre-tokenizer's built-in regex). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards in byte order. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return out;
})();

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Word (pre-token) counts of texts; special-token strings are removed before splitting. */
export class WordCounter {
  readonly counts = new Map<string, number>();
  private readonly specials?: RegExp;

  constructor(specialTokens: string[] = []) {
    if (specialTokens.length) this.specials = new RegExp(specialTokens.map(escapeRe).join('|'), 'g');
  }

  add(text: string): void {
    const parts = this.specials ? text.split(this.specials) : [text];
    for (const part of parts) {
      for (const m of part.matchAll(GPT2_SPLIT)) {
        const w = m[0];
        this.counts.set(w, (this.counts.get(w) ?? 0) + 1);
      }
    }
  }
}

export interface BpeTrainOptions {
  /** Total vocabulary: special tokens + 256 bytes + merges. */
  vocabSize: number;
  /** Special tokens, given ids 0, 1, … in this order (e.g. "<|endoftext|>" first). */
  specialTokens?: string[];
  /** Stop when the best pair occurs fewer times (default 2). */
  minFrequency?: number;
  /** Called every 100 merges and at the end. */
  onProgress?: (vocab: number, target: number) => void;
  isCancelled?: () => boolean;
}

export interface BpeModel {
  /** token string (byte-level characters) → id */
  vocab: Record<string, number>;
  /** merges in rank order, as byte-level strings */
  merges: [string, string][];
  added: AddedTokenSpec[];
  /** Distinct words and their total count, for the record. */
  words: number;
  wordTokens: number;
  /** Tokens the counted text encodes to with the learned merges (Σ count × pieces per word). */
  tokens: number;
}

/** Max-heap of (count, pair key); ties: smaller key (left id, then right id) first. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private before(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]; this.counts[i] = this.counts[j]; this.counts[j] = c;
    const k = this.keys[i]; this.keys[i] = this.keys[j]; this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): { count: number; key: number } {
    const top = { count: this.counts[0], key: this.keys[0] };
    const lastC = this.counts.pop()!;
    const lastK = this.keys.pop()!;
    if (this.keys.length) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.keys.length && this.before(l, m)) m = l;
        if (r < this.keys.length && this.before(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

const MAX_VOCAB = 1 << 16;   // pair keys are left · 2^16 + right

/** Learn merges from word counts (WordCounter.counts). */
export function trainBpe(wordCounts: Map<string, number>, o: BpeTrainOptions): BpeModel {
  const specials = o.specialTokens ?? [];
  if (new Set(specials).size !== specials.length) throw inputError('special tokens must be distinct');
  const base = specials.length + 256;
  if (!(Number.isInteger(o.vocabSize) && o.vocabSize >= base && o.vocabSize <= MAX_VOCAB)) {
    throw inputError(`vocabulary size must be an integer in [${base}, ${MAX_VOCAB}] (${specials.length} special tokens + 256 bytes + merges), got ${o.vocabSize}`);
  }
  const minFreq = o.minFrequency ?? 2;

  // id → string, string → id
  const idToStr: string[] = [...specials];
  for (let b = 0; b < 256; b++) idToStr.push(BYTE_TO_CHAR[b]);
  const strToId = new Map<string, number>();
  idToStr.forEach((s, i) => { if (!strToId.has(s)) strToId.set(s, i); });

  // words as symbol arrays
  const words: number[][] = [];
  const freq: number[] = [];
  const enc = new TextEncoder();
  let wordTokens = 0;
  for (const [w, c] of wordCounts) {
    const bytes = enc.encode(w);
    if (bytes.length === 0 || c <= 0) continue;
    words.push(Array.from(bytes, (b) => specials.length + b));
    freq.push(c);
    wordTokens += c;
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const heap = new PairHeap();
  for (let w = 0; w < words.length; w++) {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] * MAX_VOCAB + s[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + freq[w]);
      let list = pairWords.get(key);
      if (!list) pairWords.set(key, (list = []));
      if (list[list.length - 1] !== w) list.push(w);
    }
  }
  for (const [key, c] of pairCount) heap.push(c, key);

  const merges: [string, string][] = [];
  const seen = new Int32Array(words.length).fill(-1);   // dedupe word visits per merge
  const delta = new Map<number, number>();
  const addPairs = (s: number[], f: number) => {
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] * MAX_VOCAB + s[i + 1];
      delta.set(key, (delta.get(key) ?? 0) + f);
    }
  };
  while (idToStr.length < o.vocabSize && heap.size > 0) {
    if (o.isCancelled?.()) throw inputError('tokenizer training cancelled');
    const top = heap.pop();
    const current = pairCount.get(top.key) ?? 0;
    if (current !== top.count) continue;            // stale entry
    if (current < minFreq) break;
    const a = Math.floor(top.key / MAX_VOCAB);
    const b = top.key % MAX_VOCAB;
    const str = idToStr[a] + idToStr[b];
    let c = strToId.get(str);
    if (c === undefined) {
      c = idToStr.length;
      idToStr.push(str);
      strToId.set(str, c);
    }
    merges.push([idToStr[a], idToStr[b]]);

    delta.clear();
    const stamp = merges.length;
    for (const w of pairWords.get(top.key) ?? []) {
      if (seen[w] === stamp) continue;
      seen[w] = stamp;
      const s = words[w];
      let found = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) { found = true; break; }
      if (!found) continue;
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { out.push(c); i++; } else out.push(s[i]);
      }
      addPairs(s, -freq[w]);
      addPairs(out, freq[w]);
      words[w] = out;
      for (let i = 0; i + 1 < out.length; i++) {
        if (out[i] !== c && out[i + 1] !== c) continue;
        const key = out[i] * MAX_VOCAB + out[i + 1];
        let list = pairWords.get(key);
        if (!list) pairWords.set(key, (list = []));
        if (list[list.length - 1] !== w) list.push(w);
      }
    }
    pairWords.delete(top.key);
    for (const [key, d] of delta) {
      if (d === 0) continue;
      const n = (pairCount.get(key) ?? 0) + d;
      if (n > 0) { pairCount.set(key, n); heap.push(n, key); } else { pairCount.delete(key); pairWords.delete(key); }
    }
    if (merges.length % 100 === 0) o.onProgress?.(idToStr.length, o.vocabSize);
  }
  o.onProgress?.(idToStr.length, o.vocabSize);

  const vocab: Record<string, number> = {};
  idToStr.forEach((s, i) => { if (!Object.prototype.hasOwnProperty.call(vocab, s)) vocab[s] = i; });
  const added = specials.map((content, id) => ({ id, content, special: true }));
  let tokens = 0;
  for (let w = 0; w < words.length; w++) tokens += freq[w] * words[w].length;
  return { vocab, merges, added, words: words.length, wordTokens, tokens };
}

/** The tokenizer.json object of a trained model (byte-level BPE, GPT-2 layout). */
export function bpeTokenizerJson(m: BpeModel): Record<string, unknown> {
  return byteLevelBpeJson(m.vocab, m.merges, m.added);
}

/** Train from texts in one call (small corpora, tests). */
export function trainBpeOnTexts(texts: Iterable<string>, o: BpeTrainOptions): BpeModel {
  const wc = new WordCounter(o.specialTokens);
  for (const t of texts) wc.add(t);
  return trainBpe(wc.counts, o);
}
