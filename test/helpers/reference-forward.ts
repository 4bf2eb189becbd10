// Float64 reference forward pass of causal LMs, written from transformers' modeling code
// (LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM, OPTForCausalLM, GPT2LMHeadModel),
// one sequence, no cache, no padding: positions 0..T-1. Plain loops, nothing shared with the
// engine: the independent oracle the ONNX graphs are checked against.
//
// Input: the HF config.json object and float64 weights under their HF names and layouts
// (nn.Linear [out, in]; GPT-2 Conv1D [in, out]). Output: logits [T, vocab] row-major.
//
// Semantics mirrored (eval mode, dropout off):
//  Llama family: h = embed[id]; per layer h += o(attn(rms1(h))); h += down(act(gate(x)) * up(x)),
//    x = rms2(h); logits = lm_head(norm(h)) (embed_tokens when tied). RMSNorm x·rsqrt(mean(x²)+eps)·w.
//    RoPE rotate_half (HF) on q, k with inv_freq[i] = theta^(-2i/hd); ropeInterleaved: adjacent pairs
//    (Meta / llama2.c run.c). GQA: q head h reads kv head floor(h / (nh/nkv)) (repeat_kv).
//    Biases: llama attention_bias → q/k/v/o, mlp_bias → gate/up/down; qwen2 q/k/v always, o never.
//    Mistral sliding_window W: key j visible from query i iff i - j < W.
//  OPT: h = project_in(embed[id]) + embed_positions[pos + 2]; pre-LN (do_layer_norm_before) or
//    post-LN layers; q scaled by hd^-0.5; fc2(act(fc1)); final_layer_norm only when pre-LN;
//    project_out; logits = embed_tokens (always tied).
//  GPT-2: h = wte[id] + wpe[pos]; h += c_proj(attn(ln_1(h))); h += mlp(ln_2(h)); ln_f; logits = wte.
//    Conv1D: x @ W + b. Scores / sqrt(hd) (scale_attn_weights), / (layer+1) when
//    scale_attn_by_inverse_layer_idx.

export interface RefTensor { data: Float64Array; shape: number[] }
export type RefWeights = Map<string, RefTensor>;
export interface ReferenceOptions {
  /** Llama family: rotate adjacent pairs (2i, 2i+1) as Meta / llama2.c do, instead of HF's rotate_half. */
  ropeInterleaved?: boolean;
  /**
   * Llama family: a past K/V per layer in front of the sequence (prefix tuning, a KV cache): key[l] and value[l]
   * [nkv, P, hd] as the runtime caches them (keys already rotated for positions 0 … P − 1); the sequence then
   * starts at position P and attends to all P entries.
   */
  past?: { key: Float64Array[]; value: Float64Array[]; length: number };
}

type Cfg = Record<string, unknown>;

function num(c: Cfg, key: string, fallback?: number): number {
  const v = c[key];
  if (typeof v === 'number') return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw new Error(`reference: config.${key} is ${JSON.stringify(v)}, expected a number`);
}

function bool(c: Cfg, key: string, fallback: boolean): boolean {
  const v = c[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new Error(`reference: config.${key} is ${JSON.stringify(v)}, expected a boolean`);
  return v;
}

function getter(w: RefWeights) {
  const need = (name: string, shape: number[]): Float64Array => {
    const t = w.get(name);
    if (!t) throw new Error(`reference: missing weight '${name}'`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`reference: '${name}' has shape [${t.shape}], expected [${shape}]`);
    }
    if (t.data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`reference: '${name}' data length does not match its shape`);
    return t.data;
  };
  const maybe = (on: boolean, name: string, shape: number[]) => (on ? need(name, shape) : undefined);
  return { need, maybe };
}

// ---- primitives (exported so the tests can check them by hand) ----

/** y[t, o] = sum_i x[t, i] · W[o, i] + b[o]   (nn.Linear, W [out, in]). */
export function linear(x: Float64Array, T: number, inF: number, W: Float64Array, outF: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(T * outF);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[t * inF + i] * W[o * inF + i];
      y[t * outF + o] = s;
    }
  }
  return y;
}

/** y[t, o] = sum_i x[t, i] · W[i, o] + b[o]   (GPT-2 Conv1D, W [in, out]). */
export function conv1d(x: Float64Array, T: number, inF: number, W: Float64Array, outF: number, b: Float64Array): Float64Array {
  const y = new Float64Array(T * outF);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < outF; o++) {
      let s = b[o];
      for (let i = 0; i < inF; i++) s += x[t * inF + i] * W[i * outF + o];
      y[t * outF + o] = s;
    }
  }
  return y;
}

export function rmsNorm(x: Float64Array, T: number, d: number, w: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[t * d + i] ** 2;
    const r = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = x[t * d + i] * r * w[i];
  }
  return y;
}

/** nn.LayerNorm: (x - mean) / sqrt(var + eps) · w + b with the biased variance; w, b absent = no affine. */
export function layerNorm(x: Float64Array, T: number, d: number, w: Float64Array | undefined, b: Float64Array | undefined, eps: number): Float64Array {
  const y = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[t * d + i];
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[t * d + i] - mean) ** 2;
    const r = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = (x[t * d + i] - mean) * r * (w ? w[i] : 1) + (b ? b[i] : 0);
  }
  return y;
}

/** erf to ~1e-15: Taylor series for |x| < 2.5, continued fraction of erfc beyond. */
export function erf(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a < 2.5) {
    let term = a;
    let s = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      s += add;
      if (Math.abs(add) < 1e-17 * Math.abs(s)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * s;
  } else {
    // erfc(a) = exp(-a²)/sqrt(pi) · 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...)))), evaluated bottom-up
    let f = a;
    for (let k = 60; k >= 1; k--) f = a + (k / 2) / f;
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

export function activation(name: string): (x: number) => number {
  switch (name) {
    case 'silu': case 'swish': return (x) => x / (1 + Math.exp(-x));
    case 'relu': return (x) => (x > 0 ? x : 0);
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast':
      return (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    case 'gelu': return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    default: throw new Error(`reference: activation '${name}' is not supported`);
  }
}

/**
 * Rotate one head vector v (length hd) in place for position pos.
 * rotate_half: pairs (i, i + hd/2) with angle pos · theta^(-2i/hd);
 * interleaved: pairs (2i, 2i + 1) with the same angle.
 */
export function ropeRotate(v: Float64Array, offset: number, hd: number, pos: number, theta: number, interleaved: boolean): void {
  const half = hd / 2;
  for (let i = 0; i < half; i++) {
    const ang = pos * Math.pow(theta, (-2 * i) / hd);
    const c = Math.cos(ang);
    const s = Math.sin(ang);
    const a = interleaved ? offset + 2 * i : offset + i;
    const b = interleaved ? a + 1 : a + half;
    const x0 = v[a];
    const x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x1 * c + x0 * s;
  }
}

/**
 * Causal multi-head attention. q [T, nh·hd], k, v [T, nkv·hd]; q head h uses kv head
 * floor(h / (nh / nkv)). Returns [T, nh·hd]. scores = q·k · scale, keys j ≤ i (and i - j < window).
 */
export function attention(q: Float64Array, k: Float64Array, v: Float64Array, T: number, nh: number, nkv: number, hd: number,
  scale: number, window = Infinity): Float64Array {
  if (nh % nkv !== 0) throw new Error(`reference: ${nh} heads are not a multiple of ${nkv} kv heads`);
  const rep = nh / nkv;
  const out = new Float64Array(T * nh * hd);
  const scores = new Float64Array(T);
  for (let h = 0; h < nh; h++) {
    const g = Math.floor(h / rep);
    for (let i = 0; i < T; i++) {
      const j0 = Math.max(0, i - window + 1);
      let max = -Infinity;
      for (let j = j0; j <= i; j++) {
        let s = 0;
        for (let e = 0; e < hd; e++) s += q[(i * nh + h) * hd + e] * k[(j * nkv + g) * hd + e];
        scores[j] = s * scale;
        if (scores[j] > max) max = scores[j];
      }
      let sum = 0;
      for (let j = j0; j <= i; j++) { scores[j] = Math.exp(scores[j] - max); sum += scores[j]; }
      for (let e = 0; e < hd; e++) {
        let acc = 0;
        for (let j = j0; j <= i; j++) acc += scores[j] * v[(j * nkv + g) * hd + e];
        out[(i * nh + h) * hd + e] = acc / sum;
      }
    }
  }
  return out;
}

/**
 * Attention of T new positions after P past ones: past keys/values [nkv, P, hd] go in front of k, v [T, nkv·hd],
 * and q gets P rows of zeros whose outputs are dropped (causality lets row P + i see every past entry).
 */
function withPast(q: Float64Array, k: Float64Array, v: Float64Array, T: number, nh: number, nkv: number, hd: number,
  pk: Float64Array, pv: Float64Array, P: number, window: number): Float64Array {
  const cat = (past: Float64Array, now: Float64Array) => {
    const y = new Float64Array((P + T) * nkv * hd);
    for (let g = 0; g < nkv; g++) for (let j = 0; j < P; j++) {
      y.set(past.subarray((g * P + j) * hd, (g * P + j + 1) * hd), (j * nkv + g) * hd);
    }
    y.set(now, P * nkv * hd);
    return y;
  };
  const qq = new Float64Array((P + T) * nh * hd);
  qq.set(q, P * nh * hd);
  return attention(qq, cat(pk, k), cat(pv, v), P + T, nh, nkv, hd, 1 / Math.sqrt(hd), window).subarray(P * nh * hd);
}

function addInto(h: Float64Array, x: Float64Array): void {
  for (let i = 0; i < h.length; i++) h[i] += x[i];
}

function gather(table: Float64Array, d: number, rows: number[]): Float64Array {
  const y = new Float64Array(rows.length * d);
  rows.forEach((r, t) => y.set(table.subarray(r * d, (r + 1) * d), t * d));
  return y;
}

function checkIds(ids: number[], vocab: number, maxPos: number | undefined): void {
  if (ids.length === 0) throw new Error('reference: empty sequence');
  for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`reference: token id ${id} outside [0, ${vocab})`);
  if (maxPos !== undefined && ids.length > maxPos) throw new Error(`reference: ${ids.length} tokens exceed ${maxPos} positions`);
}

// ---- families ----

function llamaForward(c: Cfg, w: RefWeights, ids: number[], opts: ReferenceOptions): Float64Array {
  const type = c.model_type as string;
  const { need, maybe } = getter(w);
  const V = num(c, 'vocab_size'), d = num(c, 'hidden_size'), L = num(c, 'num_hidden_layers');
  const nh = num(c, 'num_attention_heads'), nkv = num(c, 'num_key_value_heads', nh);
  const hd = num(c, 'head_dim', d / nh), ff = num(c, 'intermediate_size');
  const eps = num(c, 'rms_norm_eps', 1e-6), theta = num(c, 'rope_theta', 10000);
  const act = activation((c.hidden_act as string | undefined) ?? 'silu');
  const rs = c.rope_scaling as { rope_type?: string; type?: string } | null | undefined;
  if (rs && (rs.rope_type ?? rs.type) !== 'default') throw new Error(`reference: rope_scaling ${JSON.stringify(rs)} is not supported`);
  if (c.partial_rotary_factor !== undefined && c.partial_rotary_factor !== 1) throw new Error('reference: partial_rotary_factor is not supported');
  if (type === 'qwen2' && c.use_sliding_window === true) throw new Error('reference: qwen2 use_sliding_window is not supported');
  const window = type === 'mistral' && typeof c.sliding_window === 'number' ? c.sliding_window : Infinity;
  const qkvBias = type === 'qwen2' || (type === 'llama' && bool(c, 'attention_bias', false));
  const oBias = type === 'llama' && bool(c, 'attention_bias', false);
  const mlpBias = type === 'llama' && bool(c, 'mlp_bias', false);
  const tied = bool(c, 'tie_word_embeddings', false);
  checkIds(ids, V, undefined);
  const T = ids.length;
  const embed = need('model.embed_tokens.weight', [V, d]);
  const h = gather(embed, d, ids);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const x = rmsNorm(h, T, d, need(p + 'input_layernorm.weight', [d]), eps);
    const proj = (n: string, o: number, bias: boolean) =>
      linear(x, T, d, need(`${p}self_attn.${n}.weight`, [o, d]), o, maybe(bias, `${p}self_attn.${n}.bias`, [o]));
    const q = proj('q_proj', nh * hd, qkvBias);
    const k = proj('k_proj', nkv * hd, qkvBias);
    const v = proj('v_proj', nkv * hd, qkvBias);
    const P = opts.past?.length ?? 0;
    for (let t = 0; t < T; t++) {
      for (let hh = 0; hh < nh; hh++) ropeRotate(q, (t * nh + hh) * hd, hd, P + t, theta, !!opts.ropeInterleaved);
      for (let g = 0; g < nkv; g++) ropeRotate(k, (t * nkv + g) * hd, hd, P + t, theta, !!opts.ropeInterleaved);
    }
    const a = P === 0 ? attention(q, k, v, T, nh, nkv, hd, 1 / Math.sqrt(hd), window)
      : withPast(q, k, v, T, nh, nkv, hd, opts.past!.key[l], opts.past!.value[l], P, window);
    addInto(h, linear(a, T, nh * hd, need(p + 'self_attn.o_proj.weight', [d, nh * hd]), d, maybe(oBias, p + 'self_attn.o_proj.bias', [d])));
    const x2 = rmsNorm(h, T, d, need(p + 'post_attention_layernorm.weight', [d]), eps);
    const gate = linear(x2, T, d, need(p + 'mlp.gate_proj.weight', [ff, d]), ff, maybe(mlpBias, p + 'mlp.gate_proj.bias', [ff]));
    const up = linear(x2, T, d, need(p + 'mlp.up_proj.weight', [ff, d]), ff, maybe(mlpBias, p + 'mlp.up_proj.bias', [ff]));
    for (let i = 0; i < gate.length; i++) gate[i] = act(gate[i]) * up[i];
    addInto(h, linear(gate, T, ff, need(p + 'mlp.down_proj.weight', [d, ff]), d, maybe(mlpBias, p + 'mlp.down_proj.bias', [d])));
  }
  const out = rmsNorm(h, T, d, need('model.norm.weight', [d]), eps);
  return linear(out, T, d, tied ? embed : need('lm_head.weight', [V, d]), V);
}

function optForward(c: Cfg, w: RefWeights, ids: number[]): Float64Array {
  const { need, maybe } = getter(w);
  const V = num(c, 'vocab_size'), d = num(c, 'hidden_size'), L = num(c, 'num_hidden_layers');
  const nh = num(c, 'num_attention_heads'), ff = num(c, 'ffn_dim'), P = num(c, 'max_position_embeddings');
  const e = num(c, 'word_embed_proj_dim', d);
  const pre = bool(c, 'do_layer_norm_before', true);
  const bias = bool(c, 'enable_bias', true);
  const affine = bool(c, 'layer_norm_elementwise_affine', true);
  const finalLn = pre && !bool(c, '_remove_final_layer_norm', false);
  const act = activation((c.activation_function as string | undefined) ?? 'relu');
  if (!bool(c, 'tie_word_embeddings', true)) throw new Error('reference: untied OPT is not supported');
  if (d % nh !== 0) throw new Error('reference: hidden_size is not a multiple of num_attention_heads');
  const hd = d / nh;
  checkIds(ids, V, P);
  const T = ids.length;
  const ln = (x: Float64Array, name: string) =>
    layerNorm(x, T, d, maybe(affine, name + '.weight', [d]), maybe(affine, name + '.bias', [d]), 1e-5);
  const lin = (x: Float64Array, name: string, o: number, i: number) =>
    linear(x, T, i, need(name + '.weight', [o, i]), o, maybe(bias, name + '.bias', [o]));
  const embed = need('model.decoder.embed_tokens.weight', [V, e]);
  let h = gather(embed, e, ids);
  if (e !== d) h = linear(h, T, e, need('model.decoder.project_in.weight', [d, e]), d);
  addInto(h, gather(need('model.decoder.embed_positions.weight', [P + 2, d]), d, ids.map((_, t) => t + 2)));
  for (let l = 0; l < L; l++) {
    const p = `model.decoder.layers.${l}.`;
    const x = pre ? ln(h, p + 'self_attn_layer_norm') : h;
    const q = lin(x, p + 'self_attn.q_proj', d, d);
    for (let i = 0; i < q.length; i++) q[i] *= hd ** -0.5;
    const a = attention(q, lin(x, p + 'self_attn.k_proj', d, d), lin(x, p + 'self_attn.v_proj', d, d), T, nh, nh, hd, 1);
    addInto(h, lin(a, p + 'self_attn.out_proj', d, d));
    if (!pre) h = ln(h, p + 'self_attn_layer_norm');
    const x2 = pre ? ln(h, p + 'final_layer_norm') : h;
    const f = lin(x2, p + 'fc1', ff, d);
    for (let i = 0; i < f.length; i++) f[i] = act(f[i]);
    addInto(h, lin(f, p + 'fc2', d, ff));
    if (!pre) h = ln(h, p + 'final_layer_norm');
  }
  if (finalLn) h = ln(h, 'model.decoder.final_layer_norm');
  if (e !== d) h = linear(h, T, d, need('model.decoder.project_out.weight', [e, d]), e);
  return linear(h, T, e, embed, V);
}

function gpt2Forward(c: Cfg, w: RefWeights, ids: number[]): Float64Array {
  const { need } = getter(w);
  const V = num(c, 'vocab_size'), d = num(c, 'n_embd'), L = num(c, 'n_layer'), nh = num(c, 'n_head');
  const P = num(c, 'n_positions'), ff = num(c, 'n_inner', 4 * d), eps = num(c, 'layer_norm_epsilon', 1e-5);
  const act = activation((c.activation_function as string | undefined) ?? 'gelu_new');
  const scaleW = bool(c, 'scale_attn_weights', true), byLayer = bool(c, 'scale_attn_by_inverse_layer_idx', false);
  if (!bool(c, 'tie_word_embeddings', true)) throw new Error('reference: untied GPT-2 is not supported');
  if (d % nh !== 0) throw new Error('reference: n_embd is not a multiple of n_head');
  const hd = d / nh;
  checkIds(ids, V, P);
  const T = ids.length;
  const ln = (x: Float64Array, name: string) => layerNorm(x, T, d, need(name + '.weight', [d]), need(name + '.bias', [d]), eps);
  const conv = (x: Float64Array, name: string, i: number, o: number) => conv1d(x, T, i, need(name + '.weight', [i, o]), o, need(name + '.bias', [o]));
  const wte = need('transformer.wte.weight', [V, d]);
  const h = gather(wte, d, ids);
  addInto(h, gather(need('transformer.wpe.weight', [P, d]), d, ids.map((_, t) => t)));
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}.`;
    const qkv = conv(ln(h, p + 'ln_1'), p + 'attn.c_attn', d, 3 * d);
    const q = new Float64Array(T * d), k = new Float64Array(T * d), v = new Float64Array(T * d);
    for (let t = 0; t < T; t++) {
      q.set(qkv.subarray(t * 3 * d, t * 3 * d + d), t * d);
      k.set(qkv.subarray(t * 3 * d + d, t * 3 * d + 2 * d), t * d);
      v.set(qkv.subarray(t * 3 * d + 2 * d, t * 3 * d + 3 * d), t * d);
    }
    const scale = (scaleW ? 1 / Math.sqrt(hd) : 1) / (byLayer ? l + 1 : 1);
    addInto(h, conv(attention(q, k, v, T, nh, nh, hd, scale), p + 'attn.c_proj', d, d));
    const f = conv(ln(h, p + 'ln_2'), p + 'mlp.c_fc', d, ff);
    for (let i = 0; i < f.length; i++) f[i] = act(f[i]);
    addInto(h, conv(f, p + 'mlp.c_proj', ff, d));
  }
  return linear(ln(h, 'transformer.ln_f'), T, d, wte, V);
}

/** Logits [T, vocab] (row-major) of one sequence of token ids, in float64. */
export function referenceForward(config: object, weights: RefWeights, ids: number[], opts: ReferenceOptions = {}): Float64Array {
  const c = config as Cfg;
  switch (c.model_type) {
    case 'llama': case 'mistral': case 'qwen2': return llamaForward(c, weights, ids, opts);
    case 'opt': return optForward(c, weights, ids);
    case 'gpt2': return gpt2Forward(c, weights, ids);
    default: throw new Error(`reference: model_type ${JSON.stringify(c.model_type)} is not supported`);
  }
}

/** Row t of a [T, V] logits array. */
export function logitsAt(logits: Float64Array, vocab: number, t: number): Float64Array {
  return logits.subarray(t * vocab, (t + 1) * vocab);
}
