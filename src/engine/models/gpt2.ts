// GPT-2: learned positions, pre-LN LayerNorm, fused c_attn in Conv1D layout (weight [d, 3d], y = x·W + b),
// gelu_new (= Gelu with the tanh approximation), head tied to wte.

import { GraphBuilder, Value } from '../onnx/builder';
import type { LoadedModel } from './config';
import { BuildOptions, declareInputs, embed, embedTokens, declareLogits, linearKernelFor, layerNorm, selectForLogits, weights } from './blocks';
import { attention } from './attention';

export function buildGpt2(m: LoadedModel, opts: BuildOptions): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder(m.weightsDir);
  const d = c.hiddenSize;
  const inputs = declareInputs(g, c.numLayers, c.numKvHeads, c.headDim, opts);
  const w = weights(g, m, inputs, linearKernelFor(m, opts));
  const T = 'transformer';
  const ln = (x: Value, name: string) => g.scope(name.split('.').pop()!, () => layerNorm(g, x, w.get(`${name}.weight`), w.get(`${name}.bias`), c.normEps));
  // Conv1D: y = x · W + b with W [in, out]
  const conv1d = (x: Value, name: string) => w.linear(x, name, 'conv1d');

  let x = g.scope(T, () => g.add(
    embedTokens(g, w.get(`${T}.wte.weight`), inputs, 'wte'),
    embed(g, w.get(`${T}.wpe.weight`), inputs.positions, 'wpe'), 'embed_sum'));                       // [B, T, d]

  for (let i = 0; i < c.numLayers; i++) {
    const p = `${T}.h.${i}`;
    x = g.scope(T, () => g.scope(`h.${i}`, () => {
      const h = ln(x, `${p}.ln_1`);
      const ctx = g.scope('attn', () => {
        const [q, k, v] = g.node('Split', [conv1d(h, `${p}.attn.c_attn`), g.ints([d, d, d])], { axis: -1 }, { outputs: 3 });
        return attention(g, { layer: i, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, q, k, v, inputs });
      });
      const x1 = g.add(x, g.scope('attn', () => conv1d(ctx, `${p}.attn.c_proj`)), 'residual_attn');
      const mlp = g.scope('mlp', () => {
        const act = c.activation === 'relu' ? g.relu(conv1d(ln(x1, `${p}.ln_2`), `${p}.mlp.c_fc`))
          : g.op('Gelu', [conv1d(ln(x1, `${p}.ln_2`), `${p}.mlp.c_fc`)], c.activation === 'gelu' ? {} : { approximate: 'tanh' });
        return conv1d(act, `${p}.mlp.c_proj`);
      });
      return g.add(x1, mlp, 'residual_mlp');
    }));
  }

  g.scope(T, () => {
    const h = ln(selectForLogits(g, x, opts.logits), `${T}.ln_f`);
    w.lmHead(h, `${T}.wte.weight`, d, c.vocabSize);
    declareLogits(g, c.vocabSize, opts.logits);
  });
  return g;
}
