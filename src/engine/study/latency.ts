// Latency per row at the study's batch × input length (the paper's 16 × 1024, scaled to the model):
// prefill = generate()'s prefill_ms of a run that stops after the first token (per batch; IDP: the
// selection run and keeping the selected prompt's cache), decode = ms per generated token over `decode`
// greedy steps (whole batch). Each row runs once to warm up (sessions, caches), then `repeats` times;
// the fastest repeat is reported (the least disturbed by other load on the machine).

import { Rng } from '../rng';
import { inputError } from '../errors';
import type { RowRuntime } from './rows';

export interface LatencySettings { batch: number; seqLen: number; decode: number; repeats: number }

export interface Latency { batch: number; seqlen: number; prefillMs: number; decodeMsPerToken: number }

/** Defaults scaled to the model: 4 rows of min(128, context / 4) tokens, 16 decode tokens, 3 repeats. */
export function latencySettings(context: number, slots: number, o: Partial<LatencySettings> = {}): LatencySettings {
  const decode = o.decode ?? 16;
  const room = context - slots - decode - 1;
  if (room < 1) throw inputError(`no room for latency inputs: context ${context}, ${slots} prompt slots, ${decode} decode tokens`);
  return { batch: o.batch ?? 4, seqLen: Math.min(o.seqLen ?? Math.min(128, Math.floor(context / 4)), room), decode, repeats: o.repeats ?? 3 };
}

export async function measureLatency(row: RowRuntime, s: LatencySettings, seed: number, isCancelled?: () => boolean): Promise<Latency | undefined> {
  const V = row.model.config.vocabSize;
  const rng = new Rng(seed);
  const inputs = Array.from({ length: s.batch }, () => Array.from({ length: s.seqLen }, () => 3 + rng.int(Math.max(1, V - 3))));   // [B, T]
  await row.generate(inputs, { maxTokens: 2, stopIds: [] });
  let prefill = Infinity;
  let decode = Infinity;
  for (let r = 0; r < s.repeats; r++) {
    if (isCancelled?.()) return undefined;
    const p = await row.generate(inputs, { maxTokens: 1, stopIds: [] });
    prefill = Math.min(prefill, p.timings.prefill_ms);
    const d = await row.generate(inputs, { maxTokens: s.decode + 1, stopIds: [] });
    decode = Math.min(decode, d.timings.decode_ms / Math.max(1, d.timings.decode_tokens));
  }
  return { batch: s.batch, seqlen: s.seqLen, prefillMs: +prefill.toFixed(3), decodeMsPerToken: +decode.toFixed(4) };
}
