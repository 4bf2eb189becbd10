// Starting generation (or scoring) from a cache that already holds slots: a cached soft prompt, a
// concatenation of prompts, a prefix, or — after an IDP prefill — the selected prompt plus the input.
// Such slots never have to be recomputed (they do not depend on what follows them), so every method
// that puts something in front of the text runs as "past + new tokens" through the normal runtime.
//
// Rows may hold different numbers of slots: they are right-aligned in [B, K, S, D] and the shorter
// rows are left-padded with invisible slots (the bias hides them), as the runtime does for prompts.

import * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../models/config';
import type { CausalLM } from '../runtime/lm';
import { KvState } from '../runtime/kv-cache';
import { inputError } from '../errors';
import type { PromptKV } from './kv';

/** The slots one row starts from. */
export interface RowSlots {
  /** Slots in this row. */
  n: number;
  /** Layer i's keys and values [K, n, D]. */
  key: (layer: number) => Float32Array;
  value: (layer: number) => Float32Array;
  /** Slot visibility (padding slots in the middle of a row are 0) and position ids, [n] each. */
  visible: Uint8Array;
  positions: Int32Array;
  /** Position of the row's next token. */
  next: number;
}

/** Slots of a cached prompt (every slot visible, positions start … start + n − 1, text from start + n). */
export function promptSlots(kv: PromptKV): RowSlots {
  return {
    n: kv.n, key: (i) => kv.keys[i], value: (i) => kv.values[i],
    visible: new Uint8Array(kv.n).fill(1),
    positions: Int32Array.from({ length: kv.n }, (_, t) => kv.start + t),
    next: kv.start + kv.n,
  };
}

/** A runtime cache state whose row b holds rows[b]'s slots, right-aligned. */
export function stateWithSlots(c: ModelConfig, rows: RowSlots[]): KvState {
  const B = rows.length;
  const K = c.numKvHeads;
  const D = c.headDim;
  const S = Math.max(...rows.map((r) => r.n));
  const state = new KvState(B, c.numLayers, K, D, c.slidingWindow ?? Infinity);
  rows.forEach((r, b) => {
    const pad = S - r.n;
    const vis = new Uint8Array(S);
    vis.set(r.visible, pad);
    const pos = new Int32Array(S);
    pos.set(r.positions, pad);
    state.visible[b] = vis;
    state.slotPos[b] = pos;
    state.nextPos[b] = r.next;
  });
  for (let i = 0; i < c.numLayers; i++) {
    for (const kind of [0, 1]) {
      const data = new Float32Array(B * K * S * D);                                     // [B, K, S, D]
      rows.forEach((r, b) => {
        const src = kind ? r.value(i) : r.key(i);                                      // [K, n, D]
        if (src.length !== K * r.n * D) throw new Error(`cache slots of row ${b}, layer ${i}: ${src.length} values for [${K}, ${r.n}, ${D}]`);
        for (let k = 0; k < K; k++) data.set(src.subarray(k * r.n * D, (k + 1) * r.n * D), ((b * K + k) * S + S - r.n) * D);
      });
      state.past[2 * i + kind] = new ort.Tensor('float32', data, [B, K, S, D]);
    }
  }
  return state;
}

/**
 * generate()'s prefill for text after a cached past (single soft prompt, concatenation, prefix): every
 * row starts from `slots`, then the prompt rows run through the plain graph.
 */
export function pastPrefill(lm: CausalLM, slots: RowSlots) {
  return async (ids: number[][], real: boolean[][]) => {
    const longest = Math.max(...real.map((r) => r.filter(Boolean).length));
    if (slots.next + longest > lm.config.maxPositions) {
      throw inputError(`${longest} tokens after ${slots.next} prompt positions exceed the model's context of ${lm.config.maxPositions}`);
    }
    const state = stateWithSlots(lm.config, ids.map(() => slots));
    const r = await lm.prefill(state, ids, real);
    return { state, logits: r.logits };
  };
}
