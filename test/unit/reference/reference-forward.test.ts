// Hand-derived checks of the float64 oracle: each expected number below is worked out from the
// model's equations in the comments (closed forms over d = 2), not by calling the oracle's code.

import * as assert from 'assert';
import {
  referenceForward, ropeRotate, rmsNorm, layerNorm, linear, conv1d, erf, activation, attention, RefWeights,
} from '../../helpers/reference-forward';

const S2 = Math.SQRT2;
const t = (shape: number[], ...data: number[]) => ({ shape, data: Float64Array.from(data) });
const zeros = (shape: number[]) => ({ shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
function close(got: ArrayLike<number>, want: number[], tol = 1e-12, what = ''): void {
  assert.strictEqual(got.length, want.length, `${what} length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol * Math.max(1, Math.abs(want[i])), `${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}
/** nn.LayerNorm of [a, b] with eps: mean (a+b)/2, var ((a-b)/2)², so [δ, -δ]/sqrt(δ² + eps)·w + bias. */
function ln2(a: number, b: number, w = [1, 1], bias = [0, 0], eps = 1e-5): [number, number] {
  const delta = (a - b) / 2;
  const r = 1 / Math.sqrt(delta * delta + eps);
  return [delta * r * w[0] + bias[0], -delta * r * w[1] + bias[1]];
}
const silu = (x: number) => x / (1 + Math.exp(-x));
const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)));

describe('reference forward: primitives by hand', () => {
  it('linear is x·Wᵀ + b with W [out, in]; conv1d is x·W + b with W [in, out]', () => {
    const x = Float64Array.from([1, 2]);
    close(linear(x, 1, 2, Float64Array.from([1, 0, 3, 4, 0, -1]), 3, Float64Array.from([0, 1, 2])), [1, 12, 0]);
    close(conv1d(x, 1, 2, Float64Array.from([1, 0, 3, 4, 0, -1]), 3, Float64Array.from([0, 1, 2])), [9, 1, 3]);
  });
  it('RMSNorm and LayerNorm', () => {
    // [3, 4]: mean square 12.5
    close(rmsNorm(Float64Array.from([3, 4]), 1, 2, Float64Array.from([1, 2]), 0), [3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)]);
    // [1, 2, 6]: mean 3, biased variance (4 + 1 + 9)/3 = 14/3
    const r = 1 / Math.sqrt(14 / 3 + 1e-5);
    close(layerNorm(Float64Array.from([1, 2, 6]), 1, 3, Float64Array.from([1, 2, 3]), Float64Array.from([0, 0, 1]), 1e-5), [-2 * r, -2 * r, 9 * r + 1]);
    close(layerNorm(Float64Array.from([1, 2, 6]), 1, 3, undefined, undefined, 1e-5), [-2 * r, -r, 3 * r]);
  });
  it('activations: silu, relu, gelu_new (tanh), exact gelu via erf', () => {
    close([erf(0.5), erf(1), erf(-1.5), erf(3), erf(0)], [0.5204998778130465, 0.8427007929497149, -0.9661051464753108, 0.9999779095030014, 0], 1e-14);
    close([activation('silu')(2)], [2 / (1 + Math.exp(-2))]);
    close([activation('relu')(-3), activation('relu')(3)], [0, 3]);
    close([activation('gelu_new')(1)], [0.8411919906082768], 1e-14);
    close([activation('gelu')(1)], [0.8413447460685429], 1e-14);
  });
  it('RoPE rotate_half pairs (i, i + hd/2); interleaved pairs (2i, 2i+1); angles pos·theta^(-2i/hd)', () => {
    const a0 = 3, a1 = 3 * 100 ** -0.5; // pos 3, theta 100, hd 4: frequencies 1 and 0.1
    const h = Float64Array.from([1, 2, 3, 4]);
    ropeRotate(h, 0, 4, 3, 100, false);
    close(h, [Math.cos(a0) - 3 * Math.sin(a0), 2 * Math.cos(a1) - 4 * Math.sin(a1), 3 * Math.cos(a0) + Math.sin(a0), 4 * Math.cos(a1) + 2 * Math.sin(a1)]);
    const m = Float64Array.from([9, 1, 2, 3, 4]);
    ropeRotate(m, 1, 4, 3, 100, true);
    close(m, [9, Math.cos(a0) - 2 * Math.sin(a0), 2 * Math.cos(a0) + Math.sin(a0), 3 * Math.cos(a1) - 4 * Math.sin(a1), 4 * Math.cos(a1) + 3 * Math.sin(a1)]);
  });
  it('attention: causal softmax, kv head shared by consecutive q heads', () => {
    // T=2, 2 q heads, 1 kv head, hd 1. q = [[1, 0], [2, -1]], k = [0.5, 1], v = [10, 20]
    const out = attention(Float64Array.from([1, 0, 2, -1]), Float64Array.from([0.5, 1]), Float64Array.from([10, 20]), 2, 2, 1, 1, 1);
    const mix = (s0: number, s1: number) => (10 * Math.exp(s0) + 20 * Math.exp(s1)) / (Math.exp(s0) + Math.exp(s1));
    close(out, [10, 10, mix(1, 2), mix(-0.5, -1)]);
    // window 1: every query sees only itself
    close(attention(Float64Array.from([1, 0, 2, -1]), Float64Array.from([0.5, 1]), Float64Array.from([10, 20]), 2, 2, 1, 1, 1, 1), [10, 10, 20, 20]);
  });
});

// One-layer Llama over d = 2, one head (hd 2), rms eps 0, vocab 3.
function llama2d(): { config: Record<string, unknown>; w: RefWeights } {
  const config = {
    model_type: 'llama', vocab_size: 3, hidden_size: 2, intermediate_size: 1, num_hidden_layers: 1,
    num_attention_heads: 1, num_key_value_heads: 1, head_dim: 2, rms_norm_eps: 0, rope_theta: 10000,
    hidden_act: 'silu', tie_word_embeddings: false, attention_bias: false, mlp_bias: false, max_position_embeddings: 8,
  };
  const I = [1, 0, 0, 1];
  const w: RefWeights = new Map([
    ['model.embed_tokens.weight', t([3, 2], 3, 4, 1, 0, 0, 2)],
    ['model.layers.0.input_layernorm.weight', t([2], 1, 1)],
    ['model.layers.0.self_attn.q_proj.weight', zeros([2, 2])],
    ['model.layers.0.self_attn.k_proj.weight', zeros([2, 2])],
    ['model.layers.0.self_attn.v_proj.weight', t([2, 2], ...I)],
    ['model.layers.0.self_attn.o_proj.weight', t([2, 2], ...I)],
    ['model.layers.0.post_attention_layernorm.weight', t([2], 1, 1)],
    ['model.layers.0.mlp.gate_proj.weight', t([1, 2], 1, 0)],
    ['model.layers.0.mlp.up_proj.weight', t([1, 2], 0, 1)],
    ['model.layers.0.mlp.down_proj.weight', zeros([2, 1])],
    ['model.norm.weight', t([2], 1, 2)],
    ['lm_head.weight', t([3, 2], 1, 0, 0, 1, 1, 1)],
  ]);
  return { config, w };
}
const lmHead = (y: number[]) => [y[0], y[1], y[0] + y[1]];
const rms2 = (a: number, b: number, w = [1, 1]) => { const r = Math.sqrt((a * a + b * b) / 2); return [a / r * w[0], b / r * w[1]]; };

describe('reference forward: Llama family by hand', () => {
  it('attention that averages values (q = k = 0), no MLP', () => {
    const { config, w } = llama2d();
    const got = referenceForward(config, w, [1, 2]);
    // normed inputs: e1 = [1, 0] → [√2, 0]; e2 = [0, 2] → [0, √2]. v = o = identity.
    // pos 0: h = [1 + √2, 0]; pos 1: attention = mean([√2, 0], [0, √2]) = [√2/2, √2/2], h = [√2/2, 2 + √2/2]
    close(got, [...lmHead(rms2(1 + S2, 0, [1, 2])), ...lmHead(rms2(S2 / 2, 2 + S2 / 2, [1, 2]))]);
  });
  it('RoPE with q = k = identity, plus SwiGLU', () => {
    const { config, w } = llama2d();
    w.set('model.layers.0.self_attn.q_proj.weight', t([2, 2], 1, 0, 0, 1));
    w.set('model.layers.0.self_attn.k_proj.weight', t([2, 2], 1, 0, 0, 1));
    w.set('model.layers.0.mlp.down_proj.weight', t([2, 1], 1, -0.5));
    const got = referenceForward(config, w, [1, 2]);
    // hd 2: one pair, angle = position. q1 = k1 = R(1)[0, √2] = [-√2 sin 1, √2 cos 1], k0 = [√2, 0].
    // scores / √2: s10 = q1·k0/√2 = -√2 sin 1, s11 = |q1|²/√2 = √2; v = normed inputs.
    const p0 = Math.exp(-S2 * Math.sin(1)) / (Math.exp(-S2 * Math.sin(1)) + Math.exp(S2));
    const h0 = [1 + S2, 0];
    const h1 = [p0 * S2, 2 + (1 - p0) * S2];
    const mlp = (h: number[]) => { const x = rms2(h[0], h[1]); const m = silu(x[0]) * x[1]; return [h[0] + m, h[1] - 0.5 * m]; };
    const y0 = mlp(h0), y1 = mlp(h1);
    close(got, [...lmHead(rms2(y0[0], y0[1], [1, 2])), ...lmHead(rms2(y1[0], y1[1], [1, 2]))]);
  });
  it('qwen2: q/k/v biases, no o bias; llama attention_bias adds the o bias too', () => {
    const { config, w } = llama2d();
    w.set('model.layers.0.self_attn.v_proj.weight', zeros([2, 2]));
    w.set('model.layers.0.self_attn.q_proj.bias', t([2], 0.3, -0.2));
    w.set('model.layers.0.self_attn.k_proj.bias', t([2], 0.1, 0.4));
    w.set('model.layers.0.self_attn.v_proj.bias', t([2], 1, 2));
    w.set('model.layers.0.mlp.down_proj.weight', zeros([2, 1]));
    w.set('model.layers.0.self_attn.o_proj.bias', t([2], 1, -1));
    // every position attends to identical values → attention output = v bias [1, 2]
    const q = referenceForward({ ...config, model_type: 'qwen2' }, w, [1, 2]);
    close(q, [...lmHead(rms2(2, 2, [1, 2])), ...lmHead(rms2(1, 4, [1, 2]))]);
    const l = referenceForward({ ...config, attention_bias: true }, w, [1, 2]);
    close(l, [...lmHead(rms2(3, 1, [1, 2])), ...lmHead(rms2(2, 3, [1, 2]))]);
    w.delete('model.layers.0.self_attn.q_proj.bias');
    assert.throws(() => referenceForward({ ...config, model_type: 'qwen2' }, w, [1]), /q_proj.bias/);
  });
  it('tied: logits use embed_tokens; eps enters under the root', () => {
    const { config, w } = llama2d();
    w.delete('lm_head.weight');
    w.set('model.layers.0.self_attn.o_proj.weight', zeros([2, 2]));
    const got = referenceForward({ ...config, tie_word_embeddings: true, rms_norm_eps: 0.5 }, w, [0]);
    const r = 1 / Math.sqrt(12.5 + 0.5); // e0 = [3, 4]
    const y = [3 * r, 8 * r];
    close(got, [3 * y[0] + 4 * y[1], y[0], 2 * y[1]]);
  });
});

describe('reference forward: OPT by hand', () => {
  it('pre-LN, positions at +2, q/k/v/out biases, ReLU, final LayerNorm', () => {
    const config = {
      model_type: 'opt', vocab_size: 3, hidden_size: 2, word_embed_proj_dim: 2, ffn_dim: 2, num_hidden_layers: 1,
      num_attention_heads: 1, max_position_embeddings: 4, do_layer_norm_before: true, activation_function: 'relu',
      enable_bias: true, layer_norm_elementwise_affine: true,
    };
    const p = 'model.decoder.layers.0.';
    const w: RefWeights = new Map([
      ['model.decoder.embed_tokens.weight', t([3, 2], 1, 0, 0, 1, 2, 2)],
      // rows 0 and 1 are never used (offset 2): poison them with a sign flip
      ['model.decoder.embed_positions.weight', t([6, 2], -100, 100, -100, 100, 0.5, 0, 0, 0.5, 0, 0, 0, 0)],
      [p + 'self_attn_layer_norm.weight', t([2], 1, 1)], [p + 'self_attn_layer_norm.bias', t([2], 0, 0)],
      [p + 'self_attn.q_proj.weight', t([2, 2], 1, 0, 0, 1)], [p + 'self_attn.q_proj.bias', t([2], 0, 0)],
      [p + 'self_attn.k_proj.weight', t([2, 2], 1, 0, 0, 1)], [p + 'self_attn.k_proj.bias', t([2], 0, 0)],
      [p + 'self_attn.v_proj.weight', t([2, 2], 1, 0, 0, 0)], [p + 'self_attn.v_proj.bias', t([2], 1, -1)],
      [p + 'self_attn.out_proj.weight', t([2, 2], 2, 0, 0, 1)], [p + 'self_attn.out_proj.bias', t([2], 0.5, 0)],
      [p + 'final_layer_norm.weight', t([2], 1, 1)], [p + 'final_layer_norm.bias', t([2], 0, 0)],
      [p + 'fc1.weight', t([2, 2], 1, 0, -1, 0)], [p + 'fc1.bias', t([2], 0.25, 0.25)],
      [p + 'fc2.weight', t([2, 2], 1, 1, -1, 3)], [p + 'fc2.bias', t([2], 0, 0)],
      ['model.decoder.final_layer_norm.weight', t([2], 1, 2)], ['model.decoder.final_layer_norm.bias', t([2], 0, 1)],
    ]);
    const got = referenceForward(config, w, [0, 1]);
    // h0 = e0 + pos[2] = [1.5, 0]; h1 = e1 + pos[3] = [0, 1.5]; x = self_attn_layer_norm(h);
    // q = k = x, scores x_i·x_j / sqrt(2); v = [x0 + 1, -1]; out = [2·a0 + 0.5, a1].
    const x0 = ln2(1.5, 0), x1 = ln2(0, 1.5);
    const s10 = (x1[0] * x0[0] + x1[1] * x0[1]) / S2, s11 = (x1[0] ** 2 + x1[1] ** 2) / S2;
    const p0 = Math.exp(s10) / (Math.exp(s10) + Math.exp(s11));
    const att = [[x0[0] + 1, -1], [p0 * (x0[0] + 1) + (1 - p0) * (x1[0] + 1), -1]];
    const layer = (h: number[], a: number[]) => {
      const r = [h[0] + 2 * a[0] + 0.5, h[1] + a[1]];
      const x = ln2(r[0], r[1]);
      const f = [Math.max(0, x[0] + 0.25), Math.max(0, -x[0] + 0.25)];
      return ln2(r[0] + f[0] + f[1], r[1] - f[0] + 3 * f[1], [1, 2], [0, 1]);
    };
    const y0 = layer([1.5, 0], att[0]), y1 = layer([0, 1.5], att[1]);
    const logits = (y: number[]) => [y[0], y[1], 2 * y[0] + 2 * y[1]];
    close(got, [...logits(y0), ...logits(y1)]);
  });
  it('post-LN (OPT-350m) with project_in / project_out and no final LayerNorm', () => {
    const config = {
      model_type: 'opt', vocab_size: 3, hidden_size: 2, word_embed_proj_dim: 1, ffn_dim: 1, num_hidden_layers: 1,
      num_attention_heads: 1, max_position_embeddings: 4, do_layer_norm_before: false, activation_function: 'relu',
    };
    const p = 'model.decoder.layers.0.';
    const w: RefWeights = new Map([
      ['model.decoder.embed_tokens.weight', t([3, 1], 1, 2, -1)],
      ['model.decoder.project_in.weight', t([2, 1], 1, 0.5)],
      ['model.decoder.project_out.weight', t([1, 2], 1, -1)],
      ['model.decoder.embed_positions.weight', t([6, 2], 50, -50, 50, -50, 0, 1, 1, 0, 0, 0, 0, 0)],
      [p + 'self_attn.q_proj.weight', zeros([2, 2])], [p + 'self_attn.q_proj.bias', t([2], 0, 0)],
      [p + 'self_attn.k_proj.weight', zeros([2, 2])], [p + 'self_attn.k_proj.bias', t([2], 0, 0)],
      [p + 'self_attn.v_proj.weight', zeros([2, 2])], [p + 'self_attn.v_proj.bias', t([2], 0, 0)],
      [p + 'self_attn.out_proj.weight', zeros([2, 2])], [p + 'self_attn.out_proj.bias', t([2], 1, 0.5)],
      [p + 'self_attn_layer_norm.weight', t([2], 1, 1)], [p + 'self_attn_layer_norm.bias', t([2], 0, 0)],
      [p + 'fc1.weight', t([1, 2], 2, 0)], [p + 'fc1.bias', t([1], 0)],
      [p + 'fc2.weight', t([2, 1], 1, 0)], [p + 'fc2.bias', t([2], 0, 0)],
      [p + 'final_layer_norm.weight', t([2], 1, 1)], [p + 'final_layer_norm.bias', t([2], 0.1, 0)],
    ]);
    const got = referenceForward(config, w, [1, 2]);
    // project_in: 2 → [2, 1], -1 → [-1, -0.5]; + pos[2] = [0, 1], pos[3] = [1, 0] → [2, 2], [0, -0.5]
    const layer = (h: number[]) => {
      const a = ln2(h[0] + 1, h[1] + 0.5);        // residual + out bias, then LayerNorm (post)
      const f = Math.max(0, 2 * a[0]);
      const y = ln2(a[0] + f, a[1], [1, 1], [0.1, 0]);
      return y[0] - y[1];                           // project_out
    };
    const s0 = layer([2, 2]), s1 = layer([0, -0.5]);
    close(got, [s0, 2 * s0, -s0, s1, 2 * s1, -s1]);
  });
});

describe('reference forward: GPT-2 by hand', () => {
  it('Conv1D layouts, learned positions, scaled causal attention, gelu_new, ln_f, tied wte', () => {
    // layer_norm_epsilon 0.5 so that LayerNorm over d = 2 keeps magnitudes: ln2 = [δ, -δ]/sqrt(δ² + 0.5)
    const eps = 0.5;
    const config = {
      model_type: 'gpt2', vocab_size: 3, n_embd: 2, n_layer: 1, n_head: 1, n_positions: 4, n_inner: 1,
      layer_norm_epsilon: eps, activation_function: 'gelu_new',
    };
    const p = 'transformer.h.0.';
    // c_attn [in 2, out 6]: q = [x0, 0], k = [x0, 0], v = [x0 + 0.5, x0 + 2·x1]
    const w: RefWeights = new Map([
      ['transformer.wte.weight', t([3, 2], 1, 0, 0, 1, 1, 1)],
      ['transformer.wpe.weight', t([4, 2], 0.5, 0, 0, 0.5, 0, 0, 0, 0)],
      [p + 'ln_1.weight', t([2], 1, 1)], [p + 'ln_1.bias', t([2], 0, 0)],
      [p + 'attn.c_attn.weight', t([2, 6], 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 2)],
      [p + 'attn.c_attn.bias', t([6], 0, 0, 0, 0, 0.5, 0)],
      [p + 'attn.c_proj.weight', t([2, 2], 1, 0, 0, 1)], [p + 'attn.c_proj.bias', t([2], 0, 0.1)],
      [p + 'ln_2.weight', t([2], 1, 1)], [p + 'ln_2.bias', t([2], 0, 0)],
      [p + 'mlp.c_fc.weight', t([2, 1], 1, 0)], [p + 'mlp.c_fc.bias', t([1], 0.2)],
      [p + 'mlp.c_proj.weight', t([1, 2], 1, -1)], [p + 'mlp.c_proj.bias', t([2], 0, 0)],
      ['transformer.ln_f.weight', t([2], 2, 1)], ['transformer.ln_f.bias', t([2], 0, 0.5)],
    ]);
    const got = referenceForward(config, w, [2, 1]);
    const h0 = [1.5, 1], h1 = [0, 1.5];           // wte + wpe
    const x0 = ln2(h0[0], h0[1], [1, 1], [0, 0], eps), x1 = ln2(h1[0], h1[1], [1, 1], [0, 0], eps);
    const v = (x: number[]) => [x[0] + 0.5, x[0] + 2 * x[1]];
    const s10 = (x1[0] * x0[0]) / S2, s11 = (x1[0] * x1[0]) / S2;  // scores / sqrt(hd = 2)
    const p0 = Math.exp(s10) / (Math.exp(s10) + Math.exp(s11));
    const a0 = v(x0), a1 = [p0 * v(x0)[0] + (1 - p0) * v(x1)[0], p0 * v(x0)[1] + (1 - p0) * v(x1)[1]];
    const block = (h: number[], a: number[]) => {
      const r = [h[0] + a[0], h[1] + a[1] + 0.1];
      const g = geluTanh(ln2(r[0], r[1], [1, 1], [0, 0], eps)[0] + 0.2);
      const y = ln2(r[0] + g, r[1] - g, [2, 1], [0, 0.5], eps);
      return [y[0], y[1], y[0] + y[1]];
    };
    close(got, [...block(h0, a0), ...block(h1, a1)]);
  });
});
