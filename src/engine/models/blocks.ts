// Building blocks shared by the architecture files: the graph I/O contract, weight access,
// norms, the explicit attention subgraph with KV cache, and rotary tables.
//
// Shapes: B batch, T new tokens, P cached tokens, S = P + T, d hidden, H query heads,
// K kv heads, G = H / K, D head dim. The residual stream is [B, T, d] throughout.

import { GraphBuilder, Value } from '../onnx/builder';
import { LoadedModel, parameterCount, QuantizedModuleRef } from './config';
import { formatError } from '../errors';
import { fusedQuantizedLinears, quantizedLinear, quantizedRows, quantizedTable, quantizedTableOf } from './quant-linear';
import { HEAD_MODULE } from './quant/modules';
import { cacheIo, capacityAttention, declareCacheInputs, declareNewKv } from './cache-attention';
import type { RopeScaling } from './config';

export const MASK_MIN = -1e9; // additive mask value for hidden keys (finite: a row with no visible key stays finite)

/** Names of graph inputs and outputs every architecture uses. */
export const io = {
  inputIds: 'input_ids',          // int64 [B, T]
  positionIds: 'position_ids',    // int64 [B, T]
  attnBias: 'attn_bias',          // float [B, 1, T, S]   0 = visible, MASK_MIN = hidden
  pastKey: (i: number) => `past_key.${i}`,         // float [B, K, P, D]
  pastValue: (i: number) => `past_value.${i}`,     // float [B, K, P, D]
  presentKey: (i: number) => `present_key.${i}`,   // float [B, K, S, D]
  presentValue: (i: number) => `present_value.${i}`,
  logits: 'logits',               // float [B, T, V] ('all') or [B, 1, V] ('last')
};

export interface BuildOptions {
  /** 'all': logits for every position (scoring); 'last': only the last position (generation). */
  logits: 'all' | 'last';
  /** Residual Add + RMSNorm as one SkipSimplifiedLayerNormalization node (default: fused attention, no hooks). */
  fuseNorms?: boolean;
  /** Linear-layer kernel; default by model size (see linearKernelFor). */
  linear?: LinearKernel;
  /** GPTQ models: run quantized layers as fp32 MatMul against their dequantized weights. */
  dequantize?: boolean;
  /** GPTQ models: MatMulNBits accuracy_level (default 4; 0 is fp32-exact). */
  quantAccuracyLevel?: number;
  /** 'fused' (default): one Attention node per layer; 'explicit': primitive ops (autodiff, inspection). */
  attention?: 'fused' | 'explicit';
  /** Where trainable adapters enter the graph (src/engine/train: soft prompts, LoRA). */
  hooks?: BuildHooks;
  /**
   * 'concat' (default): past_key/value in, present out. 'capacity': a preallocated cache read in place,
   * only the new tokens' K/V out (models/cache-attention.ts; generation with large models).
   */
  kvCache?: 'concat' | 'capacity';
}

/** Adapter hooks; each gets the builder in the scope of the layer it adapts. */
export interface BuildHooks {
  /** Token embeddings [B, T, e] → [B, T, e], before positions are added (soft prompts replace leading rows). */
  tokenEmbeds?: (g: GraphBuilder, x: Value) => Value;
  /** A linear layer's output y [B, T, out] for input x [B, T, in] → the adapted output (LoRA adds s·x·Aᵀ·Bᵀ). */
  linear?: (g: GraphBuilder, x: Value, y: Value, module: string) => Value;
  /** Per-layer attention (IDP: prompt selection and masking; inspection). See AttentionHooks. */
  attention?: AttentionHooks;
}

/**
 * Per-layer changes to attention, in the `/…/layers.i/attn` scope. `explicit(i)` true: layer i takes the
 * explicit path even in a 'fused' graph (so `probs` can see it). `past(g, i)`: the cached keys and values
 * [B, K, P', D] layer i uses instead of past_key.i / past_value.i (IDP keeps only the selected prompt's).
 * `bias(g, i, bias)`: the additive bias [B, 1, T, P' + T] layer i uses instead of attn_bias.
 * `probs(g, i, probs, scores)`: explicit path only — sees the probabilities [B, K, G, T, S] and the masked
 * scores they came from, returns the probabilities that weight V.
 */
export interface AttentionHooks {
  explicit?: (layer: number) => boolean;
  past?: (g: GraphBuilder, layer: number) => [Value, Value] | undefined;
  bias?: (g: GraphBuilder, layer: number, bias: Value) => Value;
  probs?: (g: GraphBuilder, layer: number, probs: Value, scores: Value) => Value;
}

export interface GraphInputs {
  ids: Value;          // [B, T]
  positions: Value;    // [B, T]
  bias: Value;         // [B, 1, T, S] — attn_bias
  bias5: Value;        // [B, 1, 1, T, S] — attn_bias with a group axis for GQA broadcasting
  shapeBT: Value;      // int64 [2] = [B, T]
  shapes: Map<string, Value>;  // shape tensors [B, T, ...] built so far
  windows: Map<number, Value>; // attn_bias narrowed to a sliding window, per window (windowBias)
  attention: 'fused' | 'explicit';
  kvCache: 'concat' | 'capacity';
  hooks?: BuildHooks;
}

/** Declare the common graph inputs and the per-layer cache inputs. */
export function declareInputs(g: GraphBuilder, layers: number, kvHeads: number, headDim: number,
  opts: BuildOptions = { logits: 'all' }): GraphInputs {
  const ids = g.input(io.inputIds, 'int64', ['batch', 'seq']);
  const positions = g.input(io.positionIds, 'int64', ['batch', 'seq']);
  const kvCache = opts.kvCache ?? 'concat';
  const bias = g.input(io.attnBias, 'float', ['batch', 1, 'seq', 'total']);   // capacity: total = C + T
  if (kvCache === 'capacity') declareCacheInputs(g, layers, kvHeads, headDim);
  else {
    for (let i = 0; i < layers; i++) {
      g.input(io.pastKey(i), 'float', ['batch', kvHeads, 'past', headDim]);
      g.input(io.pastValue(i), 'float', ['batch', kvHeads, 'past', headDim]);
    }
  }
  // bias5 and shapeBT are built on first use: a node nobody reads still runs in every decode step.
  let bias5: Value | undefined, shapeBT: Value | undefined;
  return {
    ids, positions, bias, shapes: new Map(), windows: new Map(), attention: opts.attention ?? 'fused', kvCache, hooks: opts.hooks,
    get bias5() { return (bias5 ??= g.unsqueeze(bias, [2])); },
    get shapeBT() { return (shapeBT ??= g.op('Shape', [ids], {}, 'shape_bt')); },
  };
}

/**
 * How linear layers run. 'matmul': MatMul against the transposed weight (ORT folds the Transpose at
 * load) on the 3-D stream — fewest nodes, for small models whose decode time is per-node overhead.
 * 'gemm' (large models, whose decode time is memory bandwidth and whose resident memory must stay ≈ the
 * weights): MatMul against the cached [in, out] copy when the model has one (LoadedModel.transposed,
 * models/transposed.ts; CausalLM adds it), else Gemm(transB = 1) on the weight as stored; prepacked once.
 */
export type LinearKernel = 'matmul' | 'gemm';
const GEMM_ABOVE_PARAMS = 20e6;

export function linearKernelFor(m: LoadedModel, opts: BuildOptions): LinearKernel {
  return opts.linear ?? (parameterCount(m) > GEMM_ABOVE_PARAMS ? 'gemm' : 'matmul');
}

/** Weight accessor for one model: float32 view of an HF tensor (F16/BF16 are cast, folded by ORT at load). */
export function weights(g: GraphBuilder, m: LoadedModel, inputs: GraphInputs, kernel: LinearKernel) {
  const get = (name: string): Value => {
    const table = m.quant?.tables?.[name];               // the token embedding served by a quantized matrix
    if (table) {
      const q = m.quant!.modules.get(table)!;
      return q.kernel === 'dequant' ? g.weight(q.dequantized!) : quantizedTable(g, name, q);
    }
    const ref = m.weights.get(name);
    if (!ref) throw formatError(m.source, `missing tensor '${name}'`);
    const v = g.weight(ref);
    return ref.dtype === 'F32' ? v : g.scope(name, () => g.cast(v, 'float'));
  };
  const maybe = (name: string): Value | undefined => (m.weights.has(name) ? get(name) : undefined);
  /** [in, out] features of a linear module from its weight's shape. */
  const features = (module: string, layout: 'linear' | 'conv1d'): [number, number] => {
    const shape = m.weights.get(`${module}.weight`)?.shape;
    if (!shape) throw formatError(m.source, `missing tensor '${module}.weight'`);
    return layout === 'linear' ? [shape[1], shape[0]] : [shape[0], shape[1]];
  };
  /**
   * A linear layer by its HF module path, e.g. `model.layers.0.self_attn.q_proj`: x [B, T, in] → [B, T, out].
   * `nn.Linear` weights are [out, in]; GPT-2's Conv1D weights are [in, out].
   * Every architecture goes through here, so weight formats (quantized) and adapters (LoRA) hook in once.
   */
  const baseLinear = (x: Value, module: string, layout: 'linear' | 'conv1d' = 'linear'): Value =>
    g.scope(module.split('.').pop()!, () => {
      const q = m.quant?.modules.get(module);
      if (q) return quantizedLinear(g, x, q, maybe(`${module}.bias`), m.quant!.accuracyLevel);   // GPTQ: MatMulNBits
      const b = maybe(`${module}.bias`);
      const wt = kernel === 'gemm' && layout === 'linear' ? m.transposed?.get(`${module}.weight`)?.[0] : undefined;
      if (wt) {
        const y = g.matmul(x, g.weight(wt));                                                      // [B, T, out], Wᵀ cached [in, out]
        return b ? g.add(y, b, 'bias') : y;
      }
      const w = get(`${module}.weight`);
      if (kernel === 'matmul') {
        const y = g.matmul(x, layout === 'linear' ? g.transpose(w, [1, 0], 'weight_T') : w);
        return b ? g.add(y, b, 'bias') : y;
      }
      const [inF, outF] = features(module, layout);
      const x2 = g.reshape(x, [-1, inF], 'flat');
      const y2 = g.op('Gemm', b ? [x2, w, b] : [x2, w], layout === 'linear' ? { transB: 1 } : {});
      return g.op('Reshape', [y2, shapeBTx(g, inputs, outF)], {}, 'unflat');
    });
  /** baseLinear() followed by the adapter hook (LoRA), if any. */
  const linear = (x: Value, module: string, layout: 'linear' | 'conv1d' = 'linear'): Value => {
    const y = baseLinear(x, module, layout);
    const hook = inputs.hooks?.linear;
    return hook ? g.scope(module.split('.').pop()!, () => hook(g, x, y, module)) : y;
  };
  /**
   * Several linear layers reading the same input (q/k/v, gate/up). With the 'matmul' kernel they run as
   * one MatMul against the concatenated transposed weights (folded by ORT at load) and a Split: fewer,
   * larger kernels per decode step. Otherwise, and whenever a module is not a plain float weight, each
   * goes through linear().
   */
  const linears = (x: Value, modules: string[]): Value[] => {
    const qs = modules.map((mod) => m.quant?.modules.get(mod));
    if (qs.every((q) => q) && !inputs.hooks?.linear && modules.every((mod) => !m.weights.has(`${mod}.bias`))) {
      const fused = g.scope(modules.map((mod) => mod.split('.').pop()).join('+'), () => fusedQuantizedLinears(g, x, qs as QuantizedModuleRef[], m.quant!.accuracyLevel));
      if (fused) return fused;                                                                  // one MatMulNBits + Split
    }
    const plain = modules.every((mod) => m.weights.has(`${mod}.weight`) && m.weights.get(`${mod}.weight`)!.shape.length === 2);
    if (kernel !== 'matmul' || !plain || inputs.hooks?.linear) return modules.map((mod) => linear(x, mod));
    const name = modules.map((mod) => mod.split('.').pop()).join('+');
    return g.scope(name, () => {
      const wt = g.concat(modules.map((mod) => g.transpose(get(`${mod}.weight`), [1, 0], 'weight_T')), 1, 'weights');
      let y = g.matmul(x, wt);                                                                  // [B, T, Σ out]
      const outs = modules.map((mod) => m.weights.get(`${mod}.weight`)!.shape[0]);
      const biases = modules.map((mod) => maybe(`${mod}.bias`));
      if (biases.some((b) => b)) {
        const parts = biases.map((b, i) => b ?? g.constant('float', [outs[i]], new Float32Array(outs[i]), 'zero_bias'));
        y = g.add(y, g.concat(parts, 0, 'biases'), 'bias');
      }
      return g.node('Split', [y, g.ints(outs)], { axis: -1 }, { outputs: modules.length });
    });
  };
  /**
   * The output projection onto the vocabulary, named `logits`: h [B, T', d] → [B, T', V] against an
   * [V, d] matrix (lm_head or the tied embedding). With 'gemm': h · Eᵀ against the cached transposed
   * column blocks when the model has them (faster: at N = 1, E · hᵀ runs MLAS's 16-column tiles for
   * one column), else E · hᵀ, so E streams from the memory map unpacked.
   */
  const lmHead = (h: Value, name: string, d: number, vocab: number, softcap?: number): void => g.scope('lm_head', () => {
    // softcap (Gemma 2's final_logit_softcapping): logits = cap · tanh(h·Eᵀ / cap)
    const names = softcap ? undefined : [io.logits];
    let logits: Value;                                                                            // [B, T', V]
    const q = m.quant?.modules.get(HEAD_MODULE);                                                // quantized head: MatMulNBits
    const blocks = m.transposed?.get(name);                                                      // [d, ≤ 4096] each
    if (q) {
      logits = quantizedLinear(g, h, q, undefined, m.quant!.accuracyLevel, names);
    } else if (blocks) {
      if (blocks.length === 1) [logits] = g.node('MatMul', [h, g.weight(blocks[0])], {}, { names });
      else [logits] = g.node('Concat', blocks.map((b, i) => g.matmul(h, g.weight(b), `E_T.${i}`)), { axis: -1 }, { names });
    } else {
      const e = get(name);
      if (kernel === 'matmul') {
        [logits] = g.node('MatMul', [h, g.transpose(e, [1, 0], 'weight_T')], {}, { names });
      } else {
        const ht = g.transpose(g.reshape(h, [-1, d], 'flat'), [1, 0], 'h_T');                     // [d, N]
        const lt = g.matmul(e, ht, 'E_hT');                                                         // [V, N]
        const shape = g.concat([g.op('Shape', [h], { end: 2 }, 'shape_bt'), g.ints([vocab])], 0, 'shape');
        [logits] = g.node('Reshape', [g.transpose(lt, [1, 0], 'logits_T'), shape], {}, { names });
      }
    }
    if (softcap) {
      const t = g.tanh(g.mul(logits, g.scalar(1 / softcap), 'softcap/scale'));
      g.node('Mul', [t, g.scalar(softcap)], {}, { leaf: 'softcap/Mul', names: [io.logits] });
    }
  });
  return { get, maybe, linear, linears, lmHead };
}

/**
 * RMSNorm over the last axis. `fast` (inference graphs): ORT's SimplifiedLayerNormalization kernel, about
 * half the time per call of its ONNX RMSNormalization-23 kernel on small widths (~8 vs ~17 µs, profiled on
 * stories260K); RMSNormalization elsewhere, which has a VJP.
 */
export function rmsNorm(g: GraphBuilder, x: Value, w: Value, eps: number, fast = false): Value {
  if (fast) return g.node('SimplifiedLayerNormalization', [x, w], { axis: -1, epsilon: { float: eps } }, { leaf: 'SimplifiedLayerNormalization' })[0];
  return g.op('RMSNormalization', [x, w], { axis: -1, epsilon: { float: eps } });
}

/**
 * norm(x + delta) and the sum itself, the residual stream after a sub-layer: [normed, sum], as one
 * com.microsoft SkipSimplifiedLayerNormalization node (inference graphs only). No delta: the norm of x.
 */
export function residualNorm(g: GraphBuilder, x: Value, delta: Value | undefined, w: Value, eps: number, fused: boolean): [Value, Value] {
  if (!delta) return [rmsNorm(g, x, w, eps, fused), x];
  if (!fused) throw new Error('residualNorm: an unfused residual is added where the layer ends');
  const out = g.node('SkipSimplifiedLayerNormalization', [delta, x, w], { epsilon: { float: eps } },
    { domain: 'com.microsoft', names: [g.path('normed'), '', '', g.path('residual')] });
  return [out[0], out[3]];
}

export function layerNorm(g: GraphBuilder, x: Value, w: Value, b: Value, eps: number): Value {
  return g.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: eps } });
}

/**
 * cos/sin [B, T, D/2] of rotate-half RoPE for the positions this run actually has, computed in the graph
 * (angle = position · θ^(−2i/D) in float32, as transformers computes it). A table over every position the
 * config declares would be sized by max_position_embeddings — a number from a file: 1e12 cannot be
 * allocated, and real long-context models (131,072 or ~1,000,000 positions) would pay hundreds of MB for
 * positions no run reaches.
 */
export function rotaryAngles(g: GraphBuilder, positions: Value, headDim: number, theta: number, scaling?: RopeScaling): { cos: Value; sin: Value } {
  const half = headDim / 2;
  const freq = (factor: (i: number) => number) => {
    const f = new Float32Array(half);
    for (let i = 0; i < half; i++) f[i] = 1 / (factor(i) * theta ** ((2 * i) / headDim));
    return f;
  };
  let invFreq: Value;                                                                        // [D/2]
  if (scaling?.type === 'longrope') {
    // Phi-3 "longrope" (formerly "su"), as transformers applies it: per-frequency divisors, the long ones
    // when the run reaches past the pretrained context (the largest position id ≥ original_max), else
    // the short ones; cos and sin scaled by the attention factor.
    const short = g.constant('float', [half], freq((i) => scaling.shortFactor[i]), 'rope_inv_freq_short');
    const long = g.constant('float', [half], freq((i) => scaling.longFactor[i]), 'rope_inv_freq_long');
    const maxPos = g.op('ReduceMax', [positions], { keepdims: 0 }, 'rope/max_position');     // int64 scalar
    const isLong = g.op('GreaterOrEqual', [maxPos, g.constant('int64', [], [scaling.originalMaxPositions], 'rope_original_max')], {}, 'rope/long');
    invFreq = g.op('Where', [isLong, long, short], {}, 'rope/inv_freq');
  } else {
    invFreq = g.constant('float', [half], freq(() => 1), 'rope_inv_freq');
  }
  const pos = g.unsqueeze(g.cast(positions, 'float'), [2]);                                  // [B, T, 1]
  const angles = g.op('Mul', [pos, invFreq], {}, 'rope/angles');                             // [B, T, D/2]
  let cos = g.op('Cos', [angles], {}, 'rope/cos');
  let sin = g.op('Sin', [angles], {}, 'rope/sin');
  const factor = scaling?.attentionFactor ?? 1;
  if (factor !== 1) {
    cos = g.mul(cos, g.scalar(factor), 'rope/cos_scaled');
    sin = g.mul(sin, g.scalar(factor), 'rope/sin_scaled');
  }
  return { cos, sin };
}

export interface AttentionSpec {
  layer: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  q: Value; k: Value; v: Value;              // projections, [B, T, H·D], [B, T, K·D], [B, T, K·D]
  /** [B, T, R/2] each (rotaryAngles); `dims` R < D: only the first R dims of each head rotate (partial rotary). */
  rotary?: { cos: Value; sin: Value; dims?: number };
  /** Multiplier of q·k (default 1/√D; Gemma 2: query_pre_attn_scalar^−½). */
  scale?: number;
  /** Scores → cap·tanh(scores / cap) before the mask (Gemma 2). Such layers take the explicit path (the fused kernel caps after the mask). */
  softcap?: number;
  /** Sliding window of this layer only (Gemma 2's local layers): each query sees its last `window` visible keys. */
  window?: number;
  inputs: GraphInputs;
}

/**
 * The attention bias narrowed to a sliding window: a key stays visible only while at most `window`
 * visible keys (itself included) lie at or after it in the row, i.e. query position − key position <
 * window for a contiguous sequence (as transformers' sliding-window mask). Derived from the bias alone,
 * so every feeder of attn_bias (runtime, scoring, training, IDP) gets it without a second input; built
 * once per graph and window. [B, 1, T, S]
 */
export function windowBias(g: GraphBuilder, inputs: GraphInputs, window: number): Value {
  let v = inputs.windows.get(window);
  if (!v) {
    v = g.scope(`window_${window}`, () => {
      const visible = g.cast(g.op('Greater', [inputs.bias, g.scalar(MASK_MIN / 2)], {}, 'visible'), 'float');   // [B, 1, T, S]
      const after = g.op('CumSum', [visible, g.constant('int64', [], [-1], 'axis')], { reverse: 1 }, 'after');  // visible keys at ≥ s
      const far = g.op('Greater', [after, g.scalar(window)], {}, 'far');
      return g.op('Where', [far, g.scalar(MASK_MIN), inputs.bias], {}, 'bias');
    });
    inputs.windows.set(window, v);
  }
  return v;
}

/** The bias a layer starts from: attn_bias, or its sliding-window narrowing. [B, 1, T, S] */
const layerBias = (g: GraphBuilder, a: AttentionSpec): Value => (a.window ? windowBias(g, a.inputs, a.window) : a.inputs.bias);

/**
 * Attention over [past | new] keys with the additive bias, GQA, KV cache in and out.
 * Returns the context [B, T, H·D] (before o_proj). Two paths with the same I/O:
 * - 'fused' (inference): one ONNX Attention-23 node (GQA, additive mask, past/present) — few nodes per
 *   step, which is what decode speed on small models is made of;
 * - 'explicit' (training, analysis): MatMul → + bias → Softmax → MatMul from primitive ops, so every
 *   intermediate (the attention probabilities `/…/attn/Softmax_output_0`) is a named value and every op
 *   has a VJP.
 */
export function attention(g: GraphBuilder, a: AttentionSpec): Value {
  const { heads: H, kvHeads: K, inputs } = a;
  let q = a.q;                                                                          // [B, T, H·D]
  let k = a.k;                                                                          // [B, T, K·D]
  if (a.rotary) {
    const { cos, sin, dims } = a.rotary;   // per token already: no position_ids input
    const partial: Record<string, number> = dims !== undefined && dims < a.headDim ? { rotary_embedding_dim: dims } : {};
    q = g.op('RotaryEmbedding', [q, cos, sin], { num_heads: H, ...partial }, 'q/Rotary');
    // capacity graphs return the rotated keys as they are (models/cache-attention.ts)
    const names = inputs.kvCache === 'capacity' ? [cacheIo.newKey(a.layer)] : undefined;
    k = g.node('RotaryEmbedding', [k, cos, sin], { num_heads: K, ...partial }, { leaf: 'k/Rotary', names })[0];
  }
  if (inputs.kvCache === 'capacity') {
    if (inputs.hooks?.attention) throw new Error('attention hooks need the concat KV cache');
    return a.softcap !== undefined ? explicitAttention(g, a, q, k) : capacityAttention(g, a, q, k, layerBias(g, a));
  }
  const explicit = inputs.attention === 'explicit' || !!inputs.hooks?.attention?.explicit?.(a.layer) || a.softcap !== undefined;
  return explicit ? explicitAttention(g, a, q, k) : fusedAttention(g, a, q, k);
}

function fusedAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const biasHook = inputs.hooks?.attention?.bias;
  const bias = biasHook ? biasHook(g, layer, layerBias(g, a)) : layerBias(g, a);         // [B, 1, T, S]
  const [pastK, pastV] = inputs.hooks?.attention?.past?.(g, layer) ?? [{ name: io.pastKey(layer) }, { name: io.pastValue(layer) }];
  const [y] = g.node('Attention', [q, k, a.v, bias, pastK, pastV],
    { q_num_heads: H, kv_num_heads: K, scale: { float: a.scale ?? 1 / Math.sqrt(D) } },
    { leaf: 'Attention', names: [`/layers.${layer}/attn/Attention_output_0`, io.presentKey(layer), io.presentValue(layer)] });
  declareCache(g, layer, K, D);
  return y;                                                                             // [B, T, H·D]
}

/**
 * Attention from primitive ops. With the capacity cache (softcapped layers only) the past is the cache read
 * in place and the new keys and values leave as new_key / new_value (models/cache-attention.ts).
 */
function explicitAttention(g: GraphBuilder, a: AttentionSpec, q: Value, k: Value): Value {
  const { heads: H, kvHeads: K, headDim: D, inputs, layer } = a;
  const G = H / K;
  const capacity = inputs.kvCache === 'capacity';
  q = g.mul(q, g.scalar(a.scale ?? 1 / Math.sqrt(D)), 'q/Scale');
  const q5 = g.transpose(g.reshape(q, [0, 0, K, G, D], 'q/Heads'), [0, 2, 3, 1, 4], 'q/T');        // [B, K, G, T, D]
  const k4 = g.transpose(g.reshape(k, [0, 0, K, D], 'k/Heads'), [0, 2, 1, 3], 'k/T');             // [B, K, T, D]
  const v4 = g.transpose(g.reshape(a.v, [0, 0, K, D], 'v/Heads'), [0, 2, 1, 3], 'v/T');         // [B, K, T, D]
  const hooks = inputs.hooks?.attention;
  const [pastK, pastV] = capacity ? [{ name: cacheIo.cacheKey(layer) }, { name: cacheIo.cacheValue(layer) }]
    : hooks?.past?.(g, layer) ?? [{ name: io.pastKey(layer) }, { name: io.pastValue(layer) }];
  const names = (present: string) => (capacity ? undefined : [present]);
  const kAll = g.node('Concat', [pastK, k4], { axis: 2 }, { leaf: 'k/Concat', names: names(io.presentKey(layer)) })[0];   // [B, K, S, D]
  const vAll = g.node('Concat', [pastV, v4], { axis: 2 }, { leaf: 'v/Concat', names: names(io.presentValue(layer)) })[0]; // [B, K, S, D]
  if (capacity) declareNewKv(g, a, k);
  else declareCache(g, layer, K, D);
  const kT5 = g.unsqueeze(g.transpose(kAll, [0, 1, 3, 2], 'k/Tall'), [2]);              // [B, K, 1, D, S]
  const base = layerBias(g, a);
  const bias5 = hooks?.bias ? g.unsqueeze(hooks.bias(g, layer, base), [2]) : a.window ? g.unsqueeze(base, [2]) : inputs.bias5;  // [B, 1, 1, T, S]
  let raw = g.matmul(q5, kT5, 'scores');                                                // [B, K, G, T, S]
  if (a.softcap !== undefined) raw = g.mul(g.tanh(g.mul(raw, g.scalar(1 / a.softcap), 'scores/softcap_in')), g.scalar(a.softcap), 'scores/softcap');
  const scores = g.add(raw, bias5, 'scores/Mask');                                      // [B, K, G, T, S]
  const p0 = g.softmax(scores);                                                         // attention probabilities
  const probs = hooks?.probs ? hooks.probs(g, layer, p0, scores) : p0;
  const ctx = g.matmul(probs, g.unsqueeze(vAll, [2]), 'context');                       // [B, K, G, T, D]
  return g.reshape(g.transpose(ctx, [0, 3, 1, 2, 4], 'context/T'), [0, 0, H * D], 'context/Flat'); // [B, T, H·D]
}

function declareCache(g: GraphBuilder, layer: number, K: number, D: number): void {
  g.declareOutput(io.presentKey(layer), 'float', ['batch', K, 'total', D]);
  g.declareOutput(io.presentValue(layer), 'float', ['batch', K, 'total', D]);
}

/** int64 shape [B, T, ...rest], built once per distinct rest. */
function shapeBTx(g: GraphBuilder, inputs: GraphInputs, ...rest: number[]): Value {
  const key = rest.join('x');
  let v = inputs.shapes.get(key);
  if (!v) {
    v = g.concat([inputs.shapeBT, g.ints(rest)], 0, `shape_bt_${key}`);
    inputs.shapes.set(key, v);
  }
  return v;
}

/** Gather embeddings for ids [B, T] → [B, T, width] (rows of a quantized table: quant-linear.ts). */
export function embed(g: GraphBuilder, table: Value, ids: Value, leaf = 'embed'): Value {
  const q = quantizedTableOf(g, table);
  if (q) return g.scope(leaf, () => quantizedRows(g, q, ids));
  return g.gather(table, ids, 0, `${leaf}/Gather`);
}

/** Token embeddings [B, T, width] of input_ids, through the tokenEmbeds hook (soft prompts) when set. */
export function embedTokens(g: GraphBuilder, table: Value, inputs: GraphInputs, leaf: string): Value {
  const x = embed(g, table, inputs.ids, leaf);
  const hook = inputs.hooks?.tokenEmbeds;
  return hook ? g.scope(leaf, () => hook(g, x)) : x;
}

/**
 * Hidden states [B, T, d] → the positions the logits need: all, or the last of each row [B, 1, d]
 * (Gather of index −1: ORT's Slice costs ~3× as much per call on these small tensors).
 */
export function selectForLogits(g: GraphBuilder, x: Value, mode: 'all' | 'last'): Value {
  return mode === 'all' ? x : lastAlong(g, x, 1, 'last');
}

/** The last entry along `axis`, keeping the axis: Gather with indices [−1]. */
export function lastAlong(g: GraphBuilder, x: Value, axis: number, leaf: string): Value {
  return g.gather(x, g.ints([-1]), axis, `${leaf}/Gather`);
}

export function declareLogits(g: GraphBuilder, vocab: number, mode: 'all' | 'last'): void {
  g.declareOutput(io.logits, 'float', ['batch', mode === 'all' ? 'seq' : 1, vocab]);
}
