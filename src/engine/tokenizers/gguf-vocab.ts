// Tokenizer from a GGUF file's tokenizer.ggml.* metadata (the GGUF parser lives in formats/gguf.ts).
//  - model "llama" (SentencePiece): pieces use U+2581 for a space; token type 6 = byte tokens
//    "<0xNN>", 3 = control, 2 = unknown, 5 = unused. Encoding follows llama2.c run.c (see
//    sentencepiece.ts), so a GGUF holding the same vocabulary as a tokenizer.bin encodes identically.
//  - model "gpt2": byte-level BPE with tokenizer.ggml.merges, through @huggingface/tokenizers.

import { formatError, unsupported } from '../errors';
import { AddedTokenSpec, byteLevelBpeJson, checkMerges, tokenizerFromJsonObject } from './hf';
import { SentencePieceTokenizer } from './sentencepiece';
import { Tokenizer } from './tokenizer';

export interface GgufVocab {
  /** tokenizer.ggml.tokens */
  tokens: string[];
  /** tokenizer.ggml.scores (an array or a typed array) */
  scores?: ArrayLike<number>;
  /** tokenizer.ggml.token_type (an array or a typed array) */
  tokenTypes?: ArrayLike<number>;
  /** tokenizer.ggml.bos_token_id / eos_token_id (-1 or 0xFFFFFFFF: none) */
  bosId?: number;
  eosId?: number;
  /** tokenizer.ggml.model ("llama" when absent) */
  model?: string;
  /** tokenizer.ggml.merges ("a b" per merge), for model "gpt2" */
  merges?: string[];
  /** tokenizer.ggml.pre, for model "gpt2": the pre-tokenizer regex family */
  pre?: string;
  /** tokenizer.ggml.add_space_prefix, for model "llama" (default true) */
  addSpacePrefix?: boolean;
}

export const GGUF_TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

// Pre-tokenizer split patterns of byte-level BPE families (as in their tokenizer.json files).
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const PRE_SPLITS: Record<string, string | undefined> = {
  default: undefined, 'gpt-2': undefined, gpt2: undefined,
  'llama-bpe': LLAMA3_SPLIT, 'llama3': LLAMA3_SPLIT, qwen2: QWEN2_SPLIT,
};

const NO_TOKEN = (id: number | undefined) => (id === undefined || id === -1 || id === 0xffffffff ? undefined : id);

export function tokenizerFromGgufVocab(vocab: GgufVocab, file: string): Tokenizer {
  const v: GgufVocab = { ...vocab, bosId: NO_TOKEN(vocab.bosId), eosId: NO_TOKEN(vocab.eosId) };
  const n = checkVocab(v, file);
  const model = v.model ?? 'llama';
  if (model === 'llama') return sentencePieceFromGguf(v, n, file);
  if (model === 'gpt2') return byteLevelFromGguf(v, n, file);
  throw unsupported(`tokenizer.ggml.model "${model}" is not supported (only "llama" SentencePiece and "gpt2" byte-level BPE are)`, file);
}

function checkVocab(v: GgufVocab, file: string): number {
  if (!Array.isArray(v.tokens) || v.tokens.length === 0) throw formatError(file, 'tokenizer.ggml.tokens is missing or empty');
  const n = v.tokens.length;
  v.tokens.forEach((t, i) => { if (typeof t !== 'string') throw formatError(file, `tokenizer.ggml.tokens[${i}] is not a string`); });
  for (const [key, arr] of [['scores', v.scores], ['token_type', v.tokenTypes]] as const) {
    if (arr === undefined) continue;
    if (typeof arr !== 'object' || arr === null || arr.length !== n) {
      throw formatError(file, `tokenizer.ggml.${key} has ${arr?.length ?? 'no'} entries for ${n} tokens`);
    }
    for (let i = 0; i < n; i++) {
      if (typeof arr[i] !== 'number' || Number.isNaN(arr[i])) throw formatError(file, `tokenizer.ggml.${key}[${i}] is not a number`);
    }
  }
  for (const [key, id] of [['bos_token_id', v.bosId], ['eos_token_id', v.eosId]] as const) {
    if (id !== undefined && !(Number.isInteger(id) && id >= 0 && id < n)) throw formatError(file, `tokenizer.ggml.${key} ${id} is outside the ${n}-token vocabulary`);
  }
  return n;
}

function sentencePieceFromGguf(v: GgufVocab, n: number, file: string): SentencePieceTokenizer {
  const T = GGUF_TOKEN_TYPE;
  const types: ArrayLike<number> = v.tokenTypes ?? v.tokens.map((t) => (BYTE_PIECE.test(t) ? T.byte : T.normal));
  const pieces: Uint8Array[] = new Array(n);
  const byteIds = new Int32Array(256).fill(-1);
  const control: number[] = [];
  const unmatchable: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = v.tokens[i];
    const type = types[i];
    if (type === T.byte) {
      const m = BYTE_PIECE.exec(t);
      if (!m) throw formatError(file, `token ${i} ${JSON.stringify(t)} has the byte type but is not "<0xNN>"`);
      const b = parseInt(m[1], 16);
      if (byteIds[b] < 0) byteIds[b] = i;
      pieces[i] = Buffer.from(t, 'utf8');
    } else {
      pieces[i] = Buffer.from(t.replace(/\u2581/g, ' '), 'utf8');
    }
    if (type === T.control) control.push(i);
    if (type === T.unknown || type === T.control || type === T.unused || type === T.byte) unmatchable.push(i);
  }
  const find = (name: string) => { const i = v.tokens.indexOf(name); return i >= 0 ? i : undefined; };
  return new SentencePieceTokenizer({
    pieces,
    scores: v.scores ?? new Array<number>(n).fill(0),
    bosId: v.bosId ?? find('<s>'),
    eosId: v.eosId ?? find('</s>'),
    controlIds: control,
    unmatchableIds: unmatchable,
    byteIds,
    addDummyPrefix: v.addSpacePrefix ?? true,
    file,
  });
}

function byteLevelFromGguf(v: GgufVocab, n: number, file: string): Tokenizer {
  if (!Array.isArray(v.merges) || v.merges.length === 0) throw formatError(file, 'tokenizer.ggml.merges is missing or empty (needed for model "gpt2")');
  const pre = v.pre ?? 'default';
  if (!(pre in PRE_SPLITS)) {
    throw unsupported(`tokenizer.ggml.pre "${pre}" is not supported (known: ${Object.keys(PRE_SPLITS).join(', ')})`, file);
  }
  const vocab: Record<string, number> = Object.create(null);
  for (let i = 0; i < n; i++) if (!(v.tokens[i] in vocab)) vocab[v.tokens[i]] = i;
  const merges = v.merges.map((m, i): [string, string] => {
    const parts = typeof m === 'string' ? m.split(' ') : [];
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw formatError(file, `tokenizer.ggml.merges[${i}] is not "left right": ${JSON.stringify(m)}`);
    return [parts[0], parts[1]];
  });
  checkMerges(vocab, merges, file, 0);
  const added: AddedTokenSpec[] = [];
  for (let id = 0; v.tokenTypes && id < n; id++) {
    const type = v.tokenTypes[id];
    if (type === GGUF_TOKEN_TYPE.control || type === GGUF_TOKEN_TYPE.userDefined) {
      added.push({ id, content: v.tokens[id], special: type === GGUF_TOKEN_TYPE.control });
    }
  }
  const config: Record<string, string> = {};
  if (v.bosId !== undefined) config.bos_token = v.tokens[v.bosId];
  if (v.eosId !== undefined) config.eos_token = v.tokens[v.eosId];
  return tokenizerFromJsonObject(byteLevelBpeJson({ ...vocab }, merges, added, PRE_SPLITS[pre]), config, file);
}
