// Running a model with an IDP prompt bank: the prefill over [KV(P_1) | … | KV(P_m) | input] with the
// in-graph selection (graph.ts), then decoding from [KV(P_selected) | input] only, through the normal
// runtime (so a decode step costs exactly what it costs after a single cached prompt).
//
//   prefill(ids, real)  → per-row selected prompt and scores, the last logits, and the compact cache
//   generate(tok, rows) → runtime/generate.ts with this prefill; selection and scores in the result
//   score(seqs)         → logits of every position (scoring, perplexity) with the selection per sequence
//   inspect(ids)        → selection, scores and every layer's head-averaged attention map
//   features(seqs)      → per layer, the per-head prompt masses a selection at that layer reads (calibration.ts)

import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/config';
import { io } from '../models/blocks';
import { CausalLM, leftPad } from '../runtime/lm';
import { KvState } from '../runtime/kv-cache';
import { attentionFor, createSession, releaseSessions, SessionOptions } from '../runtime/session';
import { generate, GenerateOptions, GenerateResult } from '../runtime/generate';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { inputError } from '../errors';
import { buildIdpGraph, checkSelectionLayer, idpIo } from './graph';
import type { IdpBank, SelectionScore } from './bank';
import type { KvGraphOptions, PromptKV } from './kv';
import { RowSlots, stateWithSlots } from './past';
import { calibrationWeights, paperWeights, SelectionRule } from './calibration';

export interface IdpOptions extends SessionOptions {
  /** Overrides the bank's selection layer. */
  selectionLayer?: number;
  /** Kernel settings for GPTQ models (also those of the prompts' K/V). */
  graph?: KvGraphOptions;
  /** 'explicit': every layer on the explicit attention path (default: only the selection layer). */
  attention?: 'fused' | 'explicit';
  /** false: after the selection layer keep every prompt in the attention, masked (same result, slower; ablation). */
  compact?: boolean;
  /** How decode steps keep the cache (CausalLM: default in place for large models on the CPU). */
  kvCache?: 'concat' | 'capacity';
  /** 'paper': argmax of the head-mean attention mass; 'calibrated' (default when the bank has a calibration for the selection layer). */
  selection?: SelectionRule;
}

export interface Selection {
  /** Selected prompt per row. */
  selected: number[];
  /** Per row, each prompt's score [m]: what the argmax compared (the calibrated score, or the mass under the paper's rule). */
  scores: Float32Array[];
  /** Per row, each prompt's head-mean attention mass at the selection layer [m] (the paper's score). */
  mass: Float32Array[];
}

export interface IdpPrefill extends Selection {
  /** Cache after the input: the selected prompt's K/V and the input's, per row. */
  state: KvState;
  /** Logits of each row's last position [B, V]. */
  logits: Float32Array;
}

export interface AttentionMap {
  layer: number;
  /** Head-averaged probabilities [T, S] (S = Σ n_i + T: the prompts' slots in bank order, then the input). */
  map: Float32Array;
  /** With `inspect(ids, { heads: true })`: per query head [H, T, S] (head k·G + g of KV head k). */
  heads?: Float32Array;
}

export class IdpLM {
  /** The plain runtime (decode steps, after selection). */
  readonly lm: CausalLM;
  readonly selectionLayer: number;
  /** The rule this runner selects by, and its weights (graph.ts: idp_score_weight [H·m, m], idp_score_bias [m]). */
  readonly rule: SelectionRule;
  private readonly weights: { weight: Float32Array; bias: Float32Array };
  private sessions = new Map<string, Promise<ort.InferenceSession>>();
  private tiled = new Map<number, ort.Tensor[]>();
  private readonly scorerConfig: LoadedModel['config'];

  constructor(readonly model: LoadedModel, readonly bank: IdpBank, readonly options: IdpOptions = {}) {
    this.selectionLayer = options.selectionLayer ?? bank.selectionLayer;
    checkSelectionLayer(this.selectionLayer, model.config.numLayers);
    bank.checkModel(model);
    const cal = bank.calibrationAt(this.selectionLayer);
    if (options.selection === 'calibrated' && !cal) throw inputError(`the bank has no calibrated selection for layer ${this.selectionLayer} (idp bank calibrate fits one)`);
    this.rule = options.selection ?? (cal ? 'calibrated' : 'paper');
    this.weights = this.rule === 'calibrated' ? calibrationWeights(cal!) : { weight: paperWeights(model.config.numHeads, bank.m), bias: new Float32Array(bank.m) };
    this.lm = new CausalLM(model, { ...options, graph: options.graph });
    this.scorerConfig = { ...model.config, maxPositions: model.config.maxPositions - bank.positions };
  }

  /** Frees every session (this runner's and its plain runtime's) now; a later call builds them again. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    this.tiled.clear();
    await Promise.all([releaseSessions(all), this.lm.release()]);
  }

  /** The model's config with the context left for text (the input starts at position N). */
  get config(): LoadedModel['config'] {
    return this.scorerConfig;
  }

  get maxInput(): number {
    return this.model.config.maxPositions - this.bank.positions;
  }

  /** The selection rule this runner applies (reports that say how prompts were chosen read it here). */
  get selectionSettings(): { layer: number; score: SelectionScore; rule: SelectionRule } {
    return { layer: this.selectionLayer, score: this.bank.score, rule: this.rule };
  }

  session(logits: 'all' | 'last', inspect = false, heads = false, features = false): Promise<ort.InferenceSession> {
    const key = `${logits}:${inspect}:${heads}:${features}`;
    let s = this.sessions.get(key);
    if (!s) {
      const m = this.lm.graphModel();   // with the cached [in, out] weights of large models, as CausalLM's graphs
      const g = buildIdpGraph(m, {
        ...this.options.graph, selectionLayer: features ? this.model.config.numLayers - 1 : this.selectionLayer, logits, inspect, heads, features,
        attention: this.options.attention ?? attentionFor(this.options.ep),
        compact: inspect ? false : this.options.compact,
      });
      s = createSession(g.toModelProto(), m.weightsDir, this.options);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  private kvDone?: Promise<PromptKV[]>;

  private kv(): Promise<PromptKV[]> {
    if (!this.kvDone) {
      this.kvDone = this.bank.computeKv(this.model, { ...this.options, graph: this.options.graph });
      this.kvDone.catch(() => { this.kvDone = undefined; });
    }
    return this.kvDone;
  }

  /** The concatenated prompt caches [B, K, Σn, D] per layer (key, value alternating), built once per batch size. */
  private async past(B: number): Promise<ort.Tensor[]> {
    let t = this.tiled.get(B);
    if (t) return t;
    const kv = await this.kv();
    const c = this.model.config;
    const P = this.bank.slots;
    const K = c.numKvHeads;
    const D = c.headDim;
    t = [];
    for (let l = 0; l < c.numLayers; l++) {
      for (const kind of [0, 1]) {
        const one = new Float32Array(K * P * D);                                             // [K, P, D]
        let at = 0;
        for (const p of kv) {
          const src = kind ? p.values[l] : p.keys[l];                                       // [K, n, D]
          for (let k = 0; k < K; k++) one.set(src.subarray(k * p.n * D, (k + 1) * p.n * D), (k * P + at) * D);
          at += p.n;
        }
        const all = new Float32Array(B * one.length);
        for (let b = 0; b < B; b++) all.set(one, b * one.length);
        t.push(new ort.Tensor('float32', all, [B, K, P, D]));
      }
    }
    if (this.tiled.size > 4) this.tiled.clear();
    this.tiled.set(B, t);
    return t;
  }

  /** One run of the IDP graph over left-padded rows; `vote[b]` leading real tokens of row b vote (default all). */
  private async run(ids: number[][], real: boolean[][], logits: 'all' | 'last', inspect = false, vote?: number[], heads = false, features = false) {
    const c = this.model.config;
    const B = ids.length;
    const T = ids[0].length;
    for (const row of ids) for (const id of row) {
      if (!(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) throw inputError(`token id ${id} is outside the vocabulary (0..${c.vocabSize - 1})`);
    }
    const longest = Math.max(...real.map((r) => r.filter(Boolean).length));
    if (longest > this.maxInput) throw inputError(`${longest} tokens do not fit after the bank's ${this.bank.positions} prompt positions (context ${c.maxPositions})`);
    const session = await this.session(logits, inspect, heads, features);
    const kv = await this.kv();
    const state = new KvState(B, c.numLayers, c.numKvHeads, c.headDim, c.slidingWindow ?? Infinity);
    const P = this.bank.slots;
    const slotPos = new Int32Array(P);
    let at = 0;
    for (const p of kv) for (let t = 0; t < p.n; t++) slotPos[at++] = p.start + t;
    for (let b = 0; b < B; b++) {
      state.visible[b] = new Uint8Array(P).fill(1);
      state.slotPos[b] = slotPos;
      state.nextPos[b] = this.bank.positions;
    }
    state.past = await this.past(B);
    const { positions, bias, S } = state.append(real);
    const qw = new Float32Array(B * T);
    real.forEach((r, b) => {
      let k = 0;
      r.forEach((isReal, t) => { if (isReal && k++ < (vote?.[b] ?? Infinity)) qw[b * T + t] = 1; });
    });
    const feeds: Record<string, ort.Tensor> = {
      [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids.flat(), (x) => BigInt(x)), [B, T]),
      [io.positionIds]: new ort.Tensor('int64', positions, [B, T]),
      [io.attnBias]: new ort.Tensor('float32', bias, [B, 1, T, S]),
      [idpIo.segments]: new ort.Tensor('float32', this.bank.segments(), [this.bank.m, P]),
      [idpIo.queryWeight]: new ort.Tensor('float32', qw, [B, T]),
      [idpIo.scoreWeight]: new ort.Tensor('float32', this.weights.weight, [c.numHeads * this.bank.m, this.bank.m]),
      [idpIo.scoreBias]: new ort.Tensor('float32', this.weights.bias, [this.bank.m]),
    };
    for (let i = 0; i < c.numLayers; i++) {
      feeds[io.pastKey(i)] = state.past[2 * i];
      feeds[io.pastValue(i)] = state.past[2 * i + 1];
    }
    const out = await session.run(feeds);
    const m = this.bank.m;
    const sc = out[idpIo.scores].data as Float32Array;
    const ms = out[idpIo.mass].data as Float32Array;
    const sel = out[idpIo.selected].data as BigInt64Array;
    const selection: Selection = {
      selected: Array.from(sel, Number),
      scores: Array.from({ length: B }, (_, b) => sc.slice(b * m, (b + 1) * m)),
      mass: Array.from({ length: B }, (_, b) => ms.slice(b * m, (b + 1) * m)),
    };
    return { out, state, selection, kv, T, P };
  }

  /** IDP prefill of left-padded rows: selection, last logits and the cache [selected prompt | input]. */
  async prefill(ids: number[][], real: boolean[][], vote?: number[]): Promise<IdpPrefill> {
    const { out, state, selection, kv, T, P } = await this.run(ids, real, 'last', false, vote);
    const c = this.model.config;
    const K = c.numKvHeads;
    const D = c.headDim;
    const rows: RowSlots[] = selection.selected.map((s, b) => {
      const p = kv[s];
      const n = p.n + T;
      const cat = (l: number, kind: 0 | 1) => {
        const present = out[kind ? io.presentValue(l) : io.presentKey(l)] as ort.Tensor;          // [B, K, S_l, D], input = last T
        const S = present.dims[2];
        const data = present.data as Float32Array;
        const src = kind ? p.values[l] : p.keys[l];                                                // [K, n, D]
        const dst = new Float32Array(K * n * D);                                                    // [K, n + T, D]
        for (let k = 0; k < K; k++) {
          dst.set(src.subarray(k * p.n * D, (k + 1) * p.n * D), k * n * D);
          dst.set(data.subarray(((b * K + k) * S + S - T) * D, ((b * K + k) * S + S) * D), (k * n + p.n) * D);
        }
        return dst;
      };
      const visible = new Uint8Array(n).fill(1);
      visible.set(state.visible[b].subarray(P), p.n);
      const positions = new Int32Array(n);
      for (let t = 0; t < p.n; t++) positions[t] = p.start + t;
      positions.set(state.slotPos[b].subarray(P), p.n);
      return { n, key: (l) => cat(l, 0), value: (l) => cat(l, 1), visible, positions, next: state.nextPos[b] };
    });
    return { ...selection, state: stateWithSlots(c, rows), logits: out[io.logits].data as Float32Array };
  }

  /** Text generation with IDP (runtime/generate.ts); the result carries the selection of each row. */
  async generate(tok: Tokenizer | undefined, prompts: number[][], o: GenerateOptions = {}): Promise<GenerateResult & Selection> {
    await this.session('last');
    await this.kv();
    let selection: Selection = { selected: [], scores: [], mass: [] };
    const res = await generate(this.lm, tok, prompts, {
      ...o,
      prefill: async (ids, real) => {
        const p = await this.prefill(ids, real);
        selection = { selected: p.selected, scores: p.scores, mass: p.mass };
        return p;
      },
    });
    return { ...res, ...selection };
  }

  /** Logits [len, V] of every position of each sequence, with each sequence's selection (all tokens vote unless `vote`). */
  async score(seqs: number[][], vote?: number[]): Promise<Selection & { logits: Float32Array[] }> {
    if (seqs.length === 0 || seqs.some((s) => s.length === 0)) throw inputError('empty sequence: nothing to score');
    const T = Math.max(...seqs.map((s) => s.length));
    const V = this.config.vocabSize;
    const { ids, real } = leftPad(seqs, T);
    const { out, selection } = await this.run(ids, real, 'all', false, vote);
    const lg = out[io.logits].data as Float32Array;                                           // [B, T, V]
    return { ...selection, logits: seqs.map((s, b) => lg.slice((b * T + T - s.length) * V, (b + 1) * T * V)) };
  }

  /** LogitsScorer (eval/perplexity.ts). */
  async logits(seqs: number[][]): Promise<Float32Array[]> {
    return (await this.score(seqs)).logits;
  }

  /** Selection, scores and every layer's head-averaged attention map for one sequence (`heads`: per head too). */
  async inspect(ids: number[], o: { heads?: boolean } = {}): Promise<Selection & { maps: AttentionMap[]; slots: number }> {
    if (ids.length === 0) throw inputError('empty input: nothing to inspect');
    const { out, selection, P } = await this.run([ids], [ids.map(() => true)], 'last', true, undefined, !!o.heads);
    const maps = Array.from({ length: this.model.config.numLayers }, (_, layer): AttentionMap => ({
      layer, map: out[idpIo.attn(layer)].data as Float32Array,
      ...(o.heads ? { heads: out[idpIo.heads(layer)].data as Float32Array } : {}),
    }));
    return { ...selection, maps, slots: P };
  }

  /**
   * Per sequence and per layer ℓ' (0 … L−1), the per-head prompt masses f [H·m] that a selection at ℓ' reads
   * (all tokens vote unless `vote`): the data calibration.ts fits a selection from. Every layer attends to
   * every prompt here (the graph's selection sits at the last layer), so layer ℓ''s features are exactly
   * those of a bank whose selection layer is ℓ'.
   */
  async features(seqs: number[][], vote?: number[]): Promise<Float32Array[][]> {
    if (seqs.length === 0 || seqs.some((s) => s.length === 0)) throw inputError('empty sequence: nothing to read');
    const T = Math.max(...seqs.map((s) => s.length));
    const { ids, real } = leftPad(seqs, T);
    const { out } = await this.run(ids, real, 'last', false, vote, false, true);
    const L = this.model.config.numLayers;
    const F = this.model.config.numHeads * this.bank.m;
    return seqs.map((_, b) => Array.from({ length: L }, (_, l) => (out[idpIo.features(l)].data as Float32Array).slice(b * F, (b + 1) * F)));
  }
}
