// SentencePiece-style BPE with llama2.c run.c semantics, so prompts encode exactly as run.c does:
//  - non-empty text gets the dummy-prefix token (the piece " ") in front;
//  - each UTF-8 code point that is a piece becomes that piece, else one byte-fallback token per byte
//    (id = byte + 3 unless the vocabulary says otherwise);
//  - then, repeatedly, the adjacent pair whose concatenation is a piece with the HIGHEST score is
//    merged (ties: the leftmost pair), until no pair merges.
// run.c rescans the whole sequence per merge (quadratic); here a priority queue ordered by
// (score desc, left position asc) with lazily invalidated entries picks the very same pair each step.
//
// Pieces are kept as "binary strings" (one char per byte) so lookups and concatenations are
// byte-exact, like run.c's strcmp on char*. Decoding assembles bytes first and UTF-8-decodes last, so
// a character split over byte tokens comes out whole.

import { inputError } from '../errors';
import { Tokenizer } from './tokenizer';

export interface SentencePieceVocab {
  /** UTF-8 bytes of each piece (a space, not U+2581). */
  pieces: Uint8Array[];
  scores: ArrayLike<number>;
  bosId?: number;
  eosId?: number;
  /** Ids that decode to nothing (BOS and EOS are always among them). */
  controlIds?: Iterable<number>;
  /** Ids that text lookup and merges never produce (GGUF: unknown, control, unused, byte). run.c: none. */
  unmatchableIds?: Iterable<number>;
  /** Byte-fallback id for each byte value 0..255 (-1: none). Default byte + 3, as run.c. */
  byteIds?: ArrayLike<number>;
  /** Prepend the " " piece to non-empty text (SentencePiece add_dummy_prefix). Default true. */
  addDummyPrefix?: boolean;
  /** Where the vocabulary came from, for error messages. */
  file?: string;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
const MERGE_FLOOR = Math.fround(-1e10); // run.c: best_score starts at -1e10 and needs ">"
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class SentencePieceTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly file?: string;
  private readonly strs: string[];          // binary strings, one char per byte
  private readonly scores: Float64Array;
  private readonly canon: Int32Array;       // id -> first id with the same piece
  private readonly first = new Map<string, number>();
  private readonly ascii = new Int32Array(128).fill(-1);
  private readonly codePoints = new Map<number, number>();
  private readonly pairs = new Map<number, number>(); // canon(a) * V + canon(b) -> merged id
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly addDummyPrefix: boolean;
  private readonly outBytes: Uint8Array;     // the bytes every id decodes to, back to back
  private readonly outStart: Int32Array;     // [n + 1]: id i's bytes are outBytes[outStart[i], outStart[i + 1])
  private readonly stripAfterBos: Uint8Array; // 1 where the bytes start with a space that is dropped after BOS

  constructor(v: SentencePieceVocab) {
    const n = v.pieces.length;
    this.file = v.file;
    if (n === 0) throw inputError('the vocabulary is empty', v.file);
    if (v.scores.length !== n) throw inputError(`${v.scores.length} scores for ${n} pieces`, v.file);
    this.vocabSize = n;
    for (const [name, id] of [['BOS', v.bosId], ['EOS', v.eosId]] as const) {
      if (id !== undefined && !(Number.isInteger(id) && id >= 0 && id < n)) {
        throw inputError(`${name} id ${id} is outside the ${n}-token vocabulary`, v.file);
      }
    }
    this.bosId = v.bosId;
    this.eosId = v.eosId;
    this.addDummyPrefix = v.addDummyPrefix ?? true;
    this.strs = v.pieces.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('latin1'));
    this.scores = Float64Array.from(v.scores);

    const control = new Set<number>(v.controlIds ?? []);
    if (v.bosId !== undefined) control.add(v.bosId);
    if (v.eosId !== undefined) control.add(v.eosId);
    const unmatchable = new Set<number>(v.unmatchableIds ?? []);

    const first = this.first;
    const matchable = new Map<string, number>();
    this.canon = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const s = this.strs[i];
      if (!first.has(s)) first.set(s, i);
      this.canon[i] = first.get(s)!;
      if (!unmatchable.has(i) && !matchable.has(s)) matchable.set(s, i);
    }
    for (let b = 0; b < 128; b++) this.ascii[b] = matchable.get(String.fromCharCode(b)) ?? -1;
    for (const [s, id] of matchable) {
      if (s.length >= 2 && s.length <= 4) {
        const cp = singleCodePoint(s);
        if (cp >= 0x80) this.codePoints.set(cp, id);
      }
      // every split of a piece into two pieces is a merge that produces it
      for (let k = 1; k < s.length; k++) {
        const a = first.get(s.slice(0, k));
        const b = first.get(s.slice(k));
        if (a !== undefined && b !== undefined) this.pairs.set(a * n + b, id);
      }
    }
    for (let b = 0; b < 256; b++) {
      const id = v.byteIds ? v.byteIds[b] : b + 3;
      this.byteIds[b] = Number.isInteger(id) && id >= 0 && id < n ? id : -1;
    }

    // one buffer for all ids' bytes (a Uint8Array per id cost ~0.5 KB of heap each: 16 MB for a 32K vocabulary)
    const byteOf = (i: number): number => { const m = BYTE_PIECE.exec(this.strs[i]); return m ? parseInt(m[1], 16) : -1; };
    this.outStart = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      const len = control.has(i) ? 0 : byteOf(i) >= 0 ? 1 : this.strs[i].length;   // strs hold one char per byte
      this.outStart[i + 1] = this.outStart[i] + len;
    }
    this.outBytes = new Uint8Array(this.outStart[n]);
    this.stripAfterBos = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const at = this.outStart[i];
      if (this.outStart[i + 1] === at) continue;
      const b = byteOf(i);
      if (b >= 0) {
        this.outBytes[at] = b;   // run.c strips the space before parsing "<0xNN>", so a byte token keeps its byte after BOS
        continue;
      }
      const str = this.strs[i];
      for (let k = 0; k < str.length; k++) this.outBytes[at + k] = str.charCodeAt(k);
      if (this.outBytes[at] === 0x20) this.stripAfterBos[i] = 1;
    }
  }

  /** The bytes id decodes to; after BOS (the start of a continuation) without a leading space. */
  private bytesOf(id: number, afterBos: boolean): Uint8Array {
    return this.outBytes.subarray(this.outStart[id] + (afterBos ? this.stripAfterBos[id] : 0), this.outStart[id + 1]);
  }

  encode(text: string): number[] {
    if (text.length === 0) return [];
    // The dummy prefix is a space in front of the text: with a " " piece that is run.c's
    // dummy_prefix token. Lone surrogates become U+FFFD, as any UTF-8 writer does.
    const bytes = Buffer.from(this.addDummyPrefix ? ' ' + text : text, 'utf8');
    const ids = new Int32Array(bytes.length);
    let n = 0;
    for (let p = 0; p < bytes.length;) {
      const b0 = bytes[p];
      if (b0 < 0x80) {
        const id = this.ascii[b0];
        ids[n++] = id >= 0 ? id : this.byteFallback(b0);
        p++;
        continue;
      }
      const len = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : 2;
      let cp = b0 & (len === 2 ? 0x1f : len === 3 ? 0x0f : 0x07);
      for (let k = 1; k < len; k++) cp = (cp << 6) | (bytes[p + k] & 0x3f);
      const id = this.codePoints.get(cp);
      if (id !== undefined) ids[n++] = id;
      else for (let k = 0; k < len; k++) ids[n++] = this.byteFallback(bytes[p + k]);
      p += len;
    }
    return this.merge(ids, n);
  }

  decode(ids: number[]): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    let afterBos = true; // a continuation starts right after BOS
    for (const id of ids) {
      this.check(id);
      const b = this.bytesOf(id, afterBos);
      afterBos = id === this.bosId;
      if (b.length) { parts.push(b); total += b.length; }
    }
    return utf8.decode(Buffer.concat(parts, total));
  }

  /** Bytes `id` adds after `prev`; prev = bosId (or -1) for the first token of a continuation. */
  tokenBytes(prev: number, id: number): Uint8Array {
    this.check(id);
    return this.bytesOf(id, prev === this.bosId || prev < 0);
  }

  /** Text of one step; a lone byte of a multi-byte character shows as U+FFFD (use TokenStreamer). */
  decodeStep(prev: number, id: number): string {
    return utf8.decode(this.tokenBytes(prev, id));
  }

  idToPiece(id: number): string {
    this.check(id);
    return utf8.decode(Buffer.from(this.strs[id], 'latin1'));
  }

  /** First id whose piece is `piece` (a space, not U+2581). */
  pieceToId(piece: string): number | undefined {
    return this.first.get(Buffer.from(piece, 'utf8').toString('latin1'));
  }

  score(id: number): number {
    this.check(id);
    return this.scores[id];
  }

  private check(id: number): void {
    if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) {
      throw inputError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`, this.file);
    }
  }

  private byteFallback(b: number): number {
    const id = this.byteIds[b];
    if (id < 0) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      throw inputError(`cannot encode byte 0x${hex}: the vocabulary has no byte-fallback token for it`, this.file);
    }
    return id;
  }

  private merge(ids: Int32Array, n: number): number[] {
    if (n < 2) return Array.from(ids.subarray(0, n));
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const ver = new Int32Array(n); // bumped whenever a node changes id or dies
    for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
    const q = new MergeQueue(n);
    const offer = (a: number, b: number) => {
      const c = this.pairs.get(this.canon[ids[a]] * this.vocabSize + this.canon[ids[b]]);
      if (c === undefined) return;
      const s = this.scores[c];
      if (s > MERGE_FLOOR) q.push(s, a, b, ver[a], ver[b], c);
    };
    for (let i = 0; i + 1 < n; i++) offer(i, i + 1);
    while (q.size > 0) {
      const e = q.pop();
      const i = q.left[e], j = q.right[e];
      if (ver[i] !== q.vl[e] || ver[j] !== q.vr[e]) continue; // stale
      ids[i] = q.merged[e];
      ver[i]++;
      ver[j]++;
      const k = next[j];
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i] >= 0) offer(prev[i], i);
      if (k >= 0) offer(i, k);
    }
    const res: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) res.push(ids[i]); // node 0 is never merged away
    return res;
  }
}

/** The code point of a binary string holding exactly one well-formed UTF-8 sequence, else -1. */
function singleCodePoint(s: string): number {
  let t: string;
  try {
    t = utf8Strict.decode(Buffer.from(s, 'latin1'));
  } catch {
    return -1;
  }
  const cp = t.codePointAt(0)!;
  return t.length === (cp > 0xffff ? 2 : 1) ? cp : -1;
}

/** Binary max-heap of merge candidates: higher score first, then the leftmost pair (as run.c). */
class MergeQueue {
  score: Float64Array; left: Int32Array; right: Int32Array; vl: Int32Array; vr: Int32Array;
  merged: Int32Array; heap: Int32Array;
  size = 0;
  private count = 0;

  constructor(cap: number) {
    cap = Math.max(16, cap);
    this.score = new Float64Array(cap); this.left = new Int32Array(cap); this.right = new Int32Array(cap);
    this.vl = new Int32Array(cap); this.vr = new Int32Array(cap); this.merged = new Int32Array(cap);
    this.heap = new Int32Array(cap);
  }

  push(score: number, left: number, right: number, vl: number, vr: number, merged: number): void {
    if (this.count === this.score.length) this.grow();
    const e = this.count++;
    this.score[e] = score; this.left[e] = left; this.right[e] = right;
    this.vl[e] = vl; this.vr[e] = vr; this.merged[e] = merged;
    const h = this.heap;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(e, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  pop(): number {
    const h = this.heap;
    const top = h[0];
    const last = h[--this.size];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && this.before(h[c + 1], h[c])) c++;
      if (!this.before(h[c], last)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = last;
    return top;
  }

  private before(a: number, b: number): boolean {
    const sa = this.score[a], sb = this.score[b];
    return sa > sb || (sa === sb && this.left[a] < this.left[b]);
  }

  private grow(): void {
    const cap = this.score.length * 2;
    const g = <T extends Float64Array | Int32Array>(x: T, make: (n: number) => T): T => { const y = make(cap); y.set(x); return y; };
    this.score = g(this.score, (k) => new Float64Array(k));
    this.left = g(this.left, (k) => new Int32Array(k)); this.right = g(this.right, (k) => new Int32Array(k));
    this.vl = g(this.vl, (k) => new Int32Array(k)); this.vr = g(this.vr, (k) => new Int32Array(k));
    this.merged = g(this.merged, (k) => new Int32Array(k)); this.heap = g(this.heap, (k) => new Int32Array(k));
  }
}

/**
 * Streams generated text: push(id) returns the text that is now complete, holding back an
 * incomplete UTF-8 sequence until its last byte arrives; flush() returns what is left.
 * Uses tokenBytes when the tokenizer has it, else re-decodes the ids so far and holds back a
 * trailing U+FFFD (quadratic in the length, fine for generation).
 */
export class TokenStreamer {
  private prev: number;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private readonly ids: number[] = [];
  private emitted = 0;

  constructor(private readonly tok: Tokenizer, prev?: number) {
    this.prev = prev ?? tok.bosId ?? -1;
  }

  push(id: number): string {
    if (this.tok.tokenBytes) {
      const b = this.tok.tokenBytes(this.prev, id);
      this.prev = id;
      return this.decoder.decode(b, { stream: true });
    }
    this.ids.push(id);
    this.prev = id;
    const text = this.tok.decode(this.ids);
    if (text.endsWith('\uFFFD')) return ''; // maybe an incomplete character: wait for more
    return this.take(text);
  }

  flush(): string {
    if (this.tok.tokenBytes) return this.decoder.decode();
    return this.take(this.tok.decode(this.ids));
  }

  private take(text: string): string {
    const s = text.slice(this.emitted);
    this.emitted = Math.max(this.emitted, text.length);
    return s;
  }
}
