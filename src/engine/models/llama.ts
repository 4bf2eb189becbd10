// Llama family (Llama 1/2/3, Mistral, Qwen2, SmolLM, TinyLlama; GGUF and llama2.c after conversion):
// pre-norm RMSNorm, rotate-half RoPE, GQA, SwiGLU MLP, optional q/k/v(/o) biases, tied or untied head.

import { GraphBuilder } from '../onnx/builder';
import type { LoadedModel } from './config';
import { attention, BuildOptions, declareInputs, embedTokens, declareLogits, linearKernelFor, rmsNorm, rotaryTables, selectForLogits, weights } from './blocks';

export function buildLlama(m: LoadedModel, opts: BuildOptions): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder(m.weightsDir);
  const d = c.hiddenSize;
  const inputs = declareInputs(g, c.numLayers, c.numKvHeads, c.headDim, opts);
  const w = weights(g, m, inputs, linearKernelFor(m, opts));
  const rope = g.scope('model', () => rotaryTables(g, c.maxPositions, c.headDim, c.ropeTheta ?? 10000));

  let x = g.scope('model', () => embedTokens(g, w.get('model.embed_tokens.weight'), inputs, 'embed_tokens'));  // [B, T, d]

  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    x = g.scope('model', () => g.scope(`layers.${i}`, () => {
      const h = g.scope('input_layernorm', () => rmsNorm(g, x, w.get(`${p}.input_layernorm.weight`), c.normEps));
      const [q, k, v] = w.linears(h, ['q_proj', 'k_proj', 'v_proj'].map((n) => `${p}.self_attn.${n}`));
      const ctx = g.scope('attn', () => attention(g, {
        layer: i, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, q, k, v,
        rotary: { ...rope, positions: inputs.positions }, inputs,
      }));
      const attnOut = w.linear(ctx, `${p}.self_attn.o_proj`);
      const x1 = g.add(x, attnOut, 'residual_attn');                                                  // [B, T, d]
      const h2 = g.scope('post_attention_layernorm', () => rmsNorm(g, x1, w.get(`${p}.post_attention_layernorm.weight`), c.normEps));
      const mlp = g.scope('mlp', () => {
        const [gate, up] = w.linears(h2, [`${p}.mlp.gate_proj`, `${p}.mlp.up_proj`]);                // [B, T, ff] ×2
        const act = g.mul(gate, g.sigmoid(gate), 'silu');
        return w.linear(g.mul(act, up, 'gate_up'), `${p}.mlp.down_proj`);                          // [B, T, d]
      });
      return g.add(x1, mlp, 'residual_mlp');
    }));
  }

  g.scope('model', () => {
    const last = selectForLogits(g, x, opts.logits);
    const h = g.scope('norm', () => rmsNorm(g, last, w.get('model.norm.weight'), c.normEps));
    w.lmHead(h, c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight', d, c.vocabSize);
    declareLogits(g, c.vocabSize, opts.logits);
  });
  return g;
}
