// OPT: learned positions indexed at position + 2, ReLU MLP (fc1/fc2), LayerNorm with bias,
// pre-LN (do_layer_norm_before) or post-LN (OPT-350m), optional project_in/project_out when the
// embedding width differs from the hidden size, head tied to the token embedding.

import { GraphBuilder, Value } from '../onnx/builder';
import type { LoadedModel } from './config';
import { BuildOptions, declareInputs, embed, embedTokens, declareLogits, linearKernelFor, layerNorm, selectForLogits, weights } from './blocks';
import { attention } from './attention';

export function buildOpt(m: LoadedModel, opts: BuildOptions): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder(m.weightsDir);
  const d = c.hiddenSize;
  const e = c.wordEmbedProjDim ?? d;                 // embedding width
  const preLN = c.doLayerNormBefore ?? true;
  const inputs = declareInputs(g, c.numLayers, c.numKvHeads, c.headDim, opts);
  const w = weights(g, m, inputs, linearKernelFor(m, opts));
  const P = 'model.decoder';
  const ln = (x: Value, name: string) => g.scope(name.split('.').pop()!, () => layerNorm(g, x, w.get(`${name}.weight`), w.get(`${name}.bias`), c.normEps));
  const linear = (x: Value, name: string) => w.linear(x, name);

  let x = g.scope('model', () => {
    let tok = embedTokens(g, w.get(`${P}.embed_tokens.weight`), inputs, 'embed_tokens');              // [B, T, e]
    if (e !== d) tok = linear(tok, `${P}.project_in`);                                                   // [B, T, d]
    const pos = g.add(inputs.positions, g.constant('int64', [], [c.positionOffset ?? 2], 'pos_offset'), 'positions');
    return g.add(tok, embed(g, w.get(`${P}.embed_positions.weight`), pos, 'embed_positions'), 'embed_sum');
  });

  for (let i = 0; i < c.numLayers; i++) {
    const p = `${P}.layers.${i}`;
    x = g.scope('model', () => g.scope(`layers.${i}`, () => {
      const h = preLN ? ln(x, `${p}.self_attn_layer_norm`) : x;
      const ctx = g.scope('attn', () => attention(g, {
        layer: i, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim,
        q: linear(h, `${p}.self_attn.q_proj`), k: linear(h, `${p}.self_attn.k_proj`), v: linear(h, `${p}.self_attn.v_proj`),
        inputs,
      }));
      let x1 = g.add(x, linear(ctx, `${p}.self_attn.out_proj`), 'residual_attn');                     // [B, T, d]
      if (!preLN) x1 = ln(x1, `${p}.self_attn_layer_norm`);
      const h2 = preLN ? ln(x1, `${p}.final_layer_norm`) : x1;
      const mlp = g.scope('mlp', () => linear(g.relu(linear(h2, `${p}.fc1`)), `${p}.fc2`));
      const x2 = g.add(x1, mlp, 'residual_mlp');
      return preLN ? x2 : ln(x2, `${p}.final_layer_norm`);
    }));
  }

  g.scope('model', () => {
    let h = selectForLogits(g, x, opts.logits);
    if (m.weights.has(`${P}.final_layer_norm.weight`)) h = ln(h, `${P}.final_layer_norm`);
    if (e !== d) h = linear(h, `${P}.project_out`);                                                      // [., e]
    const head = c.tieWordEmbeddings || !m.weights.has('lm_head.weight') ? `${P}.embed_tokens.weight` : 'lm_head.weight';
    w.lmHead(h, head, e, c.vocabSize);
    declareLogits(g, c.vocabSize, opts.logits);
  });
  return g;
}
