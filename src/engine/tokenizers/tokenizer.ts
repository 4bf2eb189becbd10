// What the runtime needs from any tokenizer.

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
}
