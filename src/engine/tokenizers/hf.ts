// Hugging Face tokenizer.json (plus tokenizer_config.json beside it, for BOS/EOS) through
// @huggingface/tokenizers, and a GPT-2 byte-level BPE tokenizer built in memory from an OpenAI-style
// encoder.json + merges.txt. encode never adds special tokens: the runtime adds BOS itself.

import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { formatError, inputError, unsupported } from '../errors';
import { Tokenizer, readTokenizerFile } from './tokenizer';
import { boundTokenizerRegexes } from './bounded-regex';

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const EMPTY = new Uint8Array(0);

/** GPT-2's byte <-> printable-character map (bytes_to_unicode), inverted: char code -> byte. */
const UNICODE_TO_BYTE: Map<number, number> = (() => {
  const m = new Map<number, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    m.set(printable ? b : 256 + extra++, b);
  }
  return m;
})();

const BOS_NAMES = ['<s>', '<|begin_of_text|>', '<bos>', '<|startoftext|>', '<|endoftext|>'];
const EOS_NAMES = ['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>', '<|im_end|>'];

/** A @huggingface/tokenizers Tokenizer behind the engine's Tokenizer interface. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  private readonly special = new Set<number>();
  private readonly added = new Map<number, string>();
  private readonly byteLevel: boolean;
  private readonly cleanup: boolean;

  constructor(readonly lib: HfLibTokenizer, json: Json, config: Json, readonly file: string) {
    let max = -1;
    for (const id of lib.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    for (const [id, t] of lib.get_added_tokens_decoder()) {
      if (t.special) this.special.add(id); else this.added.set(id, t.content);
    }
    this.bosId = this.pick(config.bos_token, BOS_NAMES);
    this.eosId = this.pick(config.eos_token, EOS_NAMES);
    this.byteLevel = isObject(json.decoder) && json.decoder.type === 'ByteLevel';
    this.cleanup = config.clean_up_tokenization_spaces === true; // exact text unless asked otherwise
  }

  encode(text: string): number[] {
    if (text.length === 0) return [];
    const ids = this.lib.encode(text, { add_special_tokens: false }).ids;
    if (ids.some((x) => x === undefined)) {
      throw inputError(`cannot encode ${JSON.stringify(text.slice(0, 40))}: a piece has no id and there is no unknown token`, this.file);
    }
    return ids;
  }

  decode(ids: number[]): string {
    ids.forEach((id) => this.check(id));
    if (ids.length === 0) return '';
    return this.lib.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: this.cleanup });
  }

  decodeStep(prev: number, id: number): string {
    if (this.byteLevel) return utf8.decode(this.tokenBytesOf(id));
    const before = prev >= 0 ? this.decode([prev]) : '';
    const both = this.decode(prev >= 0 ? [prev, id] : [id]);
    return both.startsWith(before) ? both.slice(before.length) : this.decode([id]);
  }

  idToPiece(id: number): string {
    this.check(id);
    return this.lib.id_to_token(id) ?? '';
  }

  pieceToId(piece: string): number | undefined {
    return this.lib.token_to_id(piece);
  }

  /** Byte-level tokenizers only (GPT-2 style); others stream through decode. */
  get tokenBytes(): ((prev: number, id: number) => Uint8Array) | undefined {
    return this.byteLevel ? (_prev: number, id: number) => this.tokenBytesOf(id) : undefined;
  }

  private tokenBytesOf(id: number): Uint8Array {
    this.check(id);
    if (this.special.has(id)) return EMPTY;
    const added = this.added.get(id);
    if (added !== undefined) return Buffer.from(added, 'utf8');
    const tok = this.lib.id_to_token(id) ?? '';
    const out = new Uint8Array(tok.length);
    for (let i = 0; i < tok.length; i++) {
      const b = UNICODE_TO_BYTE.get(tok.charCodeAt(i));
      if (b === undefined) return Buffer.from(tok, 'utf8'); // not a byte-level piece
      out[i] = b;
    }
    return out;
  }

  private check(id: number): void {
    if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) {
      throw inputError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`, this.file);
    }
  }

  private pick(configured: unknown, names: string[]): number | undefined {
    const name = typeof configured === 'string' ? configured
      : isObject(configured) && typeof configured.content === 'string' ? configured.content : undefined;
    if (name !== undefined) return this.lib.token_to_id(name);
    for (const n of names) {
      const id = this.lib.token_to_id(n);
      if (id !== undefined) return id;
    }
    return undefined;
  }
}

/** Builds the tokenizer from an already parsed tokenizer.json object (+ tokenizer_config object). */
export function tokenizerFromJsonObject(json: unknown, config: unknown, file: string): HfTokenizer {
  if (!isObject(json) || !isObject(json.model)) {
    throw formatError(file, 'not a tokenizer.json: no "model" object');
  }
  checkVocabShape(json.model, file);
  const cfg = isObject(config) ? config : {};
  const full: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...json };
  if (!Array.isArray(full.added_tokens)) throw formatError(file, '"added_tokens" is not a list');
  let lib: HfLibTokenizer;
  try {
    lib = new HfLibTokenizer(full, cfg);
  } catch (e) {
    const msg = (e as Error).message;
    if (/unknown|not supported|unsupported/i.test(msg)) throw unsupported(`tokenizer.json: ${msg}`, file);
    throw formatError(file, `not a usable tokenizer.json: ${msg}`);
  }
  boundTokenizerRegexes(lib, file);
  return new HfTokenizer(lib, full, cfg, file);
}

/**
 * model.vocab is a list of [piece, score] for Unigram and an object token → id for every other model; the
 * library accepts the wrong one silently and then encodes everything to nothing.
 */
function checkVocabShape(model: Json, file: string): void {
  const type = typeof model.type === 'string' ? model.type : 'BPE';
  const v = model.vocab;
  if (!['BPE', 'WordPiece', 'WordLevel', 'Unigram'].includes(type)) return;   // the library names what it lacks
  if (type === 'Unigram') {
    if (!Array.isArray(v)) throw formatError(file, '"model.vocab" of a Unigram model must be a list of [piece, score]');
  } else if (!isObject(v)) {
    throw formatError(file, `"model.vocab" of a ${type} model must be an object of token → id, got ${Array.isArray(v) ? 'a list' : JSON.stringify(v)?.slice(0, 40) ?? 'nothing'}`);
  }
}

function readJson(file: string): unknown {
  const text = readTokenizerFile(file).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw formatError(file, `not JSON: ${(e as Error).message}`);
  }
}

/** HF tokenizer.json; tokenizer_config.json in the same folder, when present, gives BOS/EOS. */
export function loadTokenizerJson(file: string): HfTokenizer {
  const json = readJson(file);
  if (!isObject(json) || !isObject(json.model)) throw formatError(file, 'not a tokenizer.json: no "model" object');
  const cfgFile = path.join(path.dirname(file), 'tokenizer_config.json');
  let config: unknown = {};
  if (fs.existsSync(cfgFile)) {
    config = readJson(cfgFile);
    if (!isObject(config)) throw formatError(cfgFile, 'not a tokenizer_config.json: not a JSON object');
  }
  return tokenizerFromJsonObject(json, config, file);
}

export interface AddedTokenSpec { id: number; content: string; special: boolean }

/**
 * A byte-level BPE tokenizer.json object (GPT-2 layout). `splitRegex` replaces GPT-2's built-in
 * pre-tokenizer pattern (e.g. Llama 3's) when given.
 */
export function byteLevelBpeJson(vocab: Record<string, number>, merges: [string, string][], added: AddedTokenSpec[], splitRegex?: string): Json {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: splitRegex === undefined };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added.map((t) => ({ id: t.id, content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t.special })),
    normalizer: null,
    pre_tokenizer: splitRegex === undefined ? byteLevel : {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: splitRegex }, behavior: 'Isolated', invert: false }, byteLevel],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
}

/** Checks that each merge's parts and result are in the vocabulary (as HF's BPE builder does). */
export function checkMerges(vocab: Record<string, number>, merges: [string, string][], file: string, lineOffset = 1): void {
  const has = (t: string) => Object.prototype.hasOwnProperty.call(vocab, t);
  merges.forEach(([a, b], i) => {
    const missing = !has(a) ? a : !has(b) ? b : !has(a + b) ? a + b : undefined;
    if (missing !== undefined) throw formatError(file, `merge ${i + lineOffset} ("${a} ${b}") uses "${missing}", which is not in the vocabulary`);
  });
}

/** Parses merges.txt lines "a b"; a leading "#version" line and blank lines are skipped. */
export function parseMergesTxt(text: string, file: string): { merges: [string, string][]; firstLine: number } {
  const lines = text.split(/\r?\n/);
  const firstLine = lines.length > 0 && lines[0].startsWith('#version') ? 1 : 0;
  const merges: [string, string][] = [];
  for (let i = firstLine; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw formatError(file, `line ${i + 1} is not "left right": ${JSON.stringify(line.slice(0, 60))}`);
    merges.push([parts[0], parts[1]]);
  }
  if (merges.length === 0) throw formatError(file, 'holds no merges');
  return { merges, firstLine };
}

/** Validates an encoder.json object: token -> distinct non-negative integer ids. */
export function checkVocabObject(vocab: unknown, file: string): Record<string, number> {
  if (!isObject(vocab)) throw formatError(file, 'not a vocabulary: expected a JSON object of token -> id');
  const seen = new Map<number, string>();
  for (const [tok, id] of Object.entries(vocab)) {
    if (!(typeof id === 'number' && Number.isInteger(id) && id >= 0)) throw formatError(file, `token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, not a non-negative integer`);
    const other = seen.get(id);
    if (other !== undefined) throw formatError(file, `tokens ${JSON.stringify(other)} and ${JSON.stringify(tok)} share id ${id}`);
    seen.set(id, tok);
  }
  if (seen.size === 0) throw formatError(file, 'the vocabulary is empty');
  return vocab as Record<string, number>;
}

/**
 * GPT-2 byte-level BPE from an OpenAI-style encoder.json (vocab) and merges file (with or without the
 * "#version" header). "<|endoftext|>" is BOS, EOS and a special token, as in GPT-2.
 */
export function gpt2TokenizerFromVocabMerges(vocabJsonFile: string, mergesTxtFile: string): HfTokenizer {
  const vocab = checkVocabObject(readJson(vocabJsonFile), vocabJsonFile);
  const { merges, firstLine } = parseMergesTxt(readTokenizerFile(mergesTxtFile).toString('utf8'), mergesTxtFile);
  checkMerges(vocab, merges, mergesTxtFile, firstLine + 1);
  const eot = '<|endoftext|>';
  const added = Object.prototype.hasOwnProperty.call(vocab, eot) ? [{ id: vocab[eot], content: eot, special: true }] : [];
  const config = added.length ? { bos_token: eot, eos_token: eot, unk_token: eot } : {};
  return tokenizerFromJsonObject(byteLevelBpeJson(vocab, merges, added), config, vocabJsonFile);
}
