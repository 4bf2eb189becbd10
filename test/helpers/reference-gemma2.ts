// Tiny Gemma 2 checkpoints and their float64 reference forward, written from transformers' Gemma2
// modeling (Gemma2ForCausalLM, eager attention, eval mode, one sequence at positions 0..T-1, no cache).
// Nothing shared with the engine's model code.
//
//   h = embed[ids] · fp32(√d)
//   norm(x, w) = x · rsqrt(mean(x²) + eps) · (1 + w)
//   per layer l: q, k, v = norm(h, w_in)·W (+ b); RoPE rotate_half over the whole head (θ)
//                s = q·k · query_pre_attn_scalar^−½;  s = cap · tanh(s / cap) (attn_logit_softcapping)
//                causal; a sliding layer (layer_types, else even l) sees keys with i − j < sliding_window
//                h += norm(o_proj(softmax(s)·v), w_post_attn)
//                h += norm(down(gelu_tanh(gate(x)) · up(x)), w_post_ff),  x = norm(h, w_pre_ff)
//   logits = norm(h, w_norm)·embedᵀ;  logits = cap · tanh(logits / cap) (final_logit_softcapping)

import type { RefWeights } from './reference-forward';
import { linear } from './reference-forward';
import { randomWeights, writeHfFolder } from './reference-phi3';

export interface Gemma2Spec {
  vocab: number; hidden: number; layers: number; heads: number; kvHeads: number; headDim: number; ffn: number;
  queryPreAttnScalar?: number;            // default headDim
  slidingWindow?: number | null;          // default 4096
  attnSoftcap?: number | null;            // default 50
  finalSoftcap?: number | null;           // default 30
  layerTypes?: Array<'sliding_attention' | 'full_attention'>;
  attentionBias?: boolean;
  theta?: number;
  seed?: number;
}

export function gemma2Config(s: Gemma2Spec): Record<string, unknown> {
  const c: Record<string, unknown> = {
    architectures: ['Gemma2ForCausalLM'], model_type: 'gemma2', vocab_size: s.vocab, hidden_size: s.hidden,
    intermediate_size: s.ffn, num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads,
    head_dim: s.headDim, hidden_act: 'gelu_pytorch_tanh', hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 64,
    rms_norm_eps: 1e-6, rope_theta: s.theta ?? 10000, attention_bias: s.attentionBias ?? false, attention_dropout: 0,
    query_pre_attn_scalar: s.queryPreAttnScalar ?? s.headDim,
    sliding_window: s.slidingWindow === undefined ? 4096 : s.slidingWindow,
    attn_logit_softcapping: s.attnSoftcap === undefined ? 50 : s.attnSoftcap,
    final_logit_softcapping: s.finalSoftcap === undefined ? 30 : s.finalSoftcap,
    bos_token_id: 2, eos_token_id: 1, pad_token_id: 0, cache_implementation: 'hybrid', initializer_range: 0.02,
    torch_dtype: 'float32', transformers_version: '4.46.3', use_cache: true,
  };
  if (s.layerTypes) c.layer_types = s.layerTypes;
  return c;
}

/** HF tensor names and shapes of a Gemma 2 checkpoint (head tied: no lm_head). */
export function gemma2Shapes(s: Gemma2Spec): Map<string, number[]> {
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [s.vocab, s.hidden]);
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}.`;
    m.set(`${p}input_layernorm.weight`, [s.hidden]);
    m.set(`${p}self_attn.q_proj.weight`, [q, s.hidden]);
    m.set(`${p}self_attn.k_proj.weight`, [kv, s.hidden]);
    m.set(`${p}self_attn.v_proj.weight`, [kv, s.hidden]);
    m.set(`${p}self_attn.o_proj.weight`, [s.hidden, q]);
    if (s.attentionBias) {
      m.set(`${p}self_attn.q_proj.bias`, [q]);
      m.set(`${p}self_attn.k_proj.bias`, [kv]);
      m.set(`${p}self_attn.v_proj.bias`, [kv]);
      m.set(`${p}self_attn.o_proj.bias`, [s.hidden]);
    }
    m.set(`${p}post_attention_layernorm.weight`, [s.hidden]);
    m.set(`${p}pre_feedforward_layernorm.weight`, [s.hidden]);
    m.set(`${p}post_feedforward_layernorm.weight`, [s.hidden]);
    m.set(`${p}mlp.gate_proj.weight`, [s.ffn, s.hidden]);
    m.set(`${p}mlp.up_proj.weight`, [s.ffn, s.hidden]);
    m.set(`${p}mlp.down_proj.weight`, [s.hidden, s.ffn]);
  }
  m.set('model.norm.weight', [s.hidden]);
  return m;
}

export function writeGemma2(dir: string, s: Gemma2Spec): { dir: string; config: Record<string, unknown>; weights: RefWeights } {
  const config = gemma2Config(s);
  const weights = randomWeights(gemma2Shapes(s), s.seed ?? 1);
  // Gemma stores norm weights as offsets from 1 (zeros at init): small values around 0
  for (const [name, t] of weights) if (name.endsWith('norm.weight')) for (let i = 0; i < t.data.length; i++) t.data[i] = Math.fround(t.data[i] - 1);
  writeHfFolder(dir, config, weights);
  return { dir, config, weights };
}

function norm1p(x: Float64Array, T: number, d: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[t * d + i] ** 2;
    const r = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = x[t * d + i] * r * (1 + w[i]);
  }
  return y;
}

const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Logits [T, vocab] of a Gemma 2 config (config.json object) and float64 weights. */
export function gemma2Forward(c: Record<string, unknown>, w: RefWeights, ids: number[]): Float64Array {
  const num = (k: string) => c[k] as number;
  const d = num('hidden_size');
  const H = num('num_attention_heads');
  const K = num('num_key_value_heads');
  const hd = num('head_dim');
  const ff = num('intermediate_size');
  const V = num('vocab_size');
  const L = num('num_hidden_layers');
  const eps = num('rms_norm_eps');
  const T = ids.length;
  const scale = num('query_pre_attn_scalar') ** -0.5;
  const cap = c.attn_logit_softcapping as number | null;
  const finalCap = c.final_logit_softcapping as number | null;
  const window = c.sliding_window as number | null;
  const types = c.layer_types as string[] | undefined;
  const sliding = (l: number) => window !== null && (types ? types[l] === 'sliding_attention' : l % 2 === 0);
  const get = (n: string) => w.get(n)?.data;
  const theta = num('rope_theta');

  const E = get('model.embed_tokens.weight')!;
  const normalizer = Math.fround(Math.sqrt(d));
  const h = new Float64Array(T * d);
  ids.forEach((id, t) => { for (let i = 0; i < d; i++) h[t * d + i] = E[id * d + i] * normalizer; });
  const rope = (x: Float64Array, heads: number) => {
    const half = hd / 2;
    for (let t = 0; t < T; t++) for (let hh = 0; hh < heads; hh++) {
      const o = (t * heads + hh) * hd;
      for (let i = 0; i < half; i++) {
        const a = t / theta ** ((2 * i) / hd);
        const x1 = x[o + i];
        const x2 = x[o + half + i];
        x[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        x[o + half + i] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
  };
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const x = norm1p(h, T, d, get(`${p}input_layernorm.weight`)!, eps);
    const q = linear(x, T, d, get(`${p}self_attn.q_proj.weight`)!, H * hd, get(`${p}self_attn.q_proj.bias`));
    const k = linear(x, T, d, get(`${p}self_attn.k_proj.weight`)!, K * hd, get(`${p}self_attn.k_proj.bias`));
    const v = linear(x, T, d, get(`${p}self_attn.v_proj.weight`)!, K * hd, get(`${p}self_attn.v_proj.bias`));
    rope(q, H);
    rope(k, K);
    const ctx = new Float64Array(T * H * hd);
    const s = new Float64Array(T);
    for (let hh = 0; hh < H; hh++) {
      const g = Math.floor(hh / (H / K));
      for (let i = 0; i < T; i++) {
        const j0 = sliding(l) ? Math.max(0, i - window! + 1) : 0;
        let max = -Infinity;
        for (let j = j0; j <= i; j++) {
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += q[(i * H + hh) * hd + e] * k[(j * K + g) * hd + e];
          let sc = dot * scale;
          if (cap !== null) sc = cap * Math.tanh(sc / cap);
          s[j] = sc;
          max = Math.max(max, sc);
        }
        let sum = 0;
        for (let j = j0; j <= i; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          for (let j = j0; j <= i; j++) acc += s[j] * v[(j * K + g) * hd + e];
          ctx[(i * H + hh) * hd + e] = acc / sum;
        }
      }
    }
    const a = norm1p(linear(ctx, T, H * hd, get(`${p}self_attn.o_proj.weight`)!, d, get(`${p}self_attn.o_proj.bias`)), T, d,
      get(`${p}post_attention_layernorm.weight`)!, eps);
    for (let i = 0; i < h.length; i++) h[i] += a[i];
    const x2 = norm1p(h, T, d, get(`${p}pre_feedforward_layernorm.weight`)!, eps);
    const gate = linear(x2, T, d, get(`${p}mlp.gate_proj.weight`)!, ff);
    const up = linear(x2, T, d, get(`${p}mlp.up_proj.weight`)!, ff);
    for (let i = 0; i < gate.length; i++) gate[i] = geluTanh(gate[i]) * up[i];
    const m = norm1p(linear(gate, T, ff, get(`${p}mlp.down_proj.weight`)!, d), T, d, get(`${p}post_feedforward_layernorm.weight`)!, eps);
    for (let i = 0; i < h.length; i++) h[i] += m[i];
  }
  const logits = linear(norm1p(h, T, d, get('model.norm.weight')!, eps), T, d, get('lm_head.weight') ?? E, V);
  if (finalCap !== null) for (let i = 0; i < logits.length; i++) logits[i] = finalCap * Math.tanh(logits[i] / finalCap);
  return logits;
}
