// Building blocks shared by the architecture files: the graph I/O contract, weight access, norms,
// embeddings and the logits; attention and rotary tables are in attention.ts.
//
// Shapes: B batch, T new tokens, P cached tokens, S = P + T, d hidden, H query heads,
// K kv heads, G = H / K, D head dim. The residual stream is [B, T, d] throughout.

import { GraphBuilder, Value } from '../onnx/builder';
import { LoadedModel, parameterCount, QuantizedModuleRef } from './config';
import { formatError } from '../errors';
import { fusedQuantizedLinears, quantizedLinear, quantizedRows, quantizedTable, quantizedTableOf } from './quant-linear';
import { HEAD_MODULE } from './quant/modules';
import { declareCacheInputs } from './cache-attention';

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
