// Text generation: prompt → ids (BOS first, as llama2.c), prefill, then decode token by token with
// the KV cache. Batched: each row stops on its own (stop ids, stop sequences, max tokens, context end).

import type { CausalLM } from './lm';
import { leftPad } from './lm';
import { sample, SamplingOptions } from './sampling';
import { SamplingRng } from '../rng';
import { inputError } from '../errors';
import { Tokenizer } from '../tokenizers/tokenizer';
import { bosFor } from '../models/bos';
import type { KvState } from './kv-cache';

export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number;            // default 256
  stop?: string[];               // stop sequences (text); the stop text is not included
  stopIds?: number[];            // default: EOS and BOS of the model
  /** Called for every new token of every row; `text` is the row's decoded continuation so far. */
  onToken?: (row: number, id: number, text: string) => void;
  /** Polled between steps; true cancels the run (rows finish with reason 'cancelled'). */
  isCancelled?: () => boolean;
  /** Yield to the event loop between steps (lets the engine process see a cancel request arrive). */
  yieldEachStep?: boolean;
  /**
   * Runs the (left-padded) prompt rows instead of the plain prefill — a cached soft prompt, prefix or IDP
   * bank before them: returns the cache state after the rows and the logits of each row's last position
   * [B, V]. Decoding then continues from that state as usual.
   */
  prefill?: (ids: number[][], real: boolean[][]) => Promise<{ state: KvState; logits: Float32Array }>;
}

export type FinishReason = 'stop' | 'length' | 'context' | 'cancelled';

export interface GenerateRow {
  ids: number[];         // generated ids only (the continuation)
  text: string;          // decoded continuation (stop sequence cut off)
  finish: FinishReason;
}

export interface Timings {
  prefill_ms: number;           // prompt forward + first token
  decode_ms: number;            // every later step
  decode_tokens: number;        // number of decode steps
  decode_tokens_per_s: number;
  prompt_tokens: number;
}

export interface GenerateResult {
  rows: GenerateRow[];
  timings: Timings;
}

/** Prompt text → ids, with BOS first when the family uses one (Llama, OPT; GPT-2 does not). */
export function promptIds(lm: CausalLM, tok: Tokenizer | undefined, text: string): number[] {
  const c = lm.config;
  const bos = bosFor(c, tok);
  const ids = text.length > 0 ? requireTokenizer(tok).encode(text) : [];
  const all = bos !== undefined ? [bos, ...ids] : ids;
  if (all.length === 0) throw inputError('empty prompt: the model has no BOS token, so there is nothing to condition on');
  return all;
}

function requireTokenizer(tok: Tokenizer | undefined): Tokenizer {
  if (!tok) throw inputError('this model has no tokenizer: pass --tokenizer, or give token ids');
  return tok;
}

const now = () => performance.now();

/**
 * The text the generated ids add after the prompt, as it reads in the whole sequence: decoding the
 * ids alone would treat them as the start of a text (SentencePiece drops the first piece's leading
 * space after BOS, so "Lily" + " and" would print "Lilyand").
 */
export function continuation(tok: Tokenizer, prompt: number[], ids: number[], head = tok.decode(prompt)): string {
  const full = tok.decode([...prompt, ...ids]);
  return full.startsWith(head) ? full.slice(head.length) : tok.decode(ids);
}

export async function generate(lm: CausalLM, tok: Tokenizer | undefined, prompts: number[][], o: GenerateOptions = {}): Promise<GenerateResult> {
  const c = lm.config;
  if (prompts.length === 0 || prompts.some((p) => p.length === 0)) throw inputError('empty prompt: nothing to condition on');
  const T = Math.max(...prompts.map((p) => p.length));
  if (T > c.maxPositions) throw inputError(`prompt of ${T} tokens is longer than the model's context of ${c.maxPositions}`);
  const maxTokens = o.maxTokens ?? 256;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw inputError(`max tokens must be a non-negative integer, got ${maxTokens}`);
  const stopIds = new Set(o.stopIds ?? [c.eosTokenId, c.bosTokenId, tok?.eosId].filter((x): x is number => x !== undefined));
  const rng = new SamplingRng(o.seed ?? 42);
  const B = prompts.length;
  const V = c.vocabSize;
  const rows: GenerateRow[] = prompts.map(() => ({ ids: [], text: '', finish: 'length' as FinishReason }));
  const done = new Array(B).fill(maxTokens === 0);
  let state = lm.newState(B);
  state.expectedSlots = T + maxTokens;   // the in-place cache reserves room for the whole generation at once

  // Greedy decoding runs in chunks inside one ONNX Loop per chunk (see models/decode-loop.ts);
  // sampling, sliding windows and non-CPU providers decode one step per run.
  const greedy = !((o.temperature ?? 0) > 0);
  const chunked = greedy && lm.canDecodeInLoop();
  await lm.session(lm.kvInPlace() ? 'capacity' : 'last');   // build + load outside the timings
  if (chunked) await lm.loopSession();
  const t0 = now();
  const { ids, real } = leftPad(prompts, T);
  let r: { logits: Float32Array } | undefined;
  if (maxTokens > 0 && o.prefill) {
    const p = await o.prefill(ids, real);
    state = p.state;
    r = { logits: p.logits };
  } else if (maxTokens > 0) r = await lm.prefill(state, ids, real);
  const t1 = now();
  let steps = 0;

  const heads = tok ? prompts.map((p) => tok.decode(p)) : [];   // each prompt's text, decoded once
  /** Take token `id` for row b; returns false once the row is finished. */
  const accept = (b: number, id: number): void => {
    if (done[b]) return;
    if (stopIds.has(id)) { done[b] = true; rows[b].finish = 'stop'; return; }
    const row = rows[b];
    row.ids.push(id);
    if (tok && (o.onToken || o.stop)) row.text = continuation(tok, prompts[b], row.ids, heads[b]);
    const hit = o.stop?.map((s) => row.text.indexOf(s)).filter((i) => i >= 0);
    if (hit && hit.length) { row.text = row.text.slice(0, Math.min(...hit)); done[b] = true; row.finish = 'stop'; }
    o.onToken?.(b, id, row.text);
    if (!done[b] && row.ids.length >= maxTokens) done[b] = true;
  };

  let next = new Array<number>(B).fill(0);
  if (r) for (let b = 0; b < B; b++) accept(b, (next[b] = done[b] ? 0 : sample(r.logits, b * V, V, o, rng)));
  let chunk = 4;
  while (!done.every(Boolean)) {
    if (o.yieldEachStep) await new Promise((res) => setImmediate(res));
    if (o.isCancelled?.()) {
      rows.forEach((row, b) => { if (!done[b]) row.finish = 'cancelled'; });
      break;
    }
    const room = c.maxPositions - Math.max(state.length, ...state.nextPos);   // slots, or positions after a cached prompt
    if (room <= 0) {
      rows.forEach((row, b) => { if (!done[b]) row.finish = 'context'; });
      break;
    }
    if (chunked) {
      const left = Math.max(...rows.map((row, b) => (done[b] ? 0 : maxTokens - row.ids.length)));
      const n = Math.min(chunk, left, room);
      chunk = Math.min(chunk * 2, 64);
      const out = await lm.decodeGreedy(state, next, n);          // [n][B]
      steps += n;
      for (const stepTokens of out) for (let b = 0; b < B; b++) accept(b, stepTokens[b]);
      next = out[n - 1];
    } else {
      const ids = next.map((x) => [x]);
      const real = done.map((d) => [!d]);
      const chosen = greedy ? await lm.stepGreedy(state, ids, real) : undefined;   // argmax taken in the graph
      if (!chosen) r = await lm.step(state, ids, real, 'last');
      steps++;
      for (let b = 0; b < B; b++) accept(b, (next[b] = done[b] ? 0 : chosen ? chosen[b] : sample(r!.logits, b * V, V, o, rng)));
    }
  }
  if (tok) rows.forEach((row, b) => { if (!o.stop || row.finish !== 'stop') row.text = continuation(tok, prompts[b], row.ids, heads[b]); });
  const t2 = now();
  const decodeMs = t2 - t1;
  return {
    rows,
    timings: {
      prefill_ms: t1 - t0,
      decode_ms: decodeMs,
      decode_tokens: steps,
      decode_tokens_per_s: steps > 0 ? (steps * 1000) / decodeMs : 0,
      prompt_tokens: T,
    },
  };
}
