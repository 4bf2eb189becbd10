// Shared by the tokenizer tests: a seeded random-string generator, an independent reader of
// llama2.c tokenizer.bin, an independent quadratic implementation of llama2.c's merge rule to compare against,
// GPT-2's files as a tokenizer.json, and an assertion for typed errors.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { IdpErrorCode, isIdpError } from '../../../src/engine/errors';
import { mulberry32 } from '../../helpers/prng';

/** mulberry32: small seeded PRNG, deterministic across runs. */
export const rng = mulberry32;

const FRAGMENTS = [
  'Once', 'upon', 'a', 'time', 'the', 'The', 'Lily', 'Tom', 'played', 'park', 'ball', 'happy', 'said', 'was',
  'little', 'girl', 'named', 'She', 'loved', 'to', 'play', 'outside', 'in', 'and', 'big', 'red',
  ' ', ' ', ' ', '  ', '\n', '\n\n', '\t', '.', ',', '!', '?', '"', "'", ':', '-', '(', ')',
  'café', 'naïve', 'über', '€', '™', 'â', '日本語', '中文', '😀', '👍🏽', 'Жук', 'ü', '—', '…', '\u200a',
  '123', '42', '<', '>', '<0x41>', '<s>', '</s>', '<unk>', '|', '~', '[', ']', '%',
];

/** A random string of fragments and random code points (ASCII, Latin-1, CJK, emoji, controls). */
export function randomText(r: () => number, maxParts = 24): string {
  const parts: string[] = [];
  const n = Math.floor(r() * (maxParts + 1));
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.7) parts.push(FRAGMENTS[Math.floor(r() * FRAGMENTS.length)]);
    else if (k < 0.8) parts.push(String.fromCharCode(0x20 + Math.floor(r() * 95)));
    else if (k < 0.86) parts.push(String.fromCodePoint(0xa0 + Math.floor(r() * 0x160)));
    else if (k < 0.92) parts.push(String.fromCodePoint(0x4e00 + Math.floor(r() * 0x5000)));
    else if (k < 0.97) parts.push(String.fromCodePoint(0x1f300 + Math.floor(r() * 0x300)));
    else parts.push(String.fromCharCode(1 + Math.floor(r() * 31)));
  }
  return parts.join('');
}

export interface RawVocab { pieces: Buffer[]; scores: number[] }

/** Reads a well-formed tokenizer.bin to its end (no validation: test input only). */
export function readTokBin(file: string): RawVocab {
  const b = fs.readFileSync(file);
  const pieces: Buffer[] = [];
  const scores: number[] = [];
  for (let o = 4; o < b.length;) {
    scores.push(b.readFloatLE(o));
    const len = b.readInt32LE(o + 4);
    pieces.push(b.subarray(o + 8, o + 8 + len));
    o += 8 + len;
  }
  return { pieces, scores };
}

/** The merge rule llama2.c applies, done naively: O(n^2) rescans, strings compared byte for byte. */
export function naiveRunCEncode(v: RawVocab, text: string): number[] {
  const strs = v.pieces.map((p) => p.toString('latin1'));
  const lookup = new Map<string, number>();
  strs.forEach((s, i) => { if (!lookup.has(s)) lookup.set(s, i); });
  const tokens: number[] = [];
  if (text.length > 0) tokens.push(lookup.get(' ')!);
  for (const ch of text) {
    const bytes = Buffer.from(ch, 'utf8');
    const id = lookup.get(bytes.toString('latin1'));
    if (id !== undefined) tokens.push(id);
    else for (const b of bytes) tokens.push(b + 3);
  }
  for (;;) {
    let bestScore = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = lookup.get(strs[tokens[i]] + strs[tokens[i + 1]]);
      if (id !== undefined && v.scores[id] > bestScore) {
        bestScore = v.scores[id]; bestId = id; bestIdx = i;
      }
    }
    if (bestIdx < 0) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

/** Asserts that fn throws an IdpError with this code naming this file. */
export function assertIdpError(fn: () => unknown, code: IdpErrorCode, file: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isIdpError(e), `expected an IdpError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.file, file, e.message);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    return true;
  });
}

/**
 * GPT-2's encoder.json + merges.txt written as the tokenizer.json transformers saves for GPT-2 (byte-level BPE,
 * <|endoftext|> 50256 added), plus `extra` special tokens given ids 50257, 50258, … (FIM markers and such).
 * Returns the file's path in `dir`.
 */
export function writeGpt2TokenizerJson(dir: string, vocabFile: string, mergesFile: string, extra: string[] = []): string {
  const vocab = JSON.parse(fs.readFileSync(vocabFile, 'utf8')) as Record<string, number>;
  const merges = fs.readFileSync(mergesFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('#version'));
  const added = ['<|endoftext|>', ...extra].map((content, i) => ({
    id: 50256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: i === 0, special: true,
  }));
  for (const a of added) vocab[a.content] = a.id;
  const file = path.join(dir, 'tokenizer.json');
  fs.writeFileSync(file, JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, vocab, merges },
  }));
  return file;
}
