// Llama family (Llama 1/2/3, Mistral, Qwen2, SmolLM, TinyLlama; GGUF and llama2.c after conversion):
// pre-norm RMSNorm, rotate-half RoPE, GQA, SwiGLU MLP, optional q/k/v(/o) biases, tied or untied head.

import { GraphBuilder } from '../onnx/builder';
import type { LoadedModel } from './config';
import { attention, BuildOptions, declareInputs, embed, emitLogits, rmsNorm, rotaryTables, selectForLogits, weights } from './blocks';

export function buildLlama(m: LoadedModel, opts: BuildOptions): GraphBuilder {
  const c = m.config;
  const g = new GraphBuilder(m.weightsDir);
  const w = weights(g, m);
  const d = c.hiddenSize;
  const inputs = declareInputs(g, c.numLayers, c.numKvHeads, c.headDim, opts);
  const rope = g.scope('model', () => rotaryTables(g, c.maxPositions, c.headDim, c.ropeTheta ?? 10000));

  let x = g.scope('model', () => embed(g, w.get('model.embed_tokens.weight'), inputs.ids, d, 'embed_tokens'));  // [N, d]

  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    x = g.scope('model', () => g.scope(`layers.${i}`, () => {
      const h = g.scope('input_layernorm', () => rmsNorm(g, x, w.get(`${p}.input_layernorm.weight`), c.normEps));
      const proj = (name: string) => w.linear(h, `${p}.self_attn.${name}`);
      const ctx = g.scope('attn', () => attention(g, {
        layer: i, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim,
        q: proj('q_proj'), k: proj('k_proj'), v: proj('v_proj'),
        rotary: { ...rope, positions: inputs.positions }, inputs,
      }));
      const attnOut = w.linear(ctx, `${p}.self_attn.o_proj`);
      const x1 = g.add(x, attnOut, 'residual_attn');                                                  // [N, d]
      const h2 = g.scope('post_attention_layernorm', () => rmsNorm(g, x1, w.get(`${p}.post_attention_layernorm.weight`), c.normEps));
      const mlp = g.scope('mlp', () => {
        const lin = (name: string, inp = h2) => w.linear(inp, `${p}.mlp.${name}`);
        const gate = lin('gate_proj');                                                                // [N, ff]
        const act = g.mul(gate, g.sigmoid(gate), 'silu');
        return lin('down_proj', g.mul(act, lin('up_proj'), 'gate_up'));                              // [N, d]
      });
      return g.add(x1, mlp, 'residual_mlp');
    }));
  }

  g.scope('model', () => {
    const last = selectForLogits(g, x, d, inputs, opts.logits);
    const h = g.scope('norm', () => rmsNorm(g, last, w.get('model.norm.weight'), c.normEps));
    const head = c.tieWordEmbeddings ? w.get('model.embed_tokens.weight') : w.get('lm_head.weight');
    emitLogits(g, g.scope('lm_head', () => g.gemmT(h, head)), c.vocabSize, inputs, opts.logits);
  });
  return g;
}
