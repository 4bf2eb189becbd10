// Fill-in-the-middle prompts: find a model's FIM markers in its vocabulary (the formats live in templates.ts)
// and lay out a completion at a cursor the way the family was trained. A model without them completes from
// the prefix alone.

import type { Tokenizer } from '../tokenizers/tokenizer';
import { inputError } from '../errors';
import { FIM_TEMPLATE_NAMES, FIM_TEMPLATES, FimTemplate, FimTemplateName } from './templates';

/** A template resolved against one vocabulary: its marker ids. */
export interface FimTokens {
  template: FimTemplateName;
  order: 'psm' | 'spm';
  prefix: number;
  suffix: number;
  middle?: number;
  repo?: { name: number; file: number; newlineAfterName: boolean };
}

/** 'auto' (the first template the vocabulary has), 'none' (prefix only), or a template by name. */
export type FimChoice = 'auto' | 'none' | FimTemplateName;

export function isFimChoice(v: unknown): v is FimChoice {
  return v === 'auto' || v === 'none' || (FIM_TEMPLATE_NAMES as readonly unknown[]).includes(v);
}

/** Every marker spelling's id in `tok` (pieces compared as stored and with spaces as ▁). */
function markerIds(tok: Tokenizer): Map<string, number> {
  const want = new Set<string>();
  for (const t of FIM_TEMPLATES) for (const list of [t.prefix, t.suffix, t.middle ?? [], t.repo?.name ?? [], t.repo?.file ?? []]) for (const w of list) want.add(w);
  const found = new Map<string, number>();
  for (let id = 0; tok.idToPiece && id < tok.vocabSize; id++) {
    let piece: string;
    try {
      piece = tok.idToPiece(id);
    } catch {
      continue;
    }
    for (const p of [piece, piece.replace(/ /g, '▁')]) if (want.has(p) && !found.has(p)) found.set(p, id);
  }
  return found;
}

function resolve(t: FimTemplate, ids: Map<string, number>): FimTokens | undefined {
  const pick = (spellings: string[]) => spellings.map((s) => ids.get(s)).find((i) => i !== undefined);
  const prefix = pick(t.prefix), suffix = pick(t.suffix), middle = t.middle ? pick(t.middle) : undefined;
  if (prefix === undefined || suffix === undefined || (t.middle && middle === undefined)) return undefined;
  const name = t.repo && pick(t.repo.name), file = t.repo && pick(t.repo.file);
  return {
    template: t.name, order: t.order, prefix, suffix, ...(middle !== undefined ? { middle } : {}),
    ...(name !== undefined && file !== undefined ? { repo: { name, file, newlineAfterName: t.repo!.newlineAfterName } } : {}),
  };
}

/**
 * The FIM markers of `tok` under `choice`, or undefined for a model without them ('auto') or 'none'.
 * A template named explicitly whose markers the vocabulary lacks is an INPUT error naming them.
 */
export function findFimTokens(tok: Tokenizer | undefined, choice: FimChoice = 'auto'): FimTokens | undefined {
  if (!tok?.idToPiece || choice === 'none') return undefined;
  const ids = markerIds(tok);
  if (choice === 'auto') {
    for (const t of FIM_TEMPLATES) {
      const r = resolve(t, ids);
      if (r) return r;
    }
    return undefined;
  }
  const t = FIM_TEMPLATES.find((x) => x.name === choice)!;
  const r = resolve(t, ids);
  if (!r) {
    const need = [t.prefix[0], t.suffix[0], ...(t.middle ? [t.middle[0]] : [])].join(' ');
    throw inputError(`FIM template '${choice}' (${t.families}) needs the tokens ${need}, which this model's vocabulary does not have`);
  }
  return r;
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

/** Where the completion is, for the repository-level form of the families that have one. */
export interface FimWhere { repo?: string; path?: string }

/**
 * Prompt ids for a completion of `prefix` (and `suffix` when the model has FIM markers) within `budget`
 * tokens, in the template's order (templates.ts): psm [BOS?] (repo header) PRE prefix SUF suffix MID;
 * spm [BOS?] SUF suffix PRE prefix; without markers [BOS?] prefix. What does not fit is cut where it
 * matters least: the start of the prefix, the end of the suffix (at most half the budget goes to the
 * suffix); the repository header is left out when it would take more than a quarter of the budget. Only the
 * characters that can matter are tokenised: a token stands for at most maxPieceChars characters, so the last
 * budget × that many characters of the prefix hold every token that fits (a 10 MB prefix — an editor's
 * whole file — used to be tokenised in full: seconds, ~1 GB).
 */
export function completionIds(tok: Tokenizer, fim: FimTokens | undefined, prefix: string, suffix: string, budget: number,
  bos?: number, where: FimWhere = {}): number[] {
  const head = bos !== undefined ? [bos] : [];
  const chars = (tokens: number) => Math.max(0, tokens) * maxPieceChars(tok);
  const pre = tok.encode(lastChars(prefix, chars(budget)));
  if (!fim) return [...head, ...pre.slice(Math.max(0, pre.length - (budget - head.length)))];
  let repo: number[] = [];
  if (fim.repo && where.repo !== undefined && where.path !== undefined) {
    const name = tok.encode(firstChars(where.repo, 256) + (fim.repo.newlineAfterName ? '\n' : ''));
    repo = [fim.repo.name, ...name, fim.repo.file, ...tok.encode(firstChars(where.path, 1024) + '\n')];
    if (repo.length > budget / 4) repo = [];
  }
  const markers = fim.middle !== undefined ? 3 : 2;
  const room = budget - head.length - repo.length - markers;
  const suf = tok.encode(firstChars(suffix, chars(Math.floor(room / 2)))).slice(0, Math.max(0, Math.floor(room / 2)));
  const preKept = pre.slice(Math.max(0, pre.length - (room - suf.length)));
  const mid = fim.middle !== undefined ? [fim.middle] : [];
  return fim.order === 'psm'
    ? [...head, ...repo, fim.prefix, ...preKept, fim.suffix, ...suf, ...mid]
    : [...head, ...repo, fim.suffix, ...suf, fim.prefix, ...preKept, ...mid];
}
