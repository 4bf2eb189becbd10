// Feeds of the training graph for a batch of packed blocks: ids and labels (next token, IGNORE_INDEX
// where there is none), causal attention bias over [past | new], position ids, and empty or given
// past K/V. Every row is a full block (no padding), so the bias and positions depend only on
// (B, T, P) and are built once per shape.

import * as ort from 'onnxruntime-node';
import { io, MASK_MIN } from '../models/blocks';
import type { ModelConfig } from '../models/config';
import { IGNORE_INDEX } from './loss';
import { trainIo } from './graph';

export interface Layout {
  B: number;
  T: number;
  /** Past (prefix) slots before the new tokens. */
  P: number;
  /** Position of the first past slot (row slot t gets positionStart + P + t); default 0. */
  positionStart?: number;
}

/** Causal bias [B, 1, T, P + T] (past slots visible to every query) and positions start + P + t. */
export function causalInputs(cfg: ModelConfig, l: Layout): { bias: ort.Tensor; positions: ort.Tensor } {
  const { B, T, P } = l;
  const S = P + T;
  const W = cfg.slidingWindow ?? Infinity;
  const row = new Float32Array(T * S).fill(MASK_MIN);
  for (let t = 0; t < T; t++) for (let j = 0; j <= P + t; j++) if (P + t - j < W) row[t * S + j] = 0;
  const bias = new Float32Array(B * T * S);
  for (let b = 0; b < B; b++) bias.set(row, b * T * S);
  const positions = new BigInt64Array(B * T);
  const p0 = (l.positionStart ?? 0) + P;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) positions[b * T + t] = BigInt(p0 + t);
  return { bias: new ort.Tensor('float32', bias, [B, 1, T, S]), positions: new ort.Tensor('int64', positions, [B, T]) };
}

/**
 * ids and labels for rows of tokens; `ignoreFirst` leading slots per row (soft-prompt positions)
 * carry placeholder id 0 and no label. labels[t] = row[t + 1]; the last position has none.
 */
export function idsAndLabels(rows: ArrayLike<number>[], ignoreFirst = 0): { ids: ort.Tensor; labels: ort.Tensor } {
  const B = rows.length;
  const L = rows[0].length;
  const T = ignoreFirst + L;
  const ids = new BigInt64Array(B * T);
  const labels = new BigInt64Array(B * T).fill(BigInt(IGNORE_INDEX));
  rows.forEach((r, b) => {
    for (let t = 0; t < L; t++) {
      ids[b * T + ignoreFirst + t] = BigInt(r[t]);
      if (t + 1 < L) labels[b * T + ignoreFirst + t] = BigInt(r[t + 1]);
    }
  });
  return { ids: new ort.Tensor('int64', ids, [B, T]), labels: new ort.Tensor('int64', labels, [B, T]) };
}

/** Zero-length past K/V for every layer (no prefix). */
export function emptyPast(cfg: ModelConfig, B: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  const t = new ort.Tensor('float32', new Float32Array(0), [B, cfg.numKvHeads, 0, cfg.headDim]);
  for (let i = 0; i < cfg.numLayers; i++) {
    out[io.pastKey(i)] = t;
    out[io.pastValue(i)] = t;
  }
  return out;
}

/** The standard feeds (everything but the trainable tensors) for rows of tokens. */
export function batchFeeds(cfg: ModelConfig, rows: ArrayLike<number>[], opts: { ignoreFirst?: number; P?: number; positionStart?: number } = {}): Record<string, ort.Tensor> {
  const { ids, labels } = idsAndLabels(rows, opts.ignoreFirst ?? 0);
  const [B, T] = ids.dims as number[];
  const P = opts.P ?? 0;
  const { bias, positions } = causalInputs(cfg, { B, T, P, positionStart: opts.positionStart });
  return {
    [io.inputIds]: ids, [io.positionIds]: positions, [io.attnBias]: bias, [trainIo.labels]: labels,
    ...(P === 0 ? emptyPast(cfg, B) : {}),
  };
}
