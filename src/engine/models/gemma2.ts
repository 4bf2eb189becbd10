// Gemma 2: token embeddings × √d, RMSNorm with (1 + w) in four places per layer — input and
// post-attention around the attention, pre- and post-feedforward around the MLP, each sub-layer's output
// normed before it joins the residual stream — GeGLU MLP (gelu(gate) · up, tanh approximation), scores
// scaled by query_pre_attn_scalar^−½ and soft-capped (cap · tanh(s / cap)) before the mask, alternate
// layers seeing a sliding window only, final norm, head tied to the embedding, final logits soft-capped.
// Attention with a soft cap runs on the explicit path (attention.ts: the fused kernel caps after the mask).

import { GraphBuilder, Value } from '../onnx/builder';
import type { LoadedModel } from './config';
import { BuildOptions, declareInputs, embedTokens, declareLogits, linearKernelFor, rmsNorm, selectForLogits, weights } from './blocks';
import { attention, rotaryAngles } from './attention';

export function buildGemma2(m: LoadedModel, opts: BuildOptions): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder(m.weightsDir);
  const d = c.hiddenSize;
  const inputs = declareInputs(g, c.numLayers, c.numKvHeads, c.headDim, opts);
  const w = weights(g, m, inputs, linearKernelFor(m, opts));
  const rope = g.scope('model', () => rotaryAngles(g, inputs.positions, c.headDim, c.ropeTheta ?? 10000));
  // the inference kernel (SimplifiedLayerNormalization) where no gradient is taken, as models/llama.ts
  const fast = opts.fuseNorms ?? (inputs.attention === 'fused' && !inputs.hooks);
  /** x · rsqrt(mean(x²) + eps) · (1 + w): the weight is stored as an offset from 1. */
  const norm = (x: Value, name: string): Value => g.scope(name.split('.').pop()!, () =>
    rmsNorm(g, x, g.add(w.get(`${name}.weight`), g.scalar(1), 'one_plus_weight'), c.normEps, fast));
  const gelu = (x: Value) => g.op('Gelu', [x], c.activation === 'gelu' ? {} : { approximate: 'tanh' });

  let x = g.scope('model', () => {
    const e = embedTokens(g, w.get('model.embed_tokens.weight'), inputs, 'embed_tokens');       // [B, T, d]
    return g.mul(e, g.scalar(c.embeddingScale ?? Math.sqrt(d)), 'embed_scale');
  });
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    g.scope('model', () => g.scope(`layers.${i}`, () => {
      const h = norm(x, `${p}.input_layernorm`);
      const [q, k, v] = w.linears(h, ['q_proj', 'k_proj', 'v_proj'].map((n) => `${p}.self_attn.${n}`));
      const ctx = g.scope('attn', () => attention(g, {
        layer: i, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, q, k, v, rotary: rope, inputs,
        scale: c.attentionScale, softcap: c.attentionSoftcap, window: c.layerWindows?.[i] ?? undefined,
      }));
      const attnOut = norm(w.linear(ctx, `${p}.self_attn.o_proj`), `${p}.post_attention_layernorm`);  // [B, T, d]
      x = g.add(x, attnOut, 'residual_attn');
      const h2 = norm(x, `${p}.pre_feedforward_layernorm`);
      const mlp = g.scope('mlp', () => {
        const [gate, up] = w.linears(h2, [`${p}.mlp.gate_proj`, `${p}.mlp.up_proj`]);             // [B, T, ff] ×2
        return w.linear(g.mul(gelu(gate), up, 'gate_up'), `${p}.mlp.down_proj`);                  // [B, T, d]
      });
      x = g.add(x, norm(mlp, `${p}.post_feedforward_layernorm`), 'residual_mlp');
    }));
  }
  g.scope('model', () => {
    const h = norm(selectForLogits(g, x, opts.logits), 'model.norm');
    w.lmHead(h, c.tieWordEmbeddings || !m.weights.has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight', d, c.vocabSize, c.finalLogitSoftcap);
    declareLogits(g, c.vocabSize, opts.logits);
  });
  return g;
}
