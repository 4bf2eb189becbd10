// Reading GGUF metadata as llama.cpp writes it for decoder-only transformers: every model key sits under
// the architecture's own prefix (`llama.embedding_length`, `qwen2.embedding_length` …), tokenizer keys
// under `tokenizer.ggml.`. Shared by the families' GGUF readers (arch/*-gguf.ts); errors are CONFIG /
// UNSUPPORTED naming the file and the key.

import { configError, unsupported } from '../../errors';
import { GgufFile, ggufNumber, ggufString, ggufStringArray, readGgufTensorBytes } from '../../formats/gguf';
import type { ModelConfig } from '../config';

/** The dimensions every llama.cpp decoder states, read under `<arch>.`. */
export type GgufCore = Pick<ModelConfig, 'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' |
  'intermediateSize' | 'maxPositions' | 'normEps' | 'ropeTheta' | 'tieWordEmbeddings' | 'bosTokenId' | 'eosTokenId'> & {
  /** rope.dimension_count when it is below the head size (partial rotary). */
  rotaryDims?: number;
};

export function ggufCore(g: GgufFile, arch: string, o: { partialRotary?: boolean; defaultContext?: number; scalingTypes?: string[] } = {}): GgufCore {
  const k = (key: string) => `${arch}.${key}`;
  const int = (key: string, dflt?: number): number => {
    const v = ggufNumber(g, k(key)) ?? dflt;
    if (v === undefined) throw configError(g.file, `missing metadata "${k(key)}"`);
    if (!Number.isSafeInteger(v) || v <= 0) throw configError(g.file, `metadata "${k(key)}" must be a positive integer, got ${v}`);
    return v;
  };
  const hidden = int('embedding_length');
  const heads = int('attention.head_count');
  const kvHeads = int('attention.head_count_kv', heads);
  if (heads % kvHeads !== 0) throw configError(g.file, `head_count ${heads} is not a multiple of head_count_kv ${kvHeads}`);
  const headDim = ggufNumber(g, k('attention.key_length')) ?? (hidden % heads === 0 ? hidden / heads : NaN);
  if (!Number.isSafeInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw configError(g.file, `cannot derive an even head size from embedding_length ${hidden} and head_count ${heads}`);
  }
  const rotDims = ggufNumber(g, k('rope.dimension_count'));
  let rotaryDims: number | undefined;
  if (rotDims !== undefined && rotDims !== headDim) {
    if (!o.partialRotary || !Number.isSafeInteger(rotDims) || rotDims <= 0 || rotDims > headDim || rotDims % 2 !== 0) {
      throw unsupported(`partial rotary (rope.dimension_count ${rotDims} of head size ${headDim}) is not supported`, g.file);
    }
    rotaryDims = rotDims;
  }
  const scaling = ggufString(g, k('rope.scaling.type'));
  if ((scaling !== undefined && scaling !== 'none' && !o.scalingTypes?.includes(scaling)) || g.tensors.has('rope_freqs.weight')) {
    throw unsupported(`rope scaling (${k('rope.scaling.type')} / rope_freqs.weight) is not supported`, g.file);
  }
  const embd = g.tensors.get('token_embd.weight');
  const tokens = ggufStringArray(g, 'tokenizer.ggml.tokens');
  const vocab = ggufNumber(g, k('vocab_size')) ?? tokens?.length ?? embd?.shape[0];
  if (vocab === undefined || !Number.isSafeInteger(vocab) || vocab <= 0) {
    throw configError(g.file, `cannot tell the vocabulary size (no ${k('vocab_size')}, tokenizer.ggml.tokens or token_embd.weight)`);
  }
  const eps = ggufNumber(g, k('attention.layer_norm_rms_epsilon')) ?? 1e-5;
  const theta = ggufNumber(g, k('rope.freq_base')) ?? 10000;
  if (!(eps > 0) || !(theta > 0)) throw configError(g.file, `invalid rms epsilon ${eps} or rope freq_base ${theta}`);
  const tokId = (key: string) => {
    const v = ggufNumber(g, key);
    return v !== undefined && Number.isSafeInteger(v) && v >= 0 && v < vocab ? v : undefined;
  };
  return {
    vocabSize: vocab, hiddenSize: hidden, numLayers: int('block_count'), numHeads: heads, numKvHeads: kvHeads, headDim,
    intermediateSize: int('feed_forward_length'), maxPositions: int('context_length', o.defaultContext ?? 2048),
    normEps: eps, ropeTheta: theta, tieWordEmbeddings: classifierIsEmbedding(g),
    bosTokenId: tokId('tokenizer.ggml.bos_token_id'), eosTokenId: tokId('tokenizer.ggml.eos_token_id'),
    ...(rotaryDims !== undefined ? { rotaryDims } : {}),
  };
}

/** No output.weight, or one byte-identical to token_embd.weight (llama.cpp's llama2.c converter writes a copy). */
export function classifierIsEmbedding(g: GgufFile): boolean {
  const out = g.tensors.get('output.weight');
  const emb = g.tensors.get('token_embd.weight');
  if (!out) return true;
  if (!emb || out.ggmlType !== emb.ggmlType || out.ne.join() !== emb.ne.join()) return false;
  return readGgufTensorBytes(g, out).equals(readGgufTensorBytes(g, emb));
}

/** An optional positive integer under `<arch>.` (undefined when absent). */
export function ggufOptionalInt(g: GgufFile, key: string): number | undefined {
  const v = ggufNumber(g, key);
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v <= 0) throw configError(g.file, `metadata "${key}" must be a positive integer, got ${v}`);
  return v;
}
