// Prefix tuning (Li & Liang): per layer, P trainable key and value vectors per kv head that every
// token attends to. The graph already takes a KV cache (past_key.i / past_value.i [B, K, P, D]), so a
// prefix is a trainable past: the tensors [K, P, D] are tiled over the batch as the past inputs, and
// their gradients are the past inputs' gradients summed over the batch. The text takes positions
// P, P+1, … (as HF does with a cache of length P). Keys are stored as the cache holds them: after
// rotary, i.e. used as they are.
//
// Init: 'vocab' — the model's own K/V of P randomly drawn tokens (a real activation, the init Li &
// Liang recommend); 'random' — N(0, 1) as PEFT's prefix encoder. PEFT PREFIX_TUNING import/export
// (no projection; token_dim = K·D, num_attention_heads = K — exactly PEFT's layout for models
// without grouped-query attention).

import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../models/config';
import { io } from '../../models/blocks';
import { CausalLM } from '../../runtime/lm';
import { formatError, inputError } from '../../errors';
import { Rng } from '../../rng';
import type { TensorSet } from '../tensors';
import { baseConfig, intField, readAdapter, writeAdapter } from '../peft';
import { MicroBatch, RowLayout, TrainMethod } from './method';
import type { TrainGraphOptions } from '../graph';

export type PrefixInit = 'vocab' | 'random';
const keyName = (i: number) => `prefix_key.${i}`;
const valueName = (i: number) => `prefix_value.${i}`;

export class Prefix implements TrainMethod {
  readonly kind = 'prefix' as const;
  readonly layout: RowLayout;

  /** params: prefix_key.i / prefix_value.i, each [K, P, D]. */
  constructor(readonly model: LoadedModel, readonly params: TensorSet, readonly n: number, readonly init: PrefixInit) {
    this.layout = { promptSlots: 0, pastLen: n, positionStart: 0 };
  }

  private static shape(m: LoadedModel, n: number): number[] {
    return [m.config.numKvHeads, n, m.config.headDim];
  }

  static async create(m: LoadedModel, o: { tokens: number; init?: PrefixInit; seed?: number }): Promise<Prefix> {
    const n = o.tokens;
    if (!(Number.isInteger(n) && n >= 1)) throw inputError(`--prompt-tokens must be a positive integer, got ${n}`);
    if (n >= m.config.maxPositions) throw inputError(`a ${n}-token prefix leaves no room in the model's context of ${m.config.maxPositions}`);
    const L = m.config.numLayers;
    const shape = Prefix.shape(m, n);
    const size = shape[0] * shape[1] * shape[2];
    const rng = Rng.for(o.seed ?? 0, 'prefix-init');
    const params: TensorSet = new Map();
    const init = o.init ?? 'vocab';
    if (init === 'vocab') {
      const lm = new CausalLM(m, { threads: 1 });
      const ids = Array.from({ length: n }, () => rng.int(m.config.vocabSize));
      const state = lm.newState(1);
      await lm.step(state, [ids], [ids.map(() => true)], 'last');
      for (let i = 0; i < L; i++) {
        params.set(keyName(i), { data: Float32Array.from(state.past[2 * i].data as Float32Array), shape });
        params.set(valueName(i), { data: Float32Array.from(state.past[2 * i + 1].data as Float32Array), shape });
      }
    } else {
      for (let i = 0; i < L; i++) {
        for (const name of [keyName(i), valueName(i)]) params.set(name, { data: Float32Array.from({ length: size }, () => rng.normal()), shape });
      }
    }
    return new Prefix(m, params, n, init);
  }

  /** Import a PEFT PREFIX_TUNING adapter (without prefix projection). */
  static load(m: LoadedModel, dir: string): Prefix {
    const a = readAdapter(dir, ['PREFIX_TUNING']);
    const c = m.config;
    const n = intField(a, 'num_virtual_tokens');
    if (a.config.prefix_projection === true) throw formatError(a.configFile, 'prefix_projection adapters are not supported (export the projected prefix instead)');
    const L = intField(a, 'num_layers');
    const td = intField(a, 'token_dim');
    const K = c.numKvHeads;
    const D = c.headDim;
    if (L !== c.numLayers || td !== K * D) throw formatError(a.configFile, `made for ${L} layers of width ${td}; this model has ${c.numLayers} layers of K·D = ${K * D}`);
    const t = a.tensors.get('prompt_embeddings');
    if (!t || t.shape.length !== 2 || t.shape[0] !== n || t.shape[1] !== 2 * L * td) {
      throw formatError(a.weightsFile, `'prompt_embeddings' must have shape [${n}, ${2 * L * td}]`);
    }
    const params: TensorSet = new Map();
    for (let l = 0; l < L; l++) {
      for (const s of [0, 1]) {
        const data = new Float32Array(K * n * D);
        for (let tk = 0; tk < n; tk++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) {
          data[(k * n + tk) * D + d] = t.data[tk * 2 * L * td + ((2 * l + s) * K + k) * D + d];
        }
        params.set(s ? valueName(l) : keyName(l), { data, shape: [K, n, D] });
      }
    }
    return new Prefix(m, params, n, 'random');
  }

  graphOptions(): TrainGraphOptions {
    return { past: true };
  }

  feeds(mb: MicroBatch): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    const [K, P, D] = Prefix.shape(this.model, this.n);
    for (let i = 0; i < this.model.config.numLayers; i++) {
      for (const [param, input] of [[keyName(i), io.pastKey(i)], [valueName(i), io.pastValue(i)]]) {
        const p = this.params.get(param)!.data;
        const tiled = new Float32Array(mb.B * p.length);
        for (let b = 0; b < mb.B; b++) tiled.set(p, b * p.length);
        out[input] = new ort.Tensor('float32', tiled, [mb.B, K, P, D]);
      }
    }
    return out;
  }

  accumulate(out: ort.InferenceSession.OnnxValueMapType, grads: TensorSet): void {
    for (let i = 0; i < this.model.config.numLayers; i++) {
      for (const [param, input] of [[keyName(i), io.pastKey(i)], [valueName(i), io.pastValue(i)]]) {
        const acc = grads.get(param)!.data;
        const g = out[`grad.${input}`].data as Float32Array;   // [B, K, P, D]: sum over the batch
        for (let j = 0; j < g.length; j++) acc[j % acc.length] += g[j];
      }
    }
  }

  decays(): boolean {
    return true;
  }

  describe(): Record<string, unknown> {
    return { method: 'prefix', tokens: this.n, init: this.init };
  }

  export(dir: string): void {
    const c = this.model.config;
    const L = c.numLayers;
    const K = c.numKvHeads;
    const D = c.headDim;
    const n = this.n;
    const td = K * D;
    const emb = new Float32Array(n * 2 * L * td);
    for (let l = 0; l < L; l++) for (const s of [0, 1]) {
      const p = this.params.get(s ? valueName(l) : keyName(l))!.data;
      for (let tk = 0; tk < n; tk++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) {
        emb[tk * 2 * L * td + ((2 * l + s) * K + k) * D + d] = p[(k * n + tk) * D + d];
      }
    }
    writeAdapter(dir, {
      ...baseConfig('PREFIX_TUNING', this.model),
      num_virtual_tokens: n, token_dim: td, num_transformer_submodules: 1, num_attention_heads: K, num_layers: L,
      encoder_hidden_size: td, prefix_projection: false,
    }, new Map([['prompt_embeddings', { data: emb, shape: [n, 2 * L * td] }]]));
  }
}
