// Running lm-eval requests on a model: batched loglikelihood with shared-context reuse, rolling
// loglikelihood, and greedy generation until a stop string.
//
// Shared context. Multiple-choice items score several continuations after one context. With a
// CausalLM the context is run once per item: one row holds the context followed by every
// continuation (minus its last token, which is only predicted), each continuation a branch that
// sees the context and itself — the attention bias and position ids (graph inputs, see
// docs/engine.md) make the branches independent, and every branch's positions start where the
// context ends. A one-token continuation costs nothing beyond the context (its logits are the
// context's last position). Rows are sorted by length and batched up to a token budget.
// Models that only offer logits(seqs) (e.g. AdaptedLM) get one row per distinct request instead.
//
// Numerics: log-softmax in float64 from the float32 logits; greedy = every continuation token is the
// first maximum of its position's logits (torch.argmax's rule).

import * as ort from 'onnxruntime-node';
import { CausalLM } from '../runtime/lm';
import { generate } from '../runtime/generate';
import { io, MASK_MIN } from '../models/blocks';
import { inputError } from '../errors';
import { Encoding, encodePrompt, fitPair, GenerationResult, LoglikelihoodResult, rollingWindows, RollingResult, TokenPair } from './requests';

export interface ScoringModel {
  readonly config: { vocabSize: number; maxPositions: number; arch: string; bosTokenId?: number; eosTokenId?: number };
  /** Logits [len, V] of each sequence. */
  logits(seqs: number[][]): Promise<Float32Array[]>;
  /**
   * Models that select per input (IDP): logits [len, V] of each sequence where only its first vote[i] tokens
   * choose (a loglikelihood request's context, never its continuation), and the choice per sequence.
   */
  logitsVoting?(seqs: number[][], vote: number[]): Promise<{ logits: Float32Array[]; selected: number[] }>;
  /** Greedy generation with the model's own cache path (IDP), and the choice per prompt. */
  generateGreedy?(prompts: number[][], o: { maxTokens: number; stop: string[]; stopIds: number[]; isCancelled?: () => boolean }):
    Promise<{ rows: Array<{ text: string; ids: number[] }>; selected?: number[] }>;
}

export interface ScoringOptions {
  /** Most token slots (batch × padded length) per forward pass; default from the vocabulary size. */
  batchTokens?: number;
  /** Pack continuations after their shared context (default: true where the model allows it). */
  pack?: boolean;
  onProgress?: (done: number, total: number) => void;
  isCancelled?: () => boolean;
}

/** Thrown when isCancelled() turns true between forward passes. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export function defaultBatchTokens(vocabSize: number): number {
  // logits of one batch stay under 256 MiB
  return Math.max(256, Math.min(4096, Math.floor(2 ** 28 / (4 * vocabSize))));
}

/** One sequence of a forward pass: ids, position ids and branch ids (0: shared context). */
interface Row { ids: number[]; pos: number[]; seg: number[]; requests: number }
/** Where a continuation's tokens are predicted: slots of a row (slot t predicts tokens[i] at slots[i]). */
interface Target { row: number; slots: number[]; tokens: number[]; reqs: number[] }

export interface Plan { rows: Row[]; targets: Target[]; empty: number[] }

/** Rows and targets for a list of (context, continuation) pairs (exported for tests). */
export function planRows(pairs: TokenPair[], maxPositions: number, pack: boolean, rowCap: number): Plan {
  const groups = new Map<string, { ctx: number[]; conts: Map<string, { cont: number[]; reqs: number[] }> }>();
  const empty: number[] = [];
  pairs.forEach((p0, i) => {
    if (p0.continuation.length === 0) { empty.push(i); return; }   // lm-eval: ll 0, greedy
    const p = fitPair(p0, maxPositions);
    const key = pack ? p.context.join(',') : `${i}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ctx: p.context, conts: new Map() }));
    const ck = p.continuation.join(',');
    const c = g.conts.get(ck);
    if (c) c.reqs.push(i);
    else g.conts.set(ck, { cont: p.continuation, reqs: [i] });
  });
  const rows: Row[] = [];
  const targets: Target[] = [];
  for (const { ctx, conts } of groups.values()) {
    let row: Row | undefined;
    for (const { cont, reqs } of conts.values()) {
      const extra = cont.length - 1;
      if (!row || (row.ids.length > ctx.length && row.ids.length + extra > rowCap)) {
        row = { ids: [...ctx], pos: ctx.map((_, t) => t), seg: ctx.map(() => 0), requests: 0 };
        rows.push(row);
      }
      const branch = row.seg[row.seg.length - 1] + 1;
      const start = row.ids.length;
      const slots = [ctx.length - 1];
      for (let k = 0; k < extra; k++) {
        row.ids.push(cont[k]);
        row.pos.push(ctx.length + k);
        row.seg.push(branch);
        slots.push(start + k);
      }
      row.requests += reqs.length;
      targets.push({ row: rows.length - 1, slots, tokens: cont, reqs });
    }
  }
  return { rows, targets, empty };
}

/** Additive bias [B, 1, T, T] for left-padded packed rows: context for all, each branch for itself. */
function packedBias(rows: Row[], T: number, window: number): Float32Array {
  const bias = new Float32Array(rows.length * T * T).fill(MASK_MIN);
  rows.forEach((r, b) => {
    const off = T - r.ids.length;
    for (let i = 0; i < r.ids.length; i++) {
      const base = (b * T + off + i) * T + off;
      for (let j = 0; j <= i; j++) {
        if ((r.seg[j] === 0 || r.seg[j] === r.seg[i]) && r.pos[i] - r.pos[j] < window) bias[base + j] = 0;
      }
    }
  });
  return bias;
}

/** Logits [B, T, V] of packed rows, left-padded to T, in one run of the model's scoring graph. */
async function packedForward(lm: CausalLM, rows: Row[], T: number): Promise<Float32Array> {
  const c = lm.config;
  const B = rows.length;
  const ids = new BigInt64Array(B * T);
  const pos = new BigInt64Array(B * T);
  rows.forEach((r, b) => {
    const off = T - r.ids.length;
    r.ids.forEach((id, t) => {
      if (!(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) throw inputError(`token id ${id} is outside the vocabulary (0..${c.vocabSize - 1})`);
      ids[b * T + off + t] = BigInt(id);
      pos[b * T + off + t] = BigInt(r.pos[t]);
    });
  });
  const feeds: Record<string, ort.Tensor> = {
    [io.inputIds]: new ort.Tensor('int64', ids, [B, T]),
    [io.positionIds]: new ort.Tensor('int64', pos, [B, T]),
    [io.attnBias]: new ort.Tensor('float32', packedBias(rows, T, c.slidingWindow ?? Infinity), [B, 1, T, T]),
  };
  const empty = new ort.Tensor('float32', new Float32Array(0), [B, c.numKvHeads, 0, c.headDim]);
  for (let i = 0; i < c.numLayers; i++) {
    feeds[io.pastKey(i)] = empty;
    feeds[io.pastValue(i)] = empty;
  }
  const out = await (await lm.session('all')).run(feeds);
  return out[io.logits].data as Float32Array;
}

/** log-softmax of `tok` at one position (float64) and whether `tok` is its first maximum. */
export function tokenLogProb(logits: Float32Array, off: number, V: number, tok: number): { lp: number; top: boolean } {
  let m = -Infinity;
  let arg = 0;
  for (let v = 0; v < V; v++) if (logits[off + v] > m) { m = logits[off + v]; arg = v; }
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - m);
  return { lp: logits[off + tok] - m - Math.log(s), top: arg === tok };
}

/** loglikelihood requests, already tokenized: (ll, isGreedy) per pair, in order. */
export async function scoreLoglikelihood(model: ScoringModel, pairs: TokenPair[], o: ScoringOptions = {}): Promise<LoglikelihoodResult[]> {
  const V = model.config.vocabSize;
  const packable = model instanceof CausalLM;
  const budget = o.batchTokens ?? defaultBatchTokens(V);
  // a packed row never exceeds the context either (positions past it are outside what the model was trained on)
  const plan = planRows(pairs, model.config.maxPositions, (o.pack ?? true) && packable, Math.min(budget, model.config.maxPositions));
  const results: LoglikelihoodResult[] = new Array(pairs.length);
  for (const i of plan.empty) results[i] = { ll: 0, isGreedy: true, tokens: 0 };
  const order = plan.rows.map((_, i) => i).sort((a, b) => plan.rows[b].ids.length - plan.rows[a].ids.length);
  const byRow = new Map<number, Target[]>();
  for (const t of plan.targets) byRow.set(t.row, [...(byRow.get(t.row) ?? []), t]);
  let done = plan.empty.length;
  o.onProgress?.(done, pairs.length);
  for (let k = 0; k < order.length;) {
    if (o.isCancelled?.()) throw new CancelledError();
    const T = plan.rows[order[k]].ids.length;
    const n = Math.max(1, Math.min(order.length - k, Math.floor(budget / T)));
    const batch = order.slice(k, k + n);
    k += n;
    const rows = batch.map((r) => plan.rows[r]);
    // per row: the logits array and the offset of its slot 0 (and, voting models, the row's selection)
    let at: Array<{ data: Float32Array; base: number; selected?: number }>;
    if (packable) {
      const data = await packedForward(model as CausalLM, rows, T);
      at = rows.map((r, b) => ({ data, base: (b * T + T - r.ids.length) * V }));
    } else if (model.logitsVoting) {
      // only the shared context votes (seg 0), so every continuation of an item sees the same selection
      const out = await model.logitsVoting(rows.map((r) => r.ids), rows.map((r) => r.seg.filter((x) => x === 0).length));
      at = out.logits.map((data, b) => ({ data, base: 0, selected: out.selected[b] }));
    } else {
      const out = await model.logits(rows.map((r) => r.ids));
      at = out.map((data) => ({ data, base: 0 }));
    }
    batch.forEach((r, b) => {
      for (const t of byRow.get(r) ?? []) {
        let ll = 0;
        let greedy = true;
        t.tokens.forEach((tok, i) => {
          const { lp, top } = tokenLogProb(at[b].data, at[b].base + t.slots[i] * V, V, tok);
          ll += lp;
          greedy &&= top;
        });
        const sel = at[b].selected;
        for (const q of t.reqs) results[q] = { ll, isGreedy: greedy, tokens: t.tokens.length, ...(sel !== undefined ? { selected: sel } : {}) };
      }
      done += plan.rows[r].requests;
    });
    o.onProgress?.(done, pairs.length);
  }
  return results;
}

/** loglikelihood_rolling of token sequences: summed ll of every token after the prefix token. */
export async function scoreRolling(model: ScoringModel, texts: number[][], prefixToken: number, o: ScoringOptions = {}): Promise<RollingResult[]> {
  const windows: TokenPair[] = [];
  const owner: number[] = [];
  texts.forEach((ids, i) => {
    for (const w of rollingWindows(ids, prefixToken, model.config.maxPositions)) { windows.push(w); owner.push(i); }
  });
  const r = await scoreLoglikelihood(model, windows, o);
  const out: RollingResult[] = texts.map(() => ({ ll: 0, tokens: 0 }));
  r.forEach((x, j) => {
    const o = out[owner[j]];
    o.ll += x.ll;
    o.tokens += x.tokens;
    if (x.selected !== undefined && o.selected === undefined) o.selected = x.selected;   // the first window's choice
  });
  return out;
}

export interface GenerationOptions extends ScoringOptions {
  /** Most new tokens per request (lm-eval's max_gen_toks, 256). */
  maxGenToks?: number;
  /** Rows decoded together (default 16). */
  batch?: number;
}

/** Cut at the first occurrence of any stop string (lm-eval: s.split(term)[0] for each term). */
export function cutAtStops(text: string, until: string[]): string {
  let s = text;
  for (const u of until) if (u.length) s = s.split(u)[0];
  return s;
}

/** generate_until requests: greedy continuations cut at their stop strings. */
export async function generateUntil(model: ScoringModel, e: Encoding, reqs: Array<{ context: string; until: string[] }>,
  o: GenerationOptions = {}): Promise<GenerationResult[]> {
  const c = model.config;
  const maxGen = Math.max(1, Math.min(o.maxGenToks ?? 256, Math.floor(c.maxPositions / 2)));
  const maxCtx = c.maxPositions - maxGen;
  const prompts = reqs.map((r) => encodePrompt(e, r.context).slice(-maxCtx));   // lm-eval: left-truncate the context
  const order = reqs.map((_, i) => i).sort((a, b) => prompts[b].length - prompts[a].length);
  const out: GenerationResult[] = new Array(reqs.length);
  const per = Math.max(1, o.batch ?? 16);
  const stopIds = [c.eosTokenId, e.tokenizer.eosId].filter((x): x is number => x !== undefined);
  let done = 0;
  o.onProgress?.(0, reqs.length);
  for (let k = 0; k < order.length; k += per) {
    if (o.isCancelled?.()) throw new CancelledError();
    // one batch shares its stop strings; group the slice by them
    const slice = order.slice(k, k + per);
    const byStops = new Map<string, number[]>();
    for (const i of slice) byStops.set(JSON.stringify(reqs[i].until), [...(byStops.get(JSON.stringify(reqs[i].until)) ?? []), i]);
    for (const idx of byStops.values()) {
      const until = reqs[idx[0]].until;
      let selected: number[] | undefined;
      let rows: Array<{ text: string; ids: number[] }>;
      if (model instanceof CausalLM) {
        rows = (await generate(model, e.tokenizer, idx.map((i) => prompts[i]), { maxTokens: maxGen, stop: until, stopIds, isCancelled: o.isCancelled })).rows;
      } else if (model.generateGreedy) {
        ({ rows, selected } = await model.generateGreedy(idx.map((i) => prompts[i]), { maxTokens: maxGen, stop: until, stopIds, isCancelled: o.isCancelled }));
      } else {
        rows = await greedyByLogits(model, e, idx.map((i) => prompts[i]), until, stopIds, maxGen);
      }
      if (o.isCancelled?.()) throw new CancelledError();
      idx.forEach((i, j) => {
        out[i] = { text: cutAtStops(rows[j].text, until), tokens: rows[j].ids.length, ...(selected ? { selected: selected[j] } : {}) };
      });
    }
    done += slice.length;
    o.onProgress?.(done, reqs.length);
  }
  return out;
}

/** Greedy decoding through logits(seqs) alone (models without a KV-cache path, e.g. AdaptedLM). */
async function greedyByLogits(model: ScoringModel, e: Encoding, prompts: number[][], until: string[], stopIds: number[], maxGen: number):
  Promise<Array<{ text: string; ids: number[] }>> {
  const V = model.config.vocabSize;
  const rows = prompts.map(() => ({ ids: [] as number[], text: '', done: false }));
  for (let step = 0; step < maxGen && rows.some((r) => !r.done); step++) {
    const live = rows.map((r, i) => i).filter((i) => !rows[i].done);
    const lg = await model.logits(live.map((i) => [...prompts[i], ...rows[i].ids]));
    live.forEach((i, j) => {
      const r = rows[i];
      const len = prompts[i].length + r.ids.length;
      let best = 0;
      for (let v = 1; v < V; v++) if (lg[j][(len - 1) * V + v] > lg[j][(len - 1) * V + best]) best = v;
      if (stopIds.includes(best)) { r.done = true; return; }
      r.ids.push(best);
      r.text = e.tokenizer.decode(r.ids);
      if (until.some((u) => u.length && r.text.includes(u)) || len + 1 >= model.config.maxPositions) r.done = true;
    });
  }
  return rows;
}
