// Gemma 2 (models/arch/gemma2.ts, models/gemma2.ts) against the float64 reference of
// test/helpers/reference-gemma2.ts on tiny random checkpoints the test writes in HF layout: √d embedding
// scale, (1 + w) norms before and after attention and MLP, GeGLU, query_pre_attn_scalar, attention and
// final soft caps small enough that tanh bends, sliding windows on alternate layers (and per
// layer_types) shorter than the sequence, head_dim ≠ hidden / heads, tied head; graph variants, the KV
// cache and the in-place cache agree with the full recompute.

import { strict as assert } from 'assert';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { expectIdpError } from '../../helpers/tiny-hf';
import { Gemma2Spec, gemma2Config, gemma2Forward, writeGemma2 } from '../../helpers/reference-gemma2';
import { loadModel } from '../../../src/engine/models/load';
import { parseHfConfig } from '../../../src/engine/models/hf-config';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate } from '../../../src/engine/runtime/generate';
import { maxAbsDiff, seq } from '../../helpers/arrays';

const root = tmpDir('idp-gemma2-');
useTempCache(path.join(root, 'cache'));

const BASE: Gemma2Spec = {
  vocab: 64, hidden: 32, layers: 3, heads: 4, kvHeads: 2, headDim: 12, ffn: 48, queryPreAttnScalar: 20,
  slidingWindow: 3, attnSoftcap: 1.5, finalSoftcap: 4, seed: 7,
};
const cases: Array<[string, Gemma2Spec]> = [
  ['window 3 on even layers, caps 1.5 / 4', BASE],
  ['layer_types, q/k/v/o biases, MQA', { ...BASE, kvHeads: 1, attentionBias: true, layerTypes: ['full_attention', 'sliding_attention', 'sliding_attention'], slidingWindow: 2, seed: 8 }],
  ['no soft caps, no window (fused attention)', { ...BASE, attnSoftcap: null, finalSoftcap: null, slidingWindow: null, seed: 9 }],
];

describe('Gemma 2 against the float64 reference', () => {
  for (const [name, spec] of cases) {
    describe(name, () => {
      const tiny = writeGemma2(path.join(root, name.replace(/\W+/g, '_')), spec);
      let lm: CausalLM;
      before(async () => { lm = new CausalLM(await loadModel(tiny.dir), { threads: 1 }); });

      it('logits within 1e-4', async () => {
        for (const n of [1, 5, 10]) {
          const ids = seq(n, spec.vocab, n);
          const [got] = await lm.logits([ids]);
          const d = maxAbsDiff(got, gemma2Forward(tiny.config, tiny.weights, ids));
          assert.ok(d < 1e-4, `${n} tokens: max |Δlogit| = ${d}`);
        }
      });

      it('explicit attention and the Gemm kernel give the same logits; batched rows equal single ones', async () => {
        const seqs = [seq(8, spec.vocab, 2), seq(5, spec.vocab, 3)];
        const b = await lm.logits(seqs);
        for (let i = 0; i < seqs.length; i++) assert.ok(maxAbsDiff(b[i], (await lm.logits([seqs[i]]))[0]) < 1e-5, `row ${i} alone`);
        for (const graph of [{ attention: 'explicit' }, { linear: 'gemm' }] as const) {
          const a = await new CausalLM(lm.model, { threads: 1, graph }).logits(seqs);
          for (let i = 0; i < seqs.length; i++) assert.ok(maxAbsDiff(a[i], b[i]) < 1e-5, `${JSON.stringify(graph)} row ${i}`);
        }
      });

      it('decode with the KV cache (concat and in place) equals full recompute, windows included', async () => {
        const ids = seq(9, spec.vocab, 4);
        const [full] = await lm.logits([ids]);
        for (const kvCache of ['concat', 'capacity'] as const) {
          const m = new CausalLM(lm.model, { threads: 1, kvCache });
          const st = m.newState(1);
          await m.step(st, [ids.slice(0, 3)], [[true, true, true]], 'all');
          const parts = Array.from(full.subarray(0, 3 * spec.vocab));
          for (let t = 3; t < ids.length; t++) parts.push(...(await m.step(st, [[ids[t]]], [[true]], 'last')).logits);
          assert.ok(maxAbsDiff(parts, full) < 1e-5, kvCache);
        }
      });

      it('greedy generation (through the decode Loop where it applies) follows the reference\'s argmax', async () => {
        const V = spec.vocab;
        const prompt = seq(4, V, 5);
        const want: number[] = [];
        const cur = [...prompt];
        for (let k = 0; k < 10; k++) {
          const lg = gemma2Forward(tiny.config, tiny.weights, cur).subarray((cur.length - 1) * V, cur.length * V);
          let best = 0;
          for (let i = 1; i < V; i++) if (lg[i] > lg[best]) best = i;
          want.push(best);
          cur.push(best);
        }
        const g = await generate(lm, undefined, [prompt], { maxTokens: 10, stopIds: [] });
        assert.deepEqual(g.rows[0].ids, want);
      });
    });
  }

  it('config: class defaults, null caps, bad layer_types', async () => {
    const file = 'gemma2/config.json';
    const c = parseHfConfig(gemma2Config(BASE), file);
    assert.deepEqual(c.layerWindows, [3, null, 3]);
    assert.equal(c.attentionScale, 20 ** -0.5);
    assert.equal(c.tieWordEmbeddings, true);
    const defaults = gemma2Config(BASE);
    for (const k of ['head_dim', 'query_pre_attn_scalar', 'sliding_window', 'attn_logit_softcapping', 'final_logit_softcapping']) delete defaults[k];
    const d = parseHfConfig(defaults, file);
    assert.deepEqual([d.headDim, d.attentionScale, d.attentionSoftcap, d.finalLogitSoftcap, d.layerWindows?.[0]], [256, 1 / 16, 50, 30, 4096]);
    const none = parseHfConfig({ ...gemma2Config(BASE), attn_logit_softcapping: null, final_logit_softcapping: null, sliding_window: null }, file);
    assert.deepEqual([none.attentionSoftcap, none.finalLogitSoftcap, none.layerWindows], [undefined, undefined, undefined]);
    await expectIdpError(() => parseHfConfig({ ...gemma2Config(BASE), layer_types: ['full_attention'] }, file), 'CONFIG', file, /layer_types/);
  });
});
