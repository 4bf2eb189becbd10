// Fill-in-the-middle: find a model's FIM tokens in its vocabulary and lay out prefix/suffix
// prompts the way such models were trained (prefix-suffix-middle order). A model without them
// completes from the prefix alone.

import type { Tokenizer } from '../engine/tokenizers/tokenizer';

export interface FimTokens { prefix: number; suffix: number; middle: number }

// Spellings used by code models: StarCoder/SantaCoder, Qwen2.5-Coder/DeepSeek-style, CodeLlama.
const SPELLINGS: [string, string, string][] = [
  ['<fim_prefix>', '<fim_suffix>', '<fim_middle>'],
  ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'],
  ['<fim-prefix>', '<fim-suffix>', '<fim-middle>'],
  ['▁<PRE>', '▁<SUF>', '▁<MID>'],
  ['<PRE>', '<SUF>', '<MID>'],
];

/** The FIM token ids of `tok`, or undefined when its vocabulary has no complete set. */
export function findFimTokens(tok: Tokenizer | undefined): FimTokens | undefined {
  if (!tok?.idToPiece) return undefined;
  const want = new Map<string, number>();
  for (const s of SPELLINGS) for (const w of s) want.set(w, -1);
  for (let id = 0; id < tok.vocabSize; id++) {
    let piece: string;
    try {
      piece = tok.idToPiece(id);
    } catch {
      continue;
    }
    const p = piece.replace(/ /g, '▁');
    if (want.get(p) === -1) want.set(p, id);
    if (want.get(piece) === -1) want.set(piece, id);
  }
  for (const [a, b, c] of SPELLINGS) {
    const ids = [want.get(a)!, want.get(b)!, want.get(c)!];
    if (ids.every((i) => i >= 0)) return { prefix: ids[0], suffix: ids[1], middle: ids[2] };
  }
  return undefined;
}

/** Longest piece a token stands for, in characters (at most PIECE_CHARS_CAP); cached per tokenizer. */
const pieceChars = new WeakMap<Tokenizer, number>();
const PIECE_CHARS_CAP = 64;   // a few whitespace pieces are longer; a context cut a little short is fine
export function maxPieceChars(tok: Tokenizer): number {
  let n = pieceChars.get(tok);
  if (n === undefined) {
    n = 1;
    for (let id = 0; tok.idToPiece && id < tok.vocabSize && n < PIECE_CHARS_CAP; id++) {
      try {
        n = Math.max(n, tok.idToPiece(id).length);
      } catch {
        // an id without a piece
      }
    }
    if (!tok.idToPiece) n = PIECE_CHARS_CAP;
    n = Math.min(n, PIECE_CHARS_CAP);
    pieceChars.set(tok, n);
  }
  return n;
}

/** The last `n` characters of `s` (not starting inside a surrogate pair). */
function lastChars(s: string, n: number): string {
  if (s.length <= n) return s;
  const t = s.slice(s.length - n);
  return /^[\uDC00-\uDFFF]/.test(t) ? t.slice(1) : t;
}

/** The first `n` characters of `s` (not ending inside a surrogate pair). */
function firstChars(s: string, n: number): string {
  if (s.length <= n) return s;
  const t = s.slice(0, n);
  return /[\uD800-\uDBFF]$/.test(t) ? t.slice(0, -1) : t;
}

/**
 * Prompt ids for a completion of `prefix` (and `suffix` when the model has FIM tokens) within
 * `budget` tokens: [BOS?] <PRE> prefix <SUF> suffix <MID>, or [BOS?] prefix. What does not fit is
 * cut where it matters least: the start of the prefix, the end of the suffix (at most half the
 * budget goes to the suffix). Only the characters that can matter are tokenised: a token stands for at most
 * maxPieceChars characters, so the last budget × that many characters of the prefix hold every token
 * that fits (a 10 MB prefix — an editor's whole file — used to be tokenised in full: seconds, ~1 GB).
 */
export function completionIds(tok: Tokenizer, fim: FimTokens | undefined, prefix: string, suffix: string, budget: number, bos?: number): number[] {
  const head = bos !== undefined ? [bos] : [];
  const chars = (tokens: number) => Math.max(0, tokens) * maxPieceChars(tok);
  const pre = tok.encode(lastChars(prefix, chars(budget)));
  if (!fim) return [...head, ...pre.slice(Math.max(0, pre.length - (budget - head.length)))];
  const room = budget - head.length - 3;
  const suf = tok.encode(firstChars(suffix, chars(Math.floor(room / 2)))).slice(0, Math.max(0, Math.floor(room / 2)));
  const preKept = pre.slice(Math.max(0, pre.length - (room - suf.length)));
  return [...head, fim.prefix, ...preKept, fim.suffix, ...suf, fim.middle];
}
