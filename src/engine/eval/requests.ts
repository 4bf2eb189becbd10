// The three request types of EleutherAI's lm-evaluation-harness, and how their text becomes tokens.
//
//   loglikelihood(context, continuation)  → (ll, isGreedy): summed log-probability of the continuation's
//                                            tokens given the context, and whether greedy decoding would
//                                            have produced exactly them
//   loglikelihood_rolling(text)           → ll of the whole text, scored in disjoint windows of the
//                                            model's context (each window sees one token before it)
//   generate_until(context, until)        → greedy continuation, cut at the first stop string
//
// Tokenization follows lm-eval's causal-LM path: trailing whitespace of the context moves to the
// continuation; the context and context+continuation are encoded separately and the continuation is
// whatever the joint encoding has past the context's length; an empty context becomes the prefix token.
// Special tokens follow lm-eval's HF model (v0.4.0–v0.4.9.1, the releases of the paper's time): contexts,
// continuations and generation prompts are encoded with add_special_tokens=False unless its add_bos_token
// is on, and add_bos_token defaults to off except for the Gemma family (model_type containing "gemma").
// So Llama and OPT contexts get no BOS by default; `--add-bos` turns it on (the family's BOS, none for
// GPT-2, whose HF tokenizer adds nothing). The prefix token (empty contexts, rolling windows) is BOS where
// the tokenizer has one, else EOS (lm-eval's prefix_token_id, v0.4.3+; v0.4.0–0.4.2 used EOS). lm-eval
// v0.4.9.2+ defaults add_bos_token to the tokenizer's own setting instead (BOS for Llama): --add-bos.

import { inputError } from '../errors';
import { Tokenizer } from '../tokenizers/tokenizer';
import { bosFor } from '../models/bos';
import { pyRstrip } from './pystr';

export interface LoglikelihoodRequest { type: 'loglikelihood'; context: string; continuation: string }
export interface RollingRequest { type: 'loglikelihood_rolling'; text: string }
export interface GenerateUntilRequest { type: 'generate_until'; context: string; until: string[] }
export type Request = LoglikelihoodRequest | RollingRequest | GenerateUntilRequest;
export type RequestType = Request['type'];

export interface LoglikelihoodResult {
  ll: number;
  isGreedy: boolean;
  /** Continuation tokens scored. */
  tokens: number;
  /** IDP: the prompt the context selected. */
  selected?: number;
}

/** `selected` (IDP): the prompt the first window selected. */
export interface RollingResult { ll: number; tokens: number; selected?: number }

export interface GenerationResult {
  text: string;
  tokens: number;
  /** IDP: the prompt the context selected. */
  selected?: number;
}

export interface TokenPair { context: number[]; continuation: number[] }

/** How text becomes ids for one model. */
export interface Encoding {
  tokenizer: Tokenizer;
  /** Whether BOS goes first in encoded contexts (lm-eval's add_bos_token), as the report records it. */
  addBos: boolean;
  /** Put first in every encoded context: the family's BOS when addBos, else undefined (and for GPT-2). */
  bos?: number;
  /** Stands in for an empty context and starts the first rolling window. */
  prefixToken: number;
}

export interface ModelIds { arch: string; modelType?: string; bosTokenId?: number; eosTokenId?: number; vocabSize: number }

/** lm-eval's add_bos_token default for a model: on only for the Gemma family (it underperforms without). */
export function lmEvalAddsBos(cfg: { modelType?: string }): boolean {
  return (cfg.modelType ?? '').includes('gemma');
}

/** `addBos` overrides lm-eval's per-model default (`--add-bos`). */
export function encodingFor(cfg: ModelIds, tok: Tokenizer | undefined, o: { addBos?: boolean } = {}): Encoding {
  if (!tok) throw inputError('the model has no tokenizer: benchmark tasks are text (give --tokenizer)');
  const addBos = o.addBos ?? lmEvalAddsBos(cfg);
  const familyBos = bosFor(cfg, tok);
  const prefixToken = familyBos ?? cfg.eosTokenId ?? tok.eosId;
  if (prefixToken === undefined) throw inputError('the model has neither a BOS nor an EOS token to stand in for an empty context');
  return { tokenizer: tok, addBos, bos: addBos ? familyBos : undefined, prefixToken };
}

/** How a report states the BOS choice (bench Markdown, study notes). */
export function bosNote(addBos: boolean): string {
  return addBos
    ? 'contexts encoded with BOS first (--add-bos, or lm-eval\'s add_bos_token for Gemma)'
    : 'contexts encoded without BOS (lm-eval\'s add_bos_token=False default; --add-bos puts it first)';
}

function enc(e: Encoding, text: string): number[] {
  const ids = text.length ? e.tokenizer.encode(text) : [];
  return e.bos !== undefined ? [e.bos, ...ids] : ids;
}

/** lm-eval's (context_enc, continuation_enc) for a loglikelihood request. */
export function encodePair(e: Encoding, context: string, continuation: string): TokenPair {
  const ctx = pyRstrip(context);
  const cont = context.slice(ctx.length) + continuation;   // trailing whitespace moves to the continuation
  if (ctx.length === 0) {
    const ids = cont.length ? e.tokenizer.encode(cont) : [];
    return ids[0] === e.prefixToken ? { context: ids.slice(0, 1), continuation: ids.slice(1) } : { context: [e.prefixToken], continuation: ids };
  }
  const whole = enc(e, ctx + cont);
  const c = enc(e, ctx);
  if (c.length === 0) return { context: [e.prefixToken], continuation: whole };
  return { context: c, continuation: whole.slice(c.length) };
}

/** Prompt ids for generation: the encoded context (the prefix token when it is empty). */
export function encodePrompt(e: Encoding, context: string): number[] {
  const ids = enc(e, context);
  return ids.length ? ids : [e.prefixToken];
}

/**
 * What the model sees for a pair under a context of `maxLen` positions: lm-eval keeps the last
 * maxLen + 1 tokens of context + continuation (the last one is only predicted), i.e. drops tokens from
 * the start of the context. A continuation that does not fit at all is an INPUT error.
 */
export function fitPair(p: TokenPair, maxLen: number): TokenPair {
  const over = p.context.length + p.continuation.length - 1 - maxLen;
  if (over <= 0) return p;
  if (over >= p.context.length) {
    throw inputError(`a continuation of ${p.continuation.length} tokens does not fit the model's context of ${maxLen}`);
  }
  return { context: p.context.slice(over), continuation: p.continuation };
}

/**
 * lm-eval's rolling windows with context_len 1, as disjoint (context, continuation) pairs: the first
 * window predicts the first min(maxLen, n) tokens after the prefix token; each later window predicts
 * the next ≤ maxLen tokens and is filled up to maxLen inputs with the tokens just before them. Every
 * token is predicted exactly once.
 */
export function rollingWindows(ids: number[], prefixToken: number, maxLen: number): TokenPair[] {
  if (!(Number.isInteger(maxLen) && maxLen >= 1)) throw inputError(`window length must be a positive integer, got ${maxLen}`);
  const out: TokenPair[] = [];
  if (!ids.length) return out;
  const first = Math.min(maxLen, ids.length);
  out.push({ context: [prefixToken], continuation: ids.slice(0, first) });
  for (let done = first; done < ids.length;) {
    const k = Math.min(ids.length - done, maxLen);
    const end = done + k;
    out.push({ context: ids.slice(end - maxLen - 1, end - k), continuation: ids.slice(end - k, end) });
    done = end;
  }
  return out;
}
