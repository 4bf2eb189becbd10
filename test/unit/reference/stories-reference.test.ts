// Validates the oracle against an outside reference: stories260K (llama2.c v0 checkpoint) run
// through referenceForward must reproduce reference_greedy.json's logits (an independent NumPy
// float32 re-implementation of run.c) within 1e-4. The checkpoint is read here by a private reader.
//
// llama2.c v0 layout: int32[7] {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
// (negative: separate classifier), seq_len}, then float32 token_embedding[vocab·dim], rms_att[L·dim],
// wq[L·dim·dim], wk[L·kv·dim], wv[L·kv·dim], wo[L·dim·dim], rms_ffn[L·dim], w1[L·hidden·dim],
// w2[L·dim·hidden], w3[L·hidden·dim], rms_final[dim], freq_cis_real/imag[seq·hs/2] (skipped).
// Matrices are [out, in] row-major (run.c's matmul), as nn.Linear; heads use Meta's adjacent-pair
// RoPE, so the oracle runs with ropeInterleaved, and again on HF-permuted wq/wk with rotate_half.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES } from '../../helpers/data';
import { referenceForward, RefWeights } from '../../helpers/reference-forward';

interface Checkpoint { config: Record<string, unknown>; weights: RefWeights; nHeads: number; nKv: number; headSize: number }

function readLlama2c(file: string): Checkpoint {
  const buf = fs.readFileSync(file);
  const [dim, hidden, L, nHeads, nKv, vocabRaw, seqLen] = Array.from({ length: 7 }, (_, i) => buf.readInt32LE(4 * i));
  const vocab = Math.abs(vocabRaw);
  const hs = dim / nHeads, kv = nKv * hs;
  let at = 28;
  const take = (n: number) => {
    if (at + 4 * n > buf.length) throw new Error(`${file}: truncated`);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(at + 4 * i);
    at += 4 * n;
    return out;
  };
  const weights: RefWeights = new Map();
  const perLayer = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const all = take(L * n);
    for (let l = 0; l < L; l++) weights.set(`model.layers.${l}.${name}`, { shape, data: all.slice(l * n, (l + 1) * n) });
  };
  weights.set('model.embed_tokens.weight', { shape: [vocab, dim], data: take(vocab * dim) });
  perLayer('input_layernorm.weight', [dim]);
  perLayer('self_attn.q_proj.weight', [dim, dim]);
  perLayer('self_attn.k_proj.weight', [kv, dim]);
  perLayer('self_attn.v_proj.weight', [kv, dim]);
  perLayer('self_attn.o_proj.weight', [dim, dim]);
  perLayer('post_attention_layernorm.weight', [dim]);
  perLayer('mlp.gate_proj.weight', [hidden, dim]);
  perLayer('mlp.down_proj.weight', [dim, hidden]);
  perLayer('mlp.up_proj.weight', [hidden, dim]);
  weights.set('model.norm.weight', { shape: [dim], data: take(dim) });
  at += 4 * seqLen * hs; // freq_cis_real + freq_cis_imag: seq_len × hs/2 each
  if (vocabRaw < 0) weights.set('lm_head.weight', { shape: [vocab, dim], data: take(vocab * dim) });
  assert.strictEqual(at, buf.length, 'every byte of the checkpoint accounted for');
  const config = {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: vocab, hidden_size: dim, intermediate_size: hidden,
    num_hidden_layers: L, num_attention_heads: nHeads, num_key_value_heads: nKv, head_dim: hs, rms_norm_eps: 1e-5,
    rope_theta: 10000, hidden_act: 'silu', max_position_embeddings: seqLen, tie_word_embeddings: vocabRaw > 0,
  };
  return { config, weights, nHeads, nKv, headSize: hs };
}

/** Meta → HF row order per head (transformers' convert_llama_weights permute): row 2i+j → j·hs/2 + i. */
function permuteHeads(w: Float64Array, heads: number, hs: number, cols: number): Float64Array {
  const out = new Float64Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hs / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hs + 2 * i + j) * cols, dst = (h * hs + j * (hs / 2) + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

interface Reference { logits_inputs: number[]; logits: number[][]; generated_ids: number[] }

describe('reference forward vs stories260K outside reference', () => {
  let ck: Checkpoint;
  let ref: Reference;
  let ours: Float64Array;

  before(function () {
    const bin = dataPath(this as unknown as Mocha.Context, ...STORIES, 'stories260K.bin');
    ck = readLlama2c(bin);
    ref = JSON.parse(fs.readFileSync(path.join(path.dirname(bin), 'reference_greedy.json'), 'utf8')) as Reference;
    ours = referenceForward(ck.config, ck.weights, ref.logits_inputs, { ropeInterleaved: true });
  });

  it('header matches the published shape of stories260K', () => {
    const c = ck.config;
    assert.deepStrictEqual([c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.vocab_size, c.max_position_embeddings],
      [64, 172, 5, 8, 4, 512, 512]);
    assert.strictEqual(c.tie_word_embeddings, true);
  });

  it('float64 llama2.c-semantics logits are within 1e-4 of reference_greedy.json', () => {
    const V = 512;
    assert.strictEqual(ref.logits.length, ref.logits_inputs.length);
    let worst = 0;
    ref.logits.forEach((row, t) => {
      assert.strictEqual(row.length, V);
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(ours[t * V + v] - row[v]));
    });
    assert.ok(worst < 1e-4, `max |Δlogit| = ${worst}`);
  });

  it('greedy picks follow generated_ids', () => {
    const V = 512;
    const T = ref.logits_inputs.length;
    for (let t = 0; t < T; t++) {
      let best = 0;
      for (let v = 1; v < V; v++) if (ours[t * V + v] > ours[t * V + best]) best = v;
      assert.strictEqual(best, ref.generated_ids[t], `position ${t}`);
      if (t + 1 < T) assert.strictEqual(ref.logits_inputs[t + 1], ref.generated_ids[t]);
    }
  });

  it('HF layout (permuted wq/wk, rotate_half RoPE) gives the same logits', () => {
    const hf: RefWeights = new Map(ck.weights);
    for (let l = 0; l < (ck.config.num_hidden_layers as number); l++) {
      const q = `model.layers.${l}.self_attn.q_proj.weight`, k = `model.layers.${l}.self_attn.k_proj.weight`;
      hf.set(q, { shape: ck.weights.get(q)!.shape, data: permuteHeads(ck.weights.get(q)!.data, ck.nHeads, ck.headSize, 64) });
      hf.set(k, { shape: ck.weights.get(k)!.shape, data: permuteHeads(ck.weights.get(k)!.data, ck.nKv, ck.headSize, 64) });
    }
    const viaHf = referenceForward(ck.config, hf, ref.logits_inputs);
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(viaHf[i] - ours[i]));
    assert.ok(worst < 1e-9, `max |Δ| = ${worst}`);
    const plain = referenceForward(ck.config, ck.weights, ref.logits_inputs); // wrong pairing: must differ
    let off = 0;
    for (let i = 0; i < ours.length; i++) off = Math.max(off, Math.abs(plain[i] - ours[i]));
    assert.ok(off > 1e-3, 'rotate_half on Meta-layout weights should not match');
  });
});
