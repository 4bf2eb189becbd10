// llama2.c tokenizer.bin: uint32 max_token_length, then per token {float32 score, int32 len,
// len bytes}, little-endian. The vocabulary size is not in the file: it comes from the model
// checkpoint's header, or (when not given) the file is read to its end.
// llama2.c's exporter has already replaced U+2581 by a space; BOS is "\n<s>\n", EOS "\n</s>\n".

import { formatError, inputError } from '../errors';
import { SentencePieceTokenizer } from './sentencepiece';
import { readTokenizerFile } from './tokenizer';

export interface Llama2cVocab {
  maxTokenLength: number;
  pieces: Uint8Array[];
  scores: Float32Array;
  /** Bytes after the last token that were not read (only when vocabSize was given). */
  trailingBytes: number;
}

/** Parses tokenizer.bin bytes; every inconsistency is a FORMAT IdpError naming `file`. */
export function parseLlama2cTokenizer(buf: Uint8Array, file: string, vocabSize?: number): Llama2cVocab {
  if (vocabSize !== undefined && !(Number.isInteger(vocabSize) && vocabSize > 0)) {
    throw inputError(`vocabulary size ${vocabSize} is not a positive integer`, file);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 4) throw formatError(file, `${buf.byteLength} bytes: too short for a llama2.c tokenizer (no max_token_length)`);
  const maxTokenLength = dv.getUint32(0, true);
  if (maxTokenLength === 0) throw formatError(file, 'max_token_length is 0: not a llama2.c tokenizer');
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let off = 4;
  while (vocabSize === undefined ? off < buf.byteLength : pieces.length < vocabSize) {
    const i = pieces.length;
    if (off + 8 > buf.byteLength) {
      const want = vocabSize === undefined ? '' : ` of ${vocabSize}`;
      throw formatError(file, `truncated: token ${i}${want} needs a score and a length at byte ${off}, the file has ${buf.byteLength} bytes`);
    }
    const score = dv.getFloat32(off, true);
    const len = dv.getInt32(off + 4, true);
    off += 8;
    if (len < 0) throw formatError(file, `token ${i} has a negative length (${len})`);
    if (len > maxTokenLength) throw formatError(file, `token ${i} is ${len} bytes long, more than max_token_length ${maxTokenLength}`);
    if (off + len > buf.byteLength) {
      throw formatError(file, `truncated: token ${i} claims ${len} bytes at byte ${off}, the file has ${buf.byteLength} bytes`);
    }
    if (Number.isNaN(score)) throw formatError(file, `token ${i} has a NaN score`);
    pieces.push(buf.slice(off, off + len));
    scores.push(score);
    off += len;
  }
  if (pieces.length === 0) throw formatError(file, 'holds no tokens');
  return { maxTokenLength, pieces, scores: Float32Array.from(scores), trailingBytes: buf.byteLength - off };
}

/**
 * A tokenizer with llama2.c run.c semantics from a tokenizer.bin. `vocabSize` (the checkpoint's
 * vocab_size) reads exactly that many tokens; without it the whole file is read.
 */
export function loadLlama2cTokenizer(file: string, bosId = 1, eosId = 2, vocabSize?: number): SentencePieceTokenizer {
  const v = parseLlama2cTokenizer(readTokenizerFile(file), file, vocabSize);
  for (const [name, id] of [['BOS', bosId], ['EOS', eosId]] as const) {
    if (!(Number.isInteger(id) && id >= 0 && id < v.pieces.length)) {
      throw formatError(file, `${name} id ${id} is outside its ${v.pieces.length}-token vocabulary`);
    }
  }
  return new SentencePieceTokenizer({ pieces: v.pieces, scores: v.scores, bosId, eosId, file });
}
