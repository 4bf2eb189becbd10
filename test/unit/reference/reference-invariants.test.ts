// Invariants the float64 oracle must satisfy on the seeded tiny models: causality, RoPE's
// rotation properties, GQA ≡ MHA with duplicated kv weights, tied ≡ untied with lm_head = embed,
// the sliding window, and non-degenerate logits.

import * as assert from 'assert';
import { referenceForward, ropeRotate, RefWeights } from '../../helpers/reference-forward';
import { TINY_SPECS, TinySpecName, TinyModelSpec, tinyConfig, tinyWeights } from '../../helpers/oracle-models';

const NAMES = Object.keys(TINY_SPECS) as TinySpecName[];
const spec = (n: TinySpecName): TinyModelSpec => TINY_SPECS[n];
const vocabOf = (c: Record<string, unknown>) => c.vocab_size as number;
function ids(n: number, vocab: number, seed: number): number[] {
  const out: number[] = [];
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; out.push(s % vocab); }
  return out;
}
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.strictEqual(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);
const clone = (w: RefWeights): RefWeights => new Map([...w].map(([k, v]) => [k, { shape: [...v.shape], data: v.data.slice() }]));

describe('reference forward: invariants', () => {
  for (const name of NAMES) {
    it(`${name}: causal — logits at t ignore tokens after t`, () => {
      const c = tinyConfig(spec(name));
      const w = tinyWeights(spec(name));
      const V = vocabOf(c);
      const a = ids(10, V, 3);
      const b = [...a.slice(0, 4), ...ids(6, V, 99)];
      assert.notDeepStrictEqual(a, b);
      const la = referenceForward(c, w, a), lb = referenceForward(c, w, b);
      assert.strictEqual(la.length, 10 * V);
      assert.strictEqual(maxDiff(la.subarray(0, 4 * V), lb.subarray(0, 4 * V)), 0);
      assert.ok(maxDiff(la.subarray(4 * V), lb.subarray(4 * V)) > 1e-3, 'later positions should change');
    });
    it(`${name}: logits are finite and not degenerate`, () => {
      const c = tinyConfig(spec(name));
      const V = vocabOf(c);
      const l = referenceForward(c, tinyWeights(spec(name)), ids(6, V, 7));
      for (let t = 0; t < 6; t++) {
        const row = l.subarray(t * V, (t + 1) * V);
        assert.ok(row.every(Number.isFinite));
        const mean = row.reduce((s, x) => s + x, 0) / V;
        const std = Math.sqrt(row.reduce((s, x) => s + (x - mean) ** 2, 0) / V);
        assert.ok(std > 0.3 && std < 20, `${name} t=${t}: logit std ${std}`);
      }
    });
  }

  it('RoPE: equal positions keep dot products (rotation-invariant); only the distance matters', () => {
    const q = Float64Array.from({ length: 16 }, (_, i) => Math.sin(i + 1));
    const k = Float64Array.from({ length: 16 }, (_, i) => Math.cos(3 * i));
    for (const inter of [false, true]) {
      for (const pos of [0, 1, 7, 63]) {
        const a = q.slice(), b = k.slice(), qq = q.slice();
        ropeRotate(a, 0, 16, pos, 10000, inter);
        ropeRotate(b, 0, 16, pos, 10000, inter);
        ropeRotate(qq, 0, 16, pos, 10000, inter);
        assert.ok(Math.abs(dot(a, b) - dot(q, k)) < 1e-12, 'q·k at zero distance');
        assert.ok(Math.abs(dot(qq, qq) - dot(q, q)) < 1e-12, 'norm preserved');
      }
      const at = (m: number, n: number) => {
        const a = q.slice(), b = k.slice();
        ropeRotate(a, 0, 16, m, 10000, inter);
        ropeRotate(b, 0, 16, n, 10000, inter);
        return dot(a, b);
      };
      assert.ok(Math.abs(at(5, 2) - at(13, 10)) < 1e-12);
      assert.ok(Math.abs(at(5, 2) - at(2, 5)) > 1e-6, 'direction of the distance matters');
    }
  });

  it('RoPE: interleaved on Meta-layout heads ≡ rotate_half on the HF-permuted heads', () => {
    const hd = 8, v = Float64Array.from({ length: hd }, (_, i) => i * 0.7 - 2);
    const perm = Float64Array.from({ length: hd }, (_, r) => v[2 * (r % (hd / 2)) + Math.floor(r / (hd / 2))]);
    ropeRotate(v, 0, hd, 9, 10000, true);
    ropeRotate(perm, 0, hd, 9, 10000, false);
    for (let r = 0; r < hd; r++) assert.ok(Math.abs(perm[r] - v[2 * (r % (hd / 2)) + Math.floor(r / (hd / 2))]) < 1e-12);
  });

  it('GQA (4 q / 2 kv heads) equals MHA with each kv head duplicated (repeat_kv)', () => {
    const s = spec('llamaGqa');
    const c = tinyConfig(s);
    const w = tinyWeights(s);
    const nh = c.num_attention_heads as number, nkv = c.num_key_value_heads as number;
    const hd = c.head_dim as number, d = c.hidden_size as number;
    assert.ok(nkv < nh);
    const mha = clone(w);
    for (let l = 0; l < s.numLayers; l++) {
      for (const n of ['k_proj', 'v_proj']) {
        const src = w.get(`model.layers.${l}.self_attn.${n}.weight`)!;
        const data = new Float64Array(nh * hd * d);
        for (let h = 0; h < nh; h++) {
          const g = Math.floor(h / (nh / nkv));
          data.set(src.data.subarray(g * hd * d, (g + 1) * hd * d), h * hd * d);
        }
        mha.set(`model.layers.${l}.self_attn.${n}.weight`, { shape: [nh * hd, d], data });
      }
    }
    const x = ids(9, vocabOf(c), 5);
    const gqa = referenceForward(c, w, x);
    assert.ok(maxDiff(gqa, referenceForward({ ...c, num_key_value_heads: nh }, mha, x)) < 1e-12);
    // and the grouping matters: pairing q heads with kv heads as h % nkv gives different logits
    const wrong = clone(mha);
    for (let l = 0; l < s.numLayers; l++) {
      const k = w.get(`model.layers.${l}.self_attn.k_proj.weight`)!;
      const data = new Float64Array(nh * hd * d);
      for (let h = 0; h < nh; h++) data.set(k.data.subarray((h % nkv) * hd * d, ((h % nkv) + 1) * hd * d), h * hd * d);
      wrong.set(`model.layers.${l}.self_attn.k_proj.weight`, { shape: [nh * hd, d], data });
    }
    assert.ok(maxDiff(gqa, referenceForward({ ...c, num_key_value_heads: nh }, wrong, x)) > 1e-4);
  });

  it('tied embeddings equal an untied model whose lm_head is a copy of embed_tokens', () => {
    const c = tinyConfig(spec('llamaTied'));
    const w = tinyWeights(spec('llamaTied'));
    assert.strictEqual(w.has('lm_head.weight'), false);
    const untied = clone(w);
    untied.set('lm_head.weight', { ...w.get('model.embed_tokens.weight')!, data: w.get('model.embed_tokens.weight')!.data.slice() });
    const x = ids(7, vocabOf(c), 11);
    assert.strictEqual(maxDiff(referenceForward(c, w, x), referenceForward({ ...c, tie_word_embeddings: false }, untied, x)), 0);
    assert.throws(() => referenceForward({ ...c, tie_word_embeddings: false }, w, x), /lm_head.weight/);
  });

  it('llama: a repeated token gives the same logits at every position (values carry no position)', () => {
    const c = tinyConfig(spec('llamaGqa'));
    const V = vocabOf(c);
    const l = referenceForward(c, tinyWeights(spec('llamaGqa')), [5, 5, 5, 5]);
    for (let t = 1; t < 4; t++) assert.ok(maxDiff(l.subarray(0, V), l.subarray(t * V, (t + 1) * V)) < 1e-12);
  });

  it('an explicit head_dim ≠ hidden/heads (Mistral-Nemo style) sets the q/k/v/o widths', () => {
    for (const modelType of ['llama', 'qwen2'] as const) {
      const s: TinyModelSpec = { ...spec('llamaTied'), modelType, headDim: 4 };
      const c = tinyConfig(s);
      assert.strictEqual(c.head_dim, 4);
      const w = tinyWeights(s);
      assert.deepStrictEqual(w.get('model.layers.0.self_attn.q_proj.weight')!.shape, [8, 16]);
      assert.deepStrictEqual(w.get('model.layers.0.self_attn.o_proj.weight')!.shape, [16, 8]);
      const l = referenceForward(c, w, ids(5, vocabOf(c), 4));
      assert.ok(l.every(Number.isFinite));
    }
  });

  it('mistral sliding window: keys at distance ≥ W are invisible; a wide window equals plain causal', () => {
    const s = { ...spec('mistral'), numLayers: 1 };
    const c = tinyConfig(s);
    const w = tinyWeights(s);
    const V = vocabOf(c);
    const a = ids(8, V, 21);
    const b = [(a[0] + 1) % V, ...a.slice(1)];
    const win = { ...c, sliding_window: 3 };
    const la = referenceForward(win, w, a), lb = referenceForward(win, w, b);
    assert.strictEqual(maxDiff(la.subarray(3 * V), lb.subarray(3 * V)), 0, 'position ≥ 3 must not see token 0');
    assert.ok(maxDiff(la.subarray(0, 3 * V), lb.subarray(0, 3 * V)) > 1e-4);
    assert.strictEqual(maxDiff(referenceForward(c, w, a), referenceForward({ ...c, model_type: 'llama', sliding_window: undefined }, w, a)), 0);
  });

  it('OPT learned positions matter and sit at position + 2', () => {
    const s = spec('optPreLN');
    const c = tinyConfig(s);
    const w = tinyWeights(s);
    const x = ids(5, vocabOf(c), 2);
    const base = referenceForward(c, w, x);
    const pos = w.get('model.decoder.embed_positions.weight')!;
    const d = pos.shape[1];
    const w2 = clone(w);
    w2.get('model.decoder.embed_positions.weight')!.data.fill(7, 0, 2 * d); // rows 0, 1: unused
    w2.get('model.decoder.embed_positions.weight')!.data.fill(7, (x.length + 2) * d); // rows past T + 1: unused
    assert.strictEqual(maxDiff(base, referenceForward(c, w2, x)), 0);
    const w3 = clone(w);
    w3.get('model.decoder.embed_positions.weight')!.data.fill(0, 2 * d, 3 * d); // row 2 = position 0
    assert.ok(maxDiff(base, referenceForward(c, w3, x)) > 1e-4);
  });

  it('pre-LN OPT equals GPT-2 (ReLU) with the same weights moved to Conv1D layout and positions shifted by 2', () => {
    const s = spec('optPreLN');
    const oc = tinyConfig(s);
    const ow = tinyWeights(s);
    const d = s.hiddenSize, ff = oc.ffn_dim as number, P = oc.max_position_embeddings as number;
    const get = (n: string) => ow.get(n)!.data;
    const transpose = (m: Float64Array, rows: number, cols: number) => {
      const out = new Float64Array(m.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
      return out;
    };
    const g: RefWeights = new Map();
    g.set('transformer.wte.weight', ow.get('model.decoder.embed_tokens.weight')!);
    g.set('transformer.wpe.weight', { shape: [P, d], data: get('model.decoder.embed_positions.weight').slice(2 * d) });
    g.set('transformer.ln_f.weight', ow.get('model.decoder.final_layer_norm.weight')!);
    g.set('transformer.ln_f.bias', ow.get('model.decoder.final_layer_norm.bias')!);
    for (let l = 0; l < s.numLayers; l++) {
      const o = `model.decoder.layers.${l}.`, p = `transformer.h.${l}.`;
      for (const [from, to] of [['self_attn_layer_norm', 'ln_1'], ['final_layer_norm', 'ln_2']]) {
        g.set(`${p}${to}.weight`, ow.get(`${o}${from}.weight`)!);
        g.set(`${p}${to}.bias`, ow.get(`${o}${from}.bias`)!);
      }
      const qkv = new Float64Array(d * 3 * d);
      ['q_proj', 'k_proj', 'v_proj'].forEach((m, j) => {
        const wt = get(`${o}self_attn.${m}.weight`);
        for (let i = 0; i < d; i++) for (let c = 0; c < d; c++) qkv[i * 3 * d + j * d + c] = wt[c * d + i];
      });
      g.set(p + 'attn.c_attn.weight', { shape: [d, 3 * d], data: qkv });
      g.set(p + 'attn.c_attn.bias', { shape: [3 * d], data: Float64Array.from([...get(o + 'self_attn.q_proj.bias'), ...get(o + 'self_attn.k_proj.bias'), ...get(o + 'self_attn.v_proj.bias')]) });
      g.set(p + 'attn.c_proj.weight', { shape: [d, d], data: transpose(get(o + 'self_attn.out_proj.weight'), d, d) });
      g.set(p + 'attn.c_proj.bias', ow.get(o + 'self_attn.out_proj.bias')!);
      g.set(p + 'mlp.c_fc.weight', { shape: [d, ff], data: transpose(get(o + 'fc1.weight'), ff, d) });
      g.set(p + 'mlp.c_fc.bias', ow.get(o + 'fc1.bias')!);
      g.set(p + 'mlp.c_proj.weight', { shape: [ff, d], data: transpose(get(o + 'fc2.weight'), d, ff) });
      g.set(p + 'mlp.c_proj.bias', ow.get(o + 'fc2.bias')!);
    }
    const gc = {
      model_type: 'gpt2', vocab_size: s.vocabSize, n_embd: d, n_layer: s.numLayers, n_head: s.numHeads, n_positions: P,
      n_inner: ff, layer_norm_epsilon: 1e-5, activation_function: 'relu',
    };
    const x = ids(12, s.vocabSize, 8);
    assert.ok(maxDiff(referenceForward(oc, ow, x), referenceForward(gc, g, x)) < 1e-10);
  });

  it('rejects what it does not model instead of guessing', () => {
    const c = tinyConfig(spec('llamaGqa'));
    const w = tinyWeights(spec('llamaGqa'));
    assert.throws(() => referenceForward({ ...c, rope_scaling: { rope_type: 'llama3', factor: 8 } }, w, [1]), /rope_scaling/);
    assert.throws(() => referenceForward({ ...c, model_type: 'falcon' }, w, [1]), /model_type/);
    assert.throws(() => referenceForward(c, w, [vocabOf(c)]), /outside/);
    const bad = clone(w);
    bad.set('model.layers.0.self_attn.q_proj.weight', { shape: [32, 32], data: new Float64Array(32 * 32) });
    assert.doesNotThrow(() => referenceForward(c, bad, [1]));
    bad.set('model.layers.0.self_attn.k_proj.weight', { shape: [32, 32], data: new Float64Array(32 * 32) });
    assert.throws(() => referenceForward(c, bad, [1]), /k_proj.weight' has shape \[32,32\], expected \[16,32\]/);
  });
});
