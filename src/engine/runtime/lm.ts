// A causal LM on ONNX Runtime: scoring (logits for every position) and generation (prefill + decode
// with the KV cache fed back as graph inputs), batched with left padding.

import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/config';
import { buildGraph } from '../models/graph';
import { buildDecodeLoop, loopIo } from '../models/decode-loop';
import { io, BuildOptions, linearKernelFor } from '../models/blocks';
import { createSession, SessionOptions } from './session';
import { KvState } from './kv-cache';
import { Rng, sample, SamplingOptions } from './sampling';
import { inputError } from '../errors';

export interface StepResult {
  logits: Float32Array;   // [B, T or 1, V]
  rows: number;           // positions per batch row in `logits` (T or 1)
}

export class CausalLM {
  private sessions = new Map<'all' | 'last', Promise<ort.InferenceSession>>();
  private loop?: Promise<ort.InferenceSession>;

  constructor(readonly model: LoadedModel, readonly options: SessionOptions & { graph?: Omit<BuildOptions, 'logits'> } = {}) {}

  get config() {
    return this.model.config;
  }

  session(mode: 'all' | 'last'): Promise<ort.InferenceSession> {
    let s = this.sessions.get(mode);
    if (!s) {
      // WebGPU has no kernel for ONNX Attention-23 (ORT would run it on the CPU, copying Q/K/V and
      // the cache across every layer): there the explicit MatMul/Softmax attention runs on the GPU
      const attention = this.options.ep === 'webgpu' ? 'explicit' as const : undefined;
      const bytes = buildGraph(this.model, { ...(attention && { attention }), ...this.options.graph, logits: mode }).toModelProto();
      s = createSession(bytes, this.model.weightsDir, this.options);
      this.sessions.set(mode, s);
      s.catch(() => this.sessions.delete(mode));
    }
    return s;
  }

  /**
   * Whether greedy decoding runs in chunks inside one ONNX Loop: on the CPU, without a sliding window,
   * and for small models only — there the JS/ORT boundary is most of a step, while a large model's step
   * is memory-bound and a second session would hold a second prepacked copy of the weights.
   */
  canDecodeInLoop(): boolean {
    return (this.options.ep ?? 'cpu') === 'cpu' && this.config.slidingWindow === undefined &&
      linearKernelFor(this.model, { logits: 'last', ...this.options.graph }) === 'matmul';
  }

  loopSession(): Promise<ort.InferenceSession> {
    if (!this.loop) {
      this.loop = createSession(buildDecodeLoop(this.model, this.options.graph), this.model.weightsDir, this.options);
      this.loop.catch(() => { this.loop = undefined; });
    }
    return this.loop;
  }

  /**
   * n greedy decode steps in one run, starting from the last token of each row: returns the n tokens
   * chosen per row ([n][B]) and leaves the n new slots in the cache.
   */
  async decodeGreedy(state: KvState, last: number[], n: number): Promise<number[][]> {
    const B = last.length;
    if (state.length + n > this.config.maxPositions) {
      throw inputError(`${state.length + n} positions exceed the model's context of ${this.config.maxPositions}`);
    }
    const session = await this.loopSession();
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
    for (let i = 0; i < this.config.numLayers; i++) {
      state.past[2 * i] = out[io.presentKey(i)] as ort.Tensor;
      state.past[2 * i + 1] = out[io.presentValue(i)] as ort.Tensor;
    }
    return out;
  }

  newState(batch: number): KvState {
    const c = this.config;
    return new KvState(batch, c.numLayers, c.numKvHeads, c.headDim, c.slidingWindow ?? Infinity);
  }

  /** One forward step over T new slots per row (ids [B][T], `real` marks non-padding). Updates `state`. */
  async step(state: KvState, ids: number[][], real: boolean[][], mode: 'all' | 'last'): Promise<StepResult> {
    const B = ids.length;
    const T = ids[0].length;
    const V = this.config.vocabSize;
    for (const row of ids) for (const id of row) {
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw inputError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
    }
    if (state.length + T > this.config.maxPositions) {
      throw inputError(`${state.length + T} positions exceed the model's context of ${this.config.maxPositions}`);
    }
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
export { Rng, sample };
