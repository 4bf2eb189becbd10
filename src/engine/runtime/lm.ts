// A causal LM on ONNX Runtime: scoring (logits for every position) and generation (prefill + decode
// with the KV cache fed back as graph inputs), batched with left padding.

import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/config';
import { buildGraph } from '../models/graph';
import { buildDecodeLoop, loopIo } from '../models/decode-loop';
import { io, BuildOptions, linearKernelFor } from '../models/blocks';
import { withTransposedWeights } from '../models/transposed';
import { attentionFor, createSession, releaseSessions, SessionOptions } from './session';
import { KvState } from './kv-cache';
import { capacityFor } from './kv-capacity';
import { cacheIo } from '../models/cache-attention';
import { droppedOutputs } from './reclaim';
import { deviceKvOutputs, disposeReplaced, hostBytes } from './device-kv';
import { sample, SamplingOptions } from './sampling';
import { SamplingRng } from '../rng';
import { inputError } from '../errors';

export interface StepResult {
  logits: Float32Array;   // [B, T or 1, V]
  rows: number;           // positions per batch row in `logits` (T or 1)
}

/** Positions per prefill run (CausalLM.prefill). */
export const PREFILL_CHUNK = 128;

export class CausalLM {
  private sessions = new Map<'all' | 'last' | 'capacity', Promise<ort.InferenceSession>>();
  private loop?: Promise<ort.InferenceSession>;

  constructor(readonly model: LoadedModel, readonly options: SessionOptions & {
    graph?: Omit<BuildOptions, 'logits' | 'kvCache'>;
    prefillChunk?: number;
    /** Decode steps over the cache in place ('capacity') or by concatenation; default: kvInPlace(). */
    kvCache?: 'concat' | 'capacity';
    /** Slots the in-place cache grows by (runtime/kv-capacity.ts KV_GROW). */
    kvGrow?: number;
    /**
     * WebGPU: keep the KV cache in GPU memory between prefill and decode runs ('last' sessions; runtime/device-kv.ts)
     * instead of copying it up and down every run. Off by default until measured on a GPU (docs/gpu.md).
     */
    deviceKv?: boolean;
  } = {}) {}

  get config() {
    return this.model.config;
  }

  /** Frees every session now (a later call builds them again). */
  async release(): Promise<void> {
    const all = [...this.sessions.values(), this.loop];
    this.sessions.clear();
    this.loop = undefined;
    await releaseSessions(all);
  }

  private runModel?: LoadedModel;
  /**
   * The model the sessions are built from: with the 'gemm' linear kernel (large models), plus the cached
   * [in, out] copies of its linear weights (models/transposed.ts). If the cache cannot be written (read-only
   * or full disk) the graphs fall back to Gemm on the weights as stored.
   */
  graphModel(): LoadedModel {
    if (!this.runModel) {
      const gemm = linearKernelFor(this.model, { logits: 'last', ...this.options.graph }) === 'gemm';
      try {
        this.runModel = gemm ? withTransposedWeights(this.model) : this.model;
      } catch (e) {
        if (!/^E(ACCES|PERM|ROFS|NOSPC|DQUOT)$/.test((e as NodeJS.ErrnoException).code ?? '')) throw e;
        this.runModel = this.model;
      }
    }
    return this.runModel;
  }

  /**
   * Whether 'last'-logits steps (prefill chunks and decode steps) read the KV cache in place
   * (models/cache-attention.ts, runtime/kv-capacity.ts) instead of passing it through the graph: by default
   * for large models on the CPU, where a decode step copies the whole cache twice otherwise (Attention's
   * concatenation, then onnxruntime-node's output copy). One graph serves prefill and decode, so the weights
   * are prepacked once. Small models keep the single fused Attention node: there the per-node cost of the
   * in-place path's ~20 nodes per layer outweighs copying a small cache.
   */
  kvInPlace(): boolean {
    if (this.inPlace === undefined) {
      const g = this.options.graph;
      this.inPlace = this.options.kvCache ? this.options.kvCache === 'capacity'
        : (this.options.ep ?? 'cpu') === 'cpu' && !g?.hooks?.attention && (g?.attention ?? 'fused') === 'fused' &&
          linearKernelFor(this.model, { logits: 'last', ...g }) === 'gemm';
    }
    return this.inPlace;   // asked every step: decided once (linearKernelFor counts the parameters)
  }

  private inPlace?: boolean;

  /** Whether 'last' runs keep the cache in GPU memory (options.deviceKv, WebGPU only; never with the in-place cache). */
  deviceKv(): boolean {
    return !!this.options.deviceKv && this.options.ep === 'webgpu' && !this.kvInPlace();
  }

  session(mode: 'all' | 'last' | 'capacity'): Promise<ort.InferenceSession> {
    let s = this.sessions.get(mode);
    if (!s) {
      const m = this.graphModel();
      const graph = { attention: attentionFor(this.options.ep), ...this.options.graph };
      const bytes = (mode === 'capacity' ? buildGraph(m, { ...graph, logits: 'last', kvCache: 'capacity' }) : buildGraph(m, { ...graph, logits: mode })).toModelProto();
      const onDevice = mode === 'last' && this.deviceKv() ? { outputsOnDevice: deviceKvOutputs(this.config.numLayers) } : {};
      s = createSession(bytes, m.weightsDir, { ...this.options, ...onDevice });
      if (mode === 'capacity') s = s.then(async (session) => { await this.planCapacity(session); return session; });
      this.sessions.set(mode, s);
      s.catch(() => this.sessions.delete(mode));
    }
    return s;
  }

  /**
   * Whether greedy decoding runs in chunks inside one ONNX Loop: on the CPU, without a sliding window,
   * and for small models only — there the JS/ORT boundary is most of a step. Large models decode step
   * by step: ORT 1.30 keeps the
   * mapped originals of weights prepacked inside a Loop body resident beside the packed copies, and
   * with the weights as outer-scope initializers it releases them only after every copy is packed
   * (a 100M model peaked at 1.8 × its weights while the session was created; docs/engine.md).
   */
  canDecodeInLoop(): boolean {
    return (this.options.ep ?? 'cpu') === 'cpu' && this.config.slidingWindow === undefined &&
      linearKernelFor(this.model, { logits: 'last', ...this.options.graph }) === 'matmul';
  }

  loopSession(): Promise<ort.InferenceSession> {
    if (!this.loop) {
      const m = this.graphModel();
      this.loop = createSession(buildDecodeLoop(m, this.options.graph), m.weightsDir, this.options)
        .then(async (s) => { await this.planLoop(s); return s; });
      this.loop.catch(() => { this.loop = undefined; });
    }
    return this.loop;
  }

  /**
   * Greedy decoding over the first cache lengths once, at load. The Loop body sees a new cache length
   * every step, and ORT plans memory (and grows its arena) on the first run of each set of input shapes
   * in a session: on stories260K the first 256 tokens of a session took a median 163 µs of CPU each,
   * later ones ~122 µs. Planning them here (≤ PLAN_SLOTS slots, ≤ PLAN_CPU_MS of CPU; stories260K:
   * 512 slots, ~60–150 ms) makes the first request run at the later speed (median 129 µs, 5 runs each).
   */
  private async planLoop(session: ort.InferenceSession): Promise<void> {
    const PLAN_SLOTS = 1024, PLAN_CPU_MS = 300, CHUNK = 64;
    const slots = Math.min(this.config.maxPositions, PLAN_SLOTS);
    const state = this.newState(1);
    const cpu0 = process.cpuUsage();
    const cpuMs = () => { const c = process.cpuUsage(cpu0); return (c.user + c.system) / 1000; };
    let last = [0];
    while (state.length + CHUNK <= slots && cpuMs() < PLAN_CPU_MS) {
      const out = await this.greedyRun(state, last, CHUNK, session);
      last = out[CHUNK - 1];
    }
  }

  /**
   * One decode step (B = 1) at each of the first capacities the in-place cache grows through, once, at load.
   * ORT plans memory and grows its arena on the first run of each set of input shapes, and a decode over the
   * in-place cache meets a new one every KV_GROW slots: on the 4-bit 100M bench model a fresh process's first
   * 128-token generation ran at a mean 296 tok/s without this, 308 with it (9 alternating pairs, ±10 % each).
   * Up to PLAN_SLOTS slots — what a short generation reaches; planning further grew ORT's arena and the peak
   * RSS by ~100 MiB on that model — and ≤ PLAN_CPU_MS of CPU, through one cache that grows in place.
   */
  private async planCapacity(session: ort.InferenceSession): Promise<void> {
    const PLAN_SLOTS = 256, PLAN_CPU_MS = 300;
    const max = this.config.maxPositions;
    const slots = Math.min(max, PLAN_SLOTS);
    const cpu0 = process.cpuUsage();
    const cpuMs = () => { const c = process.cpuUsage(cpu0); return (c.user + c.system) / 1000; };
    const state = this.newState(1);
    state.expectedSlots = slots;
    for (let C = capacityFor(1, max, this.options.kvGrow); C <= slots && cpuMs() < PLAN_CPU_MS; C = capacityFor(C + 1, max, this.options.kvGrow)) {
      state.capacityFor(C, max, this.options.kvGrow);   // C slots, one more filled per step: the bias hides the rest
      await this.stepInPlace(state, [[0]], [[true]], cacheIo.nextToken, session);
    }
  }

  /**
   * n greedy decode steps in one run, starting from the last token of each row: returns the n tokens
   * chosen per row ([n][B]) and leaves the n new slots in the cache.
   */
  async decodeGreedy(state: KvState, last: number[], n: number): Promise<number[][]> {
    return this.greedyRun(state, last, n, await this.loopSession());
  }

  private async greedyRun(state: KvState, last: number[], n: number, session: ort.InferenceSession): Promise<number[][]> {
    const B = last.length;
    if (state.length + n > this.config.maxPositions) {
      throw inputError(`${state.length + n} positions exceed the model's context of ${this.config.maxPositions}`);
    }
    this.checkIds([last]);
    const { positions, bias, S } = state.append(last.map(() => [true]));
    state.advance(n - 1);
    const out = await this.runWithCache(session, state, {
      [loopIo.steps]: new ort.Tensor('int64', BigInt64Array.of(BigInt(n)), []),
      [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(last, (x) => BigInt(x)), [B, 1]),
      [io.positionIds]: new ort.Tensor('int64', positions, [B, 1]),
      [io.attnBias]: new ort.Tensor('float32', bias, [B, 1, 1, S]),
    });
    const toks = out[loopIo.tokens].data as BigInt64Array;   // [n, B, 1]
    return Array.from({ length: n }, (_, j) => Array.from({ length: B }, (_, b) => Number(toks[j * B + b])));
  }

  /** Run with the cache as past_* inputs; the present_* outputs become the state's cache. */
  private async runWithCache(session: ort.InferenceSession, state: KvState, feeds: Record<string, ort.Tensor>) {
    for (let i = 0; i < this.config.numLayers; i++) {
      feeds[io.pastKey(i)] = state.past[2 * i];
      feeds[io.pastValue(i)] = state.past[2 * i + 1];
    }
    const out = await session.run(feeds);
    let dropped = 0;
    const replaced = state.past.slice();
    for (let i = 0; i < this.config.numLayers; i++) {
      dropped += hostBytes(state.past[2 * i]) + hostBytes(state.past[2 * i + 1]);
      state.past[2 * i] = out[io.presentKey(i)] as ort.Tensor;
      state.past[2 * i + 1] = out[io.presentValue(i)] as ort.Tensor;
    }
    disposeReplaced(replaced);   // a cache in GPU memory (deviceKv): the run made a new one
    const logits = out[io.logits]?.data as Float32Array | undefined;   // dropped by the caller soon after
    droppedOutputs(dropped + (logits?.byteLength ?? 0));   // runtime/reclaim.ts
    return out;
  }

  newState(batch: number): KvState {
    const c = this.config;
    return new KvState(batch, c.numLayers, c.numKvHeads, c.headDim, c.slidingWindow ?? Infinity);
  }

  private checkIds(ids: number[][]): void {
    const V = this.config.vocabSize;
    for (const row of ids) for (const id of row) {
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw inputError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
    }
  }

  /** Ids [B][T] inside the vocabulary, and room for T more positions in the context. */
  private checkStep(state: KvState, ids: number[][]): void {
    const T = ids[0].length;
    this.checkIds(ids);
    if (state.length + T > this.config.maxPositions) {
      throw inputError(`${state.length + T} positions exceed the model's context of ${this.config.maxPositions}`);
    }
  }

  /** One forward step over T new slots per row (ids [B][T], `real` marks non-padding). Updates `state`. */
  async step(state: KvState, ids: number[][], real: boolean[][], mode: 'all' | 'last'): Promise<StepResult> {
    const B = ids.length;
    const T = ids[0].length;
    this.checkStep(state, ids);
    if (mode === 'last' && this.kvInPlace()) return { logits: (await this.stepInPlace(state, ids, real, io.logits)).data as Float32Array, rows: 1 };
    const session = await this.session(mode);
    const { positions, bias, S } = state.append(real);
    const out = await this.runWithCache(session, state, {
      [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids.flat(), (x) => BigInt(x)), [B, T]),
      [io.positionIds]: new ort.Tensor('int64', positions, [B, T]),
      [io.attnBias]: new ort.Tensor('float32', bias, [B, 1, T, S]),
    });
    return { logits: out[io.logits].data as Float32Array, rows: mode === 'all' ? T : 1 };
  }

  /**
   * One greedy decode step (ids [B][1], `real` marks rows still running): the argmax of each row's logits,
   * taken in the graph, so the logits never cross into JS. Undefined where decode steps do not run over
   * the cache in place (then step() and the JS sampler).
   */
  async stepGreedy(state: KvState, ids: number[][], real: boolean[][]): Promise<number[] | undefined> {
    if (!this.kvInPlace()) return undefined;
    this.checkStep(state, ids);
    const next = (await this.stepInPlace(state, ids, real, cacheIo.nextToken)).data as BigInt64Array;   // [B, 1, 1]
    return Array.from(next, Number);
  }

  /**
   * T new slots per row over the cache in place: only the new tokens' K/V come back (new_kv), into slots
   * P..P+T−1, with `fetch`: the logits [B, 1, V] or the greedy next token [B, 1, 1]. `session`: the capacity
   * session itself while planCapacity runs inside its creation (this.session('capacity') awaits that).
   */
  private async stepInPlace(state: KvState, ids: number[][], real: boolean[][], fetch: string, session?: ort.InferenceSession): Promise<ort.Tensor> {
    session ??= await this.session('capacity');
    const B = ids.length;
    const T = ids[0].length;
    // The run reads the C slots there are (P filled, the rest hidden); room for the T new ones is made after
    // it, so a prefill chunk attends over no empty slots (C = 0 for the first, then exactly P).
    const P = state.length;
    const cap = state.capacityFor(P, this.config.maxPositions, this.options.kvGrow);
    const { positions, bias, S } = state.append(real, cap.capacity);
    const feeds: Record<string, ort.Tensor> = {
      [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids.flat(), (x) => BigInt(x)), [B, T]),
      [io.positionIds]: new ort.Tensor('int64', positions, [B, T]),
      [io.attnBias]: new ort.Tensor('float32', bias, [B, 1, T, S]),
    };
    for (let l = 0; l < this.config.numLayers; l++) [feeds[cacheIo.cacheKey(l)], feeds[cacheIo.cacheValue(l)]] = cap.tensors(l);
    const out = await session.run(feeds, [cacheIo.newKv, fetch]);
    cap.ensure(P + T);
    const kv = out[cacheIo.newKv].data as Float32Array;                                   // [B, T, 2·L·K·D]
    cap.writeAll(kv, T);
    cap.advance(T);
    const result = out[fetch] as ort.Tensor;   // dropped by the caller soon after
    droppedOutputs(kv.byteLength + (result.data as ArrayBufferView).byteLength);          // runtime/reclaim.ts
    return result;
  }

  /**
   * The prompt rows ids [B][T] run into `state` in chunks of ≤ `prefillChunk` (PREFILL_CHUNK) positions; returns the logits of
   * each row's last position [B, V]. One run over a long prompt holds activations for all of it at once
   * (attention scores alone are heads · T² floats: 46 MiB at T = 1000 on the 100M bench model, and ORT's
   * arena keeps its high-water mark), so long prompts go through in pieces, as llama.cpp's micro-batches.
   */
  async prefill(state: KvState, ids: number[][], real: boolean[][]): Promise<StepResult> {
    const T = ids[0].length;
    const chunk = this.options.prefillChunk ?? PREFILL_CHUNK;
    // In place: room for the whole prompt at once. Growing chunk by chunk copied the cache each time and
    // left glibc's heap fragmented (+100 MiB resident after a 1000-token prompt); the later chunks' reads of
    // not yet filled slots cost ~1 % of a chunk's FLOPs.
    if (T > chunk && this.kvInPlace()) state.capacityFor(state.length + T, this.config.maxPositions, this.options.kvGrow);
    let r: StepResult | undefined;
    for (let t0 = 0; t0 < T; t0 += chunk) {
      const t1 = Math.min(T, t0 + chunk);
      r = await this.step(state, ids.map((row) => row.slice(t0, t1)), real.map((row) => row.slice(t0, t1)), 'last');
    }
    return r!;
  }

  /**
   * Logits for every position of each sequence (no cache kept). Sequences may differ in length:
   * they are left-padded into one batch. Returns one Float32Array [len_i, V] per sequence.
   */
  async logits(seqs: number[][]): Promise<Float32Array[]> {
    if (seqs.length === 0 || seqs.some((s) => s.length === 0)) throw inputError('empty sequence: nothing to score');
    const T = Math.max(...seqs.map((s) => s.length));
    const V = this.config.vocabSize;
    const { ids, real } = leftPad(seqs, T);
    const r = await this.step(this.newState(seqs.length), ids, real, 'all');
    return seqs.map((s, b) => r.logits.slice((b * T + T - s.length) * V, (b + 1) * T * V));
  }
}

export function leftPad(seqs: number[][], T: number, padId = 0): { ids: number[][]; real: boolean[][] } {
  return {
    ids: seqs.map((s) => [...new Array(T - s.length).fill(padId), ...s]),
    real: seqs.map((s) => [...new Array(T - s.length).fill(false), ...s.map(() => true)]),
  };
}

export type { SamplingOptions };
export { SamplingRng, sample };
