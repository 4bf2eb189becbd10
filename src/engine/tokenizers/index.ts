// Tokenizers: HF tokenizer.json, llama2.c tokenizer.bin, GGUF vocabularies, GPT-2 encoder.json + merges.

export type { Tokenizer } from './tokenizer';
export { readTokenizerFile } from './tokenizer';
export { SentencePieceTokenizer, TokenStreamer } from './sentencepiece';
export type { SentencePieceVocab } from './sentencepiece';
export { loadLlama2cTokenizer, parseLlama2cTokenizer } from './llama2c';
export type { Llama2cVocab } from './llama2c';
export { tokenizerFromGgufVocab, GGUF_TOKEN_TYPE } from './gguf-vocab';
export type { GgufVocab } from './gguf-vocab';
export { HfTokenizer, loadTokenizerJson, gpt2TokenizerFromVocabMerges, tokenizerFromJsonObject, byteLevelBpeJson } from './hf';
export type { AddedTokenSpec } from './hf';
