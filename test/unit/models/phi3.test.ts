// Phi-3 (models/arch/phi3.ts) against the float64 reference of test/helpers/reference-phi3.ts on tiny
// random checkpoints the test writes in HF layout: fused qkv_proj / gate_up_proj, partial rotary,
// longrope (short and long factors either side of the pretrained context), sliding window, tied head;
// every graph variant, the KV cache and the in-place cache agree with the full recompute.

import { strict as assert } from 'assert';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { expectIdpError } from '../../helpers/tiny-hf';
import { Phi3Spec, phi3Config, phi3Forward, writePhi3 } from '../../helpers/reference-phi3';
import { loadModel } from '../../../src/engine/models/load';
import { parseHfConfig } from '../../../src/engine/models/hf-config';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate } from '../../../src/engine/runtime/generate';
import { maxAbsDiff, seq } from '../../helpers/arrays';

const root = tmpDir('idp-phi3-');
useTempCache(path.join(root, 'cache'));

const BASE: Phi3Spec = { vocab: 64, hidden: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 48, seed: 3 };
const cases: Array<[string, Phi3Spec]> = [
  ['plain', BASE],
  ['partial rotary 0.5, tied, window 4', { ...BASE, partialRotaryFactor: 0.5, tied: true, slidingWindow: 4, kvHeads: 1, seed: 4 }],
  ['longrope (original 8 of 32)', {
    ...BASE, maxPositions: 32, theta: 500, seed: 5,
    longrope: { original: 8, short: [1, 1.2, 1.5, 2], long: [1.5, 3, 6, 12] },
  }],
];

describe('Phi-3 against the float64 reference', () => {
  for (const [name, spec] of cases) {
    describe(name, () => {
      const tiny = writePhi3(path.join(root, name.replace(/\W+/g, '_')), spec);
      let lm: CausalLM;
      before(async () => { lm = new CausalLM(await loadModel(tiny.dir), { threads: 1 }); });

      it('logits within 1e-4 (and beyond the pretrained context for longrope: the long factors)', async () => {
        for (const n of [6, 11]) {
          const ids = seq(n, spec.vocab, n);
          const [got] = await lm.logits([ids]);
          const d = maxAbsDiff(got, phi3Forward(tiny.config, tiny.weights, ids));
          assert.ok(d < 1e-4, `${n} tokens: max |Δlogit| = ${d}`);
        }
      });

      it('explicit attention and the Gemm kernel give the same logits', async () => {
        const seqs = [seq(7, spec.vocab, 2), seq(5, spec.vocab, 3)];
        const b = await lm.logits(seqs);
        for (const graph of [{ attention: 'explicit' }, { linear: 'gemm' }] as const) {
          const a = await new CausalLM(lm.model, { threads: 1, graph }).logits(seqs);
          for (let i = 0; i < seqs.length; i++) assert.ok(maxAbsDiff(a[i], b[i]) < 1e-5, `${JSON.stringify(graph)} row ${i}`);
        }
      });

      it('decode with the KV cache (concat and in place) equals full recompute up to the switch point', async () => {
        const ids = seq(7, spec.vocab, 4);   // stays within the pretrained context of the longrope case
        const [full] = await lm.logits([ids]);
        for (const kvCache of ['concat', 'capacity'] as const) {
          const m = new CausalLM(lm.model, { threads: 1, kvCache });
          const st = m.newState(1);
          const first = await m.step(st, [ids.slice(0, 3)], [[true, true, true]], 'all');
          const parts = kvCache === 'concat' ? Array.from(first.logits) : Array.from(full.subarray(0, 3 * spec.vocab));
          for (let t = 3; t < ids.length; t++) parts.push(...(await m.step(st, [[ids[t]]], [[true]], 'last')).logits);
          assert.ok(maxAbsDiff(parts, full) < 1e-5, kvCache);
        }
      });

      it('greedy generation (through the decode Loop where it applies) follows the reference\'s argmax (8 positions: within longrope\'s short range)', async () => {
        const V = spec.vocab;
        const prompt = seq(3, V, 5);
        const want: number[] = [];
        const cur = [...prompt];
        for (let k = 0; k < 5; k++) {
          const lg = phi3Forward(tiny.config, tiny.weights, cur).subarray((cur.length - 1) * V, cur.length * V);
          let best = 0;
          for (let i = 1; i < V; i++) if (lg[i] > lg[best]) best = i;
          want.push(best);
          cur.push(best);
        }
        const g = await generate(lm, undefined, [prompt], { maxTokens: 5, stopIds: [] });
        assert.deepEqual(g.rows[0].ids, want);
      });
    });
  }

  it('config: longrope factors of the wrong length, partial rotary giving odd dims, other activations are refused', async () => {
    const file = 'phi3/config.json';
    const cfg = parseHfConfig(phi3Config({ ...BASE, longrope: { original: 8, short: [1, 1, 1, 1], long: [2, 2, 2, 2] } }), file);
    assert.deepEqual(cfg.ropeScaling?.longFactor, [2, 2, 2, 2]);
    assert.ok(Math.abs(cfg.ropeScaling!.attentionFactor - Math.sqrt(1 + Math.log(8) / Math.log(8))) < 1e-12);
    await expectIdpError(() => parseHfConfig(phi3Config({ ...BASE, longrope: { original: 8, short: [1, 1], long: [2, 2] } }), file), 'CONFIG', file, /short_factor/);
    await expectIdpError(() => parseHfConfig({ ...phi3Config(BASE), partial_rotary_factor: 0.375 }, file), 'CONFIG', file, /partial_rotary_factor/);
    await expectIdpError(() => parseHfConfig({ ...phi3Config(BASE), hidden_act: 'gelu' }, file), 'UNSUPPORTED', file, /only silu/);
    await expectIdpError(() => parseHfConfig({ ...phi3Config(BASE), rope_scaling: { type: 'yarn', factor: 4 } }, file), 'UNSUPPORTED', file, /yarn/);
  });
});
