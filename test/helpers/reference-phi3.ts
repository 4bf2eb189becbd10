// Tiny Phi-3 checkpoints and their float64 reference forward, written from transformers' Phi3 modeling
// (Phi3ForCausalLM, eval mode, one sequence at positions 0..T-1, no cache). Nothing shared with the
// engine's model code: the config keys, tensor names, fused layouts and the math are written out here.
//
//   h = embed[ids]
//   per layer: x = rms(h)·w_in;  [q | k | v] = x·qkv_projᵀ  (rows: H·D, K·D, K·D)
//              RoPE on the first R = D·partial_rotary_factor dims of each q/k head (rotate_half over
//              those R dims), inv_freq[i] = 1 / (ext[i] · θ^(2i/R)), ext = 1, or longrope's short_factor /
//              long_factor (long when T > original_max_position_embeddings), cos and sin × attention factor
//              causal attention (GQA, scale D^−½, keys i − j < sliding_window), h += o_proj(ctx)
//              x = rms(h)·w_post;  [gate | up] = x·gate_up_projᵀ (rows: ff, ff);  h += down(silu(gate)·up)
//   logits = (rms(h)·w_norm)·lm_headᵀ  (embed_tokens when tied)

import * as fs from 'fs';
import * as path from 'path';
import { writeSafetensors, TensorToWrite } from '../../src/engine/formats/safetensors';
import { attention, linear, rmsNorm, RefWeights } from './reference-forward';
import { seededNormal } from './oracle-models';

export interface Phi3Spec {
  vocab: number; hidden: number; layers: number; heads: number; kvHeads: number; ffn: number;
  maxPositions?: number;          // default 64
  tied?: boolean;
  partialRotaryFactor?: number;   // written only when given
  slidingWindow?: number | null;  // default null
  theta?: number;
  /** longrope: factors per rotary frequency, and the pretrained context they switch at. */
  longrope?: { short: number[]; long: number[]; original: number; attentionFactor?: number };
  seed?: number;
}

export function phi3Config(s: Phi3Spec): Record<string, unknown> {
  const c: Record<string, unknown> = {
    architectures: ['Phi3ForCausalLM'], model_type: 'phi3', vocab_size: s.vocab, hidden_size: s.hidden, intermediate_size: s.ffn,
    num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, hidden_act: 'silu',
    max_position_embeddings: s.maxPositions ?? 64, original_max_position_embeddings: s.longrope?.original ?? s.maxPositions ?? 64,
    rms_norm_eps: 1e-5, rope_theta: s.theta ?? 10000, rope_scaling: null, tie_word_embeddings: s.tied ?? false,
    sliding_window: s.slidingWindow ?? null, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, attention_dropout: 0,
    embd_pdrop: 0, resid_pdrop: 0, initializer_range: 0.02, torch_dtype: 'float32', transformers_version: '4.46.3', use_cache: true,
  };
  if (s.partialRotaryFactor !== undefined) c.partial_rotary_factor = s.partialRotaryFactor;
  if (s.longrope) {
    c.rope_scaling = { type: 'longrope', short_factor: s.longrope.short, long_factor: s.longrope.long,
      ...(s.longrope.attentionFactor !== undefined ? { attention_factor: s.longrope.attentionFactor } : {}) };
  }
  return c;
}

/** HF tensor names and shapes of a Phi-3 checkpoint. */
export function phi3Shapes(s: Phi3Spec): Map<string, number[]> {
  const hd = s.hidden / s.heads;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [s.vocab, s.hidden]);
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}.`;
    m.set(`${p}input_layernorm.weight`, [s.hidden]);
    m.set(`${p}self_attn.qkv_proj.weight`, [(s.heads + 2 * s.kvHeads) * hd, s.hidden]);
    m.set(`${p}self_attn.o_proj.weight`, [s.hidden, s.heads * hd]);
    m.set(`${p}post_attention_layernorm.weight`, [s.hidden]);
    m.set(`${p}mlp.gate_up_proj.weight`, [2 * s.ffn, s.hidden]);
    m.set(`${p}mlp.down_proj.weight`, [s.hidden, s.ffn]);
  }
  m.set('model.norm.weight', [s.hidden]);
  if (!s.tied) m.set('lm_head.weight', [s.vocab, s.hidden]);
  return m;
}

/** Random float32-representable weights: matrices N(0, 1/fan_in), norms 1 ± 0.1, biases N(0, 0.1), embeddings N(0, 0.5). */
export function randomWeights(shapes: Map<string, number[]>, seed: number, embedStd = 0.5): RefWeights {
  const w: RefWeights = new Map();
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = name.endsWith('norm.weight') ? seededNormal(seed, name, n, 1, 0.1)
      : shape.length === 1 ? seededNormal(seed, name, n, 0, 0.1)
      : name.includes('embed_tokens') || name.startsWith('lm_head') ? seededNormal(seed, name, n, 0, embedStd)
        : seededNormal(seed, name, n, 0, 1 / Math.sqrt(shape[1]));
    w.set(name, { data: Float64Array.from(Float32Array.from(data)), shape });
  }
  return w;
}

/** config.json + model.safetensors (F32) of `weights` into `dir`. */
export function writeHfFolder(dir: string, config: Record<string, unknown>, weights: RefWeights): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const t: Record<string, TensorToWrite> = {};
  for (const [name, { data, shape }] of weights) t[name] = { dtype: 'F32', shape, data: Float32Array.from(data) };
  writeSafetensors(path.join(dir, 'model.safetensors'), t, { format: 'pt' });
}

export function writePhi3(dir: string, s: Phi3Spec): { dir: string; config: Record<string, unknown>; weights: RefWeights } {
  const config = phi3Config(s);
  const weights = randomWeights(phi3Shapes(s), s.seed ?? 1);
  writeHfFolder(dir, config, weights);
  return { dir, config, weights };
}

/** Rotate the first `r` dims of each head (rotate_half over those dims) in place. */
function rope(x: Float64Array, T: number, heads: number, hd: number, r: number, invFreq: number[], scale: number): void {
  const half = r / 2;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const o = (t * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const a = t * invFreq[i];
        const c = Math.cos(a) * scale;
        const s = Math.sin(a) * scale;
        const x1 = x[o + i];
        const x2 = x[o + half + i];
        x[o + i] = x1 * c - x2 * s;
        x[o + half + i] = x2 * c + x1 * s;
      }
    }
  }
}

/** Logits [T, vocab] of a Phi-3 config (config.json object) and float64 weights. */
export function phi3Forward(c: Record<string, unknown>, w: RefWeights, ids: number[]): Float64Array {
  const num = (k: string) => c[k] as number;
  const d = num('hidden_size');
  const H = num('num_attention_heads');
  const K = num('num_key_value_heads');
  const hd = d / H;
  const ff = num('intermediate_size');
  const V = num('vocab_size');
  const eps = num('rms_norm_eps');
  const T = ids.length;
  const R = Math.floor(hd * ((c.partial_rotary_factor as number | undefined) ?? 1));
  const theta = num('rope_theta');
  const scaling = c.rope_scaling as { short_factor: number[]; long_factor: number[]; attention_factor?: number } | null;
  let ext = Array.from({ length: R / 2 }, () => 1);
  let attnFactor = 1;
  if (scaling) {
    const original = num('original_max_position_embeddings');
    ext = T > original ? scaling.long_factor : scaling.short_factor;
    const factor = num('max_position_embeddings') / original;
    attnFactor = scaling.attention_factor ?? (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original)));
  }
  const invFreq = ext.map((e, i) => 1 / (e * theta ** ((2 * i) / R)));
  const window = (c.sliding_window as number | null) ?? Infinity;
  const get = (n: string) => w.get(n)!.data;

  const E = get('model.embed_tokens.weight');
  const h = new Float64Array(T * d);
  ids.forEach((id, t) => h.set(E.subarray(id * d, (id + 1) * d), t * d));
  for (let l = 0; l < num('num_hidden_layers'); l++) {
    const p = `model.layers.${l}.`;
    const x = rmsNorm(h, T, d, get(`${p}input_layernorm.weight`), eps);
    const qkv = linear(x, T, d, get(`${p}self_attn.qkv_proj.weight`), (H + 2 * K) * hd);
    const q = new Float64Array(T * H * hd);
    const k = new Float64Array(T * K * hd);
    const v = new Float64Array(T * K * hd);
    const W = (H + 2 * K) * hd;
    for (let t = 0; t < T; t++) {
      q.set(qkv.subarray(t * W, t * W + H * hd), t * H * hd);
      k.set(qkv.subarray(t * W + H * hd, t * W + (H + K) * hd), t * K * hd);
      v.set(qkv.subarray(t * W + (H + K) * hd, (t + 1) * W), t * K * hd);
    }
    rope(q, T, H, hd, R, invFreq, attnFactor);
    rope(k, T, K, hd, R, invFreq, attnFactor);
    const ctx = attention(q, k, v, T, H, K, hd, 1 / Math.sqrt(hd), window);
    const o = linear(ctx, T, H * hd, get(`${p}self_attn.o_proj.weight`), d);
    for (let i = 0; i < h.length; i++) h[i] += o[i];
    const x2 = rmsNorm(h, T, d, get(`${p}post_attention_layernorm.weight`), eps);
    const gu = linear(x2, T, d, get(`${p}mlp.gate_up_proj.weight`), 2 * ff);
    const m = new Float64Array(T * ff);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < ff; j++) {
        const g = gu[t * 2 * ff + j];
        m[t * ff + j] = (g / (1 + Math.exp(-g))) * gu[t * 2 * ff + ff + j];
      }
    }
    const down = linear(m, T, ff, get(`${p}mlp.down_proj.weight`), d);
    for (let i = 0; i < h.length; i++) h[i] += down[i];
  }
  const hn = rmsNorm(h, T, d, get('model.norm.weight'), eps);
  return linear(hn, T, d, c.tie_word_embeddings ? E : get('lm_head.weight'), V);
}
