// The methods IDP is compared with, as they run at inference, all on the same runtime:
//   none            the compressed model alone
//   single prompt   one bank prompt in its trained layout, its K/V cached (past.ts)
//   concat          the bank's prompts as one soft prompt [P_1; …; P_m] at positions 0 … Σn − 1 (Table 3
//                   "Concat": naive concatenation — later prompts attend to earlier ones), K/V cached
//   prefix          trained keys/values as the past, text from position t
//   LoRA            factors as graph constants (y + x·Aᵀ·(s·B)ᵀ); on a quantized model they cannot be merged
//                   into the packed weights, so they run as extra products per adapted layer
// a cached prompt as a scorer (every position's logits, for NLL), and the wrapper that lets a method
// train on a GPTQ model (its graph on the dequantized weights).

import type { LoadedModel } from '../models/config';
import { type CausalLM, leftPad } from '../runtime/lm';
import type { LogitsScorer } from '../eval/perplexity';
import { inputError } from '../errors';
import { promptSlots, stateWithSlots } from './past';
import type { BuildHooks } from '../models/blocks';
import type { TrainMethod } from '../train/methods/method';
import type { TrainGraphOptions } from '../train/graph';
import { Lora } from '../train/methods/lora';
import { Prefix } from '../train/methods/prefix';
import type { IdpBank } from './bank';
import type { PromptKV } from './kv';
import { computePromptKVs, KvGraphOptions } from './kv';
import type { SessionOptions } from '../runtime/session';

/** `method` with its training graph built on dequantized weights when the model is GPTQ (MatMulNBits has no VJP). */
export function trainableOn(m: LoadedModel, method: TrainMethod): TrainMethod {
  if (!m.quant) return method;
  const wrapped = Object.create(method) as TrainMethod & { graphOptions: (t: boolean) => TrainGraphOptions };
  wrapped.graphOptions = (training: boolean) => {
    const o = method.graphOptions(training);
    return { ...o, build: { ...o.build, dequantize: true } };
  };
  return wrapped;
}

/**
 * A cached prompt (single prompt, concatenation, prefix) as a scorer: logits of every position of text
 * that follows the prompt's K/V through the plain runtime — the single-prompt method as it runs at
 * inference. The text starts at the prompt's end (start + n), so a bank prompt keeps its trained layout.
 */
export function cachedPromptScorer(lm: CausalLM, kv: PromptKV): LogitsScorer {
  const slots = promptSlots(kv);
  const c = lm.config;
  return {
    config: { ...c, maxPositions: c.maxPositions - slots.next },
    logits: async (seqs) => {
      if (seqs.length === 0 || seqs.some((s) => s.length === 0)) throw inputError('empty sequence: nothing to score');
      const T = Math.max(...seqs.map((s) => s.length));
      if (slots.next + T > c.maxPositions) throw inputError(`${T} tokens after ${slots.next} prompt positions exceed the model's context of ${c.maxPositions}`);
      const V = c.vocabSize;
      const { ids, real } = leftPad(seqs, T);
      const r = await lm.step(stateWithSlots(c, seqs.map(() => slots)), ids, real, 'all');
      return seqs.map((s, b) => r.logits.slice((b * T + T - s.length) * V, (b + 1) * T * V));
    },
  };
}

/** The bank's prompts concatenated into one prompt [Σn, e] (bank order). */
export function concatPrompt(bank: IdpBank): { embeddings: Float32Array; n: number } {
  const n = bank.slots;
  const out = new Float32Array(bank.prompts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of bank.prompts) { out.set(p, at); at += p.length; }
  return { embeddings: out, n };
}

/** K/V of the concatenated prompt at positions 0 … Σn − 1 (one sequence: later prompts see earlier ones). */
export async function concatKv(m: LoadedModel, bank: IdpBank, o: SessionOptions & { graph?: KvGraphOptions } = {}): Promise<PromptKV> {
  const c = concatPrompt(bank);
  return (await computePromptKVs(m, [{ ...c, start: 0 }], o))[0];
}

/** A prefix as a cached past: [K, t, D] per layer at positions 0 … t − 1. */
export function prefixKv(p: Prefix): PromptKV {
  const L = p.model.config.numLayers;
  return {
    n: p.n, start: 0,
    keys: Array.from({ length: L }, (_, i) => p.params.get(`prefix_key.${i}`)!.data),
    values: Array.from({ length: L }, (_, i) => p.params.get(`prefix_value.${i}`)!.data),
  };
}

/** Inference hooks for a LoRA adapter with its factors as graph constants (no graph inputs to feed). */
export function loraInferenceHooks(lora: Lora): BuildHooks {
  const adapted = new Set(lora.modules);
  return {
    linear: (g, x, y, module) => {
      if (!adapted.has(module)) return y;
      const a = lora.params.get(`lora_A.${module}`)!;                                        // [r, in]
      const b = lora.params.get(`lora_B.${module}`)!;                                        // [out, r]
      const [r, inF] = a.shape;
      const outF = b.shape[0];
      const aT = new Float32Array(inF * r);
      for (let i = 0; i < r; i++) for (let j = 0; j < inF; j++) aT[j * r + i] = a.data[i * inF + j];
      const bT = new Float32Array(r * outF);                                                 // (s·B)ᵀ [r, out]
      for (let o = 0; o < outF; o++) for (let i = 0; i < r; i++) bT[i * outF + o] = lora.scale * b.data[o * r + i];
      const down = g.matmul(x, g.constant('float', [inF, r], aT, 'lora_A_T'), 'lora_A');         // [B, T, r]
      const up = g.matmul(down, g.constant('float', [r, outF], bT, 'lora_B_T'), 'lora_B');        // [B, T, out]
      return g.add(y, up, 'lora_add');
    },
  };
}
