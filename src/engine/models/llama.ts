// Llama-shaped decoders (Llama 1/2/3, Mistral, Qwen2, SmolLM, TinyLlama; GGUF and llama2.c after
// conversion; Phi-3 with its fused projections): pre-norm RMSNorm, rotate-half RoPE (optionally partial,
// optionally longrope-scaled), GQA, SwiGLU MLP, optional q/k/v(/o) biases, tied or untied head.

import { GraphBuilder, Value } from '../onnx/builder';
import type { LoadedModel, ModelConfig } from './config';
import { residualNorm, BuildOptions, declareInputs, embedTokens, declareLogits, linearKernelFor, rmsNorm, selectForLogits, weights } from './blocks';
import { attention, rotaryAngles } from './attention';

type Weights = ReturnType<typeof weights>;

/** How a layer's projections are stored: q/k/v and gate/up as separate modules (Llama) or fused (Phi-3). */
export interface LlamaProjections {
  /** q [B, T, H·D], k, v [B, T, K·D] from the normed input h [B, T, d] of layer `p` (its HF prefix). */
  qkv(g: GraphBuilder, w: Weights, h: Value, p: string, c: ModelConfig): Value[];
  /** gate, up [B, T, ff] from h [B, T, d]. */
  gateUp(g: GraphBuilder, w: Weights, h: Value, p: string, c: ModelConfig): Value[];
}

/** Llama: self_attn.{q,k,v}_proj and mlp.{gate,up}_proj, run together where the kernel allows (weights().linears). */
export const SEPARATE_PROJECTIONS: LlamaProjections = {
  qkv: (_g, w, h, p) => w.linears(h, ['q_proj', 'k_proj', 'v_proj'].map((n) => `${p}.self_attn.${n}`)),
  gateUp: (_g, w, h, p) => w.linears(h, [`${p}.mlp.gate_proj`, `${p}.mlp.up_proj`]),
};

/** Phi-3: self_attn.qkv_proj [H·D + 2·K·D, d] (q | k | v rows) and mlp.gate_up_proj [2·ff, d] (gate | up rows), split after the product. */
export const FUSED_PROJECTIONS: LlamaProjections = {
  qkv: (g, w, h, p, c) => g.node('Split', [w.linear(h, `${p}.self_attn.qkv_proj`),
    g.ints([c.numHeads * c.headDim, c.numKvHeads * c.headDim, c.numKvHeads * c.headDim])], { axis: -1 }, { leaf: 'qkv/Split', outputs: 3 }),
  gateUp: (g, w, h, p, c) => g.node('Split', [w.linear(h, `${p}.mlp.gate_up_proj`), g.ints([c.intermediateSize, c.intermediateSize])],
    { axis: -1 }, { leaf: 'gate_up/Split', outputs: 2 }),
};

export function buildLlama(m: LoadedModel, opts: BuildOptions, proj: LlamaProjections = SEPARATE_PROJECTIONS): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder(m.weightsDir);
  const d = c.hiddenSize;
  const inputs = declareInputs(g, c.numLayers, c.numKvHeads, c.headDim, opts);
  const w = weights(g, m, inputs, linearKernelFor(m, opts));
  const rotaryDims = c.rotaryDims ?? c.headDim;
  const rope = g.scope('model', () => ({ ...rotaryAngles(g, inputs.positions, rotaryDims, c.ropeTheta ?? 10000, c.ropeScaling), dims: rotaryDims }));

  let x = g.scope('model', () => embedTokens(g, w.get('model.embed_tokens.weight'), inputs, 'embed_tokens'));  // [B, T, d]
  // On the fused inference path each sub-layer's output is added to the residual stream by the norm that
  // reads it next: one SkipSimplifiedLayerNormalization node instead of Add + RMSNormalization
  // (`pending` holds the MLP output not yet added). Elsewhere the plain Add + norm, named residual_attn /
  // residual_mlp per layer (autodiff, inspection and the compressor's per-layer graphs rely on them).
  const fuse = opts.fuseNorms ?? (inputs.attention === 'fused' && !inputs.hooks);
  let pending: Value | undefined;

  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    g.scope('model', () => g.scope(`layers.${i}`, () => {
      const [h, x0] = g.scope('input_layernorm', () => residualNorm(g, x, pending, w.get(`${p}.input_layernorm.weight`), c.normEps, fuse));
      x = x0;                                                                                         // [B, T, d]
      const [q, k, v] = proj.qkv(g, w, h, p, c);
      const ctx = g.scope('attn', () => attention(g, {
        layer: i, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, q, k, v,
        rotary: rope, inputs,
      }));
      const attnOut = w.linear(ctx, `${p}.self_attn.o_proj`);
      const postNorm = w.get(`${p}.post_attention_layernorm.weight`);
      let h2: Value;
      if (fuse) {
        [h2, x] = g.scope('post_attention_layernorm', () => residualNorm(g, x, attnOut, postNorm, c.normEps, true));
      } else {
        x = g.add(x, attnOut, 'residual_attn');
        h2 = g.scope('post_attention_layernorm', () => rmsNorm(g, x, postNorm, c.normEps));
      }
      const mlp = g.scope('mlp', () => {
        const [gate, up] = proj.gateUp(g, w, h2, p, c);                                             // [B, T, ff] ×2
        const act = g.mul(gate, g.sigmoid(gate), 'silu');
        return w.linear(g.mul(act, up, 'gate_up'), `${p}.mlp.down_proj`);                          // [B, T, d]
      });
      if (fuse) pending = mlp;
      else x = g.add(x, mlp, 'residual_mlp');
    }));
  }
  g.scope('model', () => {
    const normW = w.get('model.norm.weight');
    let h: Value;
    if (pending) {   // fused: the last MLP output is added by the final norm; then the positions needed
      const [normed] = g.scope('norm', () => residualNorm(g, x, pending, normW, c.normEps, true));   // [B, T, d]
      h = selectForLogits(g, normed, opts.logits);
    } else {
      h = g.scope('norm', () => rmsNorm(g, selectForLogits(g, x, opts.logits), normW, c.normEps));
    }
    w.lmHead(h, c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight', d, c.vocabSize);
    declareLogits(g, c.vocabSize, opts.logits);
  });
  return g;
}
