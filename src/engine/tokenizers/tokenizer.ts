// What the runtime needs from any tokenizer.

import * as fs from 'fs';
import { formatError, notFound } from '../errors';

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  /** Token ids for `text`, without BOS/EOS (the caller adds BOS, as llama2.c does). */
  encode(text: string): number[];
  /** Text of a whole id sequence (special tokens dropped). */
  decode(ids: number[]): string;
  /**
   * Text that token `id` adds when it follows `prev` (llama2.c semantics: a leading space is
   * stripped after BOS; byte tokens "<0xNN>" become raw bytes). Used for streaming.
   */
  decodeStep?(prev: number, id: number): string;
  /** The vocabulary entry of `id` as text (SentencePiece pieces use ' ' for U+2581). */
  idToPiece?(id: number): string;
  /**
   * The raw UTF-8 bytes token `id` adds after `prev` (same rules as decodeStep, special tokens
   * give no bytes). A byte token of a multi-byte character gives one byte: concatenate before
   * decoding (TokenStreamer does this).
   */
  tokenBytes?(prev: number, id: number): Uint8Array;
}

/** Reads a tokenizer file; a missing path or a folder is an IdpError naming the file. */
export function readTokenizerFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(file);
    if (code === 'EISDIR') throw formatError(file, 'is a folder, not a tokenizer file');
    throw formatError(file, `cannot read: ${(e as Error).message}`);
  }
}
