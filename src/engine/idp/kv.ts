// Per-layer K/V of soft prompts, computed once (docs/design.md "IDP, precisely": each prompt's cache is stored
// with the bank). A prompt never sees another prompt or the input, so its keys and values depend only on
// its own embeddings and positions: one forward of the prompt rows alone, at positions start … start+n−1,
// gives exactly the cache the runtime would hold after those rows (present_key.i / present_value.i).
//
// The graph is the model's own inference graph with a token-embedding hook that takes the rows'
// embeddings from an input `prompt_embeds` [1, n, e] instead of the table (positions are still added
// by the architecture: learned for OPT/GPT-2, rotary for Llama), so the cache matches what the training
// graph computes for the same rows (SoftPrompt's hook replaces the same tensor).

import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/config';
import { buildGraph } from '../models/graph';
import { BuildOptions, io } from '../models/blocks';
import { attentionFor, createSession, SessionOptions } from '../runtime/session';
import { KvState } from '../runtime/kv-cache';
import { tokenEmbedding } from '../train/methods/prompt';
import { inputError } from '../errors';

export const EMBEDS_INPUT = 'prompt_embeds';   // float [B, T, e]

/** One prompt's cache: per layer, keys and values [K, n, D] (keys after rotary, as the runtime caches them). */
export interface PromptKV {
  n: number;
  /** Position of the prompt's first row. */
  start: number;
  keys: Float32Array[];     // [L] × [K, n, D]
  values: Float32Array[];   // [L] × [K, n, D]
}

/** Graph options that change cache numerics (GPTQ kernels); recorded with a bank's stored K/V. */
export type KvGraphOptions = Pick<BuildOptions, 'dequantize' | 'quantAccuracyLevel' | 'linear'>;

export interface PromptRows {
  embeddings: Float32Array;   // [n, e]
  n: number;
  start: number;
}

/** K/V of each prompt (one run per prompt; prompts never see each other). */
export async function computePromptKVs(m: LoadedModel, prompts: PromptRows[], opts: SessionOptions & { graph?: KvGraphOptions } = {}): Promise<PromptKV[]> {
  const c = m.config;
  const e = tokenEmbedding(c).width;
  for (const p of prompts) {
    if (!(Number.isInteger(p.n) && p.n >= 1)) throw inputError(`a prompt needs at least one row, got ${p.n}`);
    if (p.embeddings.length !== p.n * e) throw inputError(`prompt of ${p.n} rows has ${p.embeddings.length} values; this model needs [${p.n}, ${e}]`);
    if (p.start < 0 || p.start + p.n > c.maxPositions) throw inputError(`prompt positions ${p.start}…${p.start + p.n - 1} fall outside the model's context of ${c.maxPositions}`);
  }
  const g = buildGraph(m, {
    attention: attentionFor(opts.ep), ...opts.graph, logits: 'last',
    hooks: { tokenEmbeds: (gb) => gb.input(EMBEDS_INPUT, 'float', ['batch', 'seq', e]) },   // [B, T, e]
  });
  const session = await createSession(g.toModelProto(), m.weightsDir, { ...opts, sharedWeights: true });
  try {
    const out: PromptKV[] = [];
    for (const p of prompts) {
      const state = new KvState(1, c.numLayers, c.numKvHeads, c.headDim, c.slidingWindow ?? Infinity);
      state.nextPos[0] = p.start;
      const { positions, bias, S } = state.append([new Array(p.n).fill(true)]);
      const feeds: Record<string, ort.Tensor> = {
        [io.inputIds]: new ort.Tensor('int64', new BigInt64Array(p.n), [1, p.n]),
        [io.positionIds]: new ort.Tensor('int64', positions, [1, p.n]),
        [io.attnBias]: new ort.Tensor('float32', bias, [1, 1, p.n, S]),
        [EMBEDS_INPUT]: new ort.Tensor('float32', p.embeddings, [1, p.n, e]),
      };
      for (let i = 0; i < c.numLayers; i++) {
        feeds[io.pastKey(i)] = state.past[2 * i];
        feeds[io.pastValue(i)] = state.past[2 * i + 1];
      }
      const r = await session.run(feeds);
      out.push({
        n: p.n, start: p.start,
        keys: Array.from({ length: c.numLayers }, (_, i) => Float32Array.from(r[io.presentKey(i)].data as Float32Array)),
        values: Array.from({ length: c.numLayers }, (_, i) => Float32Array.from(r[io.presentValue(i)].data as Float32Array)),
      });
    }
    return out;
  } finally {
    await session.release();
  }
}
