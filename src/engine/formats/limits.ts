// Sane maxima for every size a model file states. A size read from a file decides how much is allocated
// or looped over before anything can check it against the data, so a corrupt or hostile file could ask
// for terabytes (max_position_embeddings 1e12 once sized a RoPE table) or billions of JS objects (a GGUF
// array length). Each limit is far above any public model — the largest noted beside it — and below
// what this process could hold anyway. One home: the readers (safetensors, GGUF, llama2.c, config.json)
// check against these and fail with a typed error naming the file and the limit.

import { configError, formatError, IdpError } from '../errors';

/** Model dimensions, whichever file states them (config.json, GGUF metadata, a llama2.c header). */
export const MODEL_LIMITS = {
  numLayers: 1024,              // Llama 3.1 405B: 126
  numHeads: 1024,               // 405B: 128
  numKvHeads: 1024,
  hiddenSize: 1 << 17,          // 405B: 16,384
  headDim: 1 << 12,             // 256 (Gemma)
  intermediateSize: 1 << 20,    // 405B: 53,248
  vocabSize: 1 << 22,           // Gemma 3: 262,144
  // Positions are never materialised (RoPE is computed from the position ids), but they travel as float32
  // in the graph, exact only up to 2^24; Llama 4 Scout declares 10M.
  maxPositions: 1 << 24,
} as const;

/** Sizes stated by file headers. */
export const FILE_LIMITS = {
  safetensorsHeader: 100 * 1024 * 1024,  // the safetensors crate's own limit
  ggufTensors: 1 << 20,                  // DeepSeek-V3 (671B): ~1,000 tensors per shard
  ggufMetadata: 1 << 16,                 // real files: a few dozen keys
  ggufArray: 1 << 24,                    // tokenizer.ggml.merges: ~300,000
  ggufString: 64 * 1024 * 1024,          // a chat template: a few KB; a whole tokenizer.json: ~20 MB
} as const;

const count = (n: number) => n.toLocaleString('en-US');
const bytes = (n: number) => (n >= 1 << 20 ? `${count(n)} bytes (${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MiB)` : `${count(n)} bytes`);

/**
 * `value` if it is at most `limit`; else a typed error (FORMAT by default, `make` for another kind)
 * naming the file, the field and the limit. `inBytes`: the value is a byte length.
 */
export function within(file: string, what: string, value: number, limit: number,
  o: { make?: (file: string, problem: string) => IdpError; inBytes?: boolean } = {}): number {
  const show = o.inBytes ? bytes : count;
  if (value > limit) throw (o.make ?? formatError)(file, `${what} ${show(value)} exceeds the limit of ${show(limit)} (a corrupt or hostile file?)`);
  return value;
}

/** Every model dimension of `c` within MODEL_LIMITS (CONFIG errors naming `file`); returns `c`. */
export function checkModelLimits<C extends Record<keyof typeof MODEL_LIMITS, number>>(c: C, file: string): C {
  for (const [k, limit] of Object.entries(MODEL_LIMITS) as Array<[keyof typeof MODEL_LIMITS, number]>) {
    within(file, FIELD_NAMES[k], c[k], limit, { make: configError });
  }
  return c;
}

/** How the fields read in messages (the config.json names most users know). */
const FIELD_NAMES: Record<keyof typeof MODEL_LIMITS, string> = {
  numLayers: 'number of layers', numHeads: 'number of attention heads', numKvHeads: 'number of key/value heads',
  hiddenSize: 'hidden size', headDim: 'head size', intermediateSize: 'MLP width', vocabSize: 'vocabulary size',
  maxPositions: 'max_position_embeddings (context length)',
};
