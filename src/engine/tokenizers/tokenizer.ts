// What the runtime needs from any tokenizer.

import * as fs from 'fs';
import { formatError, notFound } from '../errors';
import { bosTokenFor, documentEndFor } from '../models/arch/registry';

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

/** What the BOS rule reads from a model config. */
interface BosConfig { arch: string; bosTokenId?: number; eosTokenId?: number }

/**
 * The one rule for BOS: the token put before a document or prompt where the family uses one (Llama, OPT,
 * Mistral …: the config's bos_token_id, else the tokenizer's); families whose documents are separated by
 * an end-of-text token after them (GPT-2) put none. The family decides (models/arch/registry.ts).
 */
export function bosFor(cfg: BosConfig, tok: { bosId?: number } | undefined): number | undefined {
  return bosTokenFor(cfg, tok);
}

/** The token a sample from the model starts at: BOS, or where documents end with EOS (GPT-2) that token (what precedes a document). */
export function startTokenFor(cfg: BosConfig, tok: { bosId?: number; eosId?: number } | undefined): number | undefined {
  return documentEndFor(cfg, tok) ?? bosFor(cfg, tok);
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
