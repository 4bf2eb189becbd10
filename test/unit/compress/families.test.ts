// Compression of the families added through the architecture registry (Phi-3, Gemma 2), whose linear
// layers come from their family files: RTN touches exactly the layers' linear modules (Phi-3's fused
// qkv_proj and gate_up_proj included) with at most 2^bits levels per row and leaves every other tensor
// as it was; GPTQ's per-layer calibration graphs (cut from the models' own graphs: soft caps, windows,
// (1 + w) norms) feed it inputs on which it beats RTN's reconstruction error on every module. Gemma 2
// calibration longer than its local window is refused (its layers differ there).

import { strict as assert } from 'assert';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { expectIdpError } from '../../helpers/tiny-hf';
import { writePhi3 } from '../../helpers/reference-phi3';
import { writeGemma2 } from '../../helpers/reference-gemma2';
import { compressModel } from '../../../src/engine/compress/compress';
import { CalibChunk, LayerRunner } from '../../../src/engine/compress/layer-graph';
import { CausalLM } from '../../../src/engine/runtime/lm';
import type { LoadedModel } from '../../../src/engine/models/config';
import { linearModules } from '../../../src/engine/models/quant/modules';
import { loadModel } from '../../../src/engine/models/load';
import { readTensorF32 } from '../../../src/engine/formats/safetensors';
import { Rng } from '../../../src/engine/rng';

const root = tmpDir('idp-compress-families-');

const windows = (V: number, n: number, T: number, seed: number) => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: T }, () => r.int(V)));
};

/** Final RMSNorm (Gemma: (1 + w)) + tied / untied head (+ Gemma's final soft cap) in float64 on hidden [T, d]. */
function head(m: LoadedModel, h: Float32Array, T: number, gemma: boolean): Float64Array {
  const c = m.config;
  const d = c.hiddenSize;
  const w = (n: string) => readTensorF32(m.weights.get(n)!);
  const g = w('model.norm.weight');
  const E = w(m.weights.has('lm_head.weight') ? 'lm_head.weight' : 'model.embed_tokens.weight');
  const out = new Float64Array(T * c.vocabSize);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += h[t * d + i] ** 2;
    const r = 1 / Math.sqrt(ss / d + c.normEps);
    const x = Array.from({ length: d }, (_, i) => h[t * d + i] * r * (gemma ? 1 + g[i] : g[i]));
    for (let v = 0; v < c.vocabSize; v++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += x[i] * E[v * d + i];
      out[t * c.vocabSize + v] = gemma ? 6 * Math.tanh(s / 6) : s;
    }
  }
  return out;
}

describe('compressing Phi-3 and Gemma 2 (linear layers from the registry)', function () {
  useTempCache(path.join(root, 'cache'));
  this.timeout(120000);
  const phi3 = writePhi3(path.join(root, 'phi3'), { vocab: 48, hidden: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 64, partialRotaryFactor: 0.5, seed: 31 });
  const gemma2 = writeGemma2(path.join(root, 'gemma2'), {
    vocab: 48, hidden: 32, layers: 2, heads: 2, kvHeads: 1, headDim: 16, ffn: 64, slidingWindow: 16, attnSoftcap: 3, finalSoftcap: 6, seed: 32,
  });
  const cases = [
    ['phi3', phi3.dir, ['self_attn.qkv_proj', 'self_attn.o_proj', 'mlp.gate_up_proj', 'mlp.down_proj']],
    ['gemma2', gemma2.dir, ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']],
  ] as const;

  for (const [name, dir, suffixes] of cases) {
    it(`${name}: embed + layer-by-layer calibration sessions reproduce the model's logits`, async () => {
      const m = await loadModel(dir);
      const runner = await LayerRunner.create(m, 1);
      try {
        const ids = windows(48, 2, 10, 7);
        const chunk: CalibChunk = { ids };
        await runner.embed(chunk);
        for (let l = 0; l < m.config.numLayers; l++) await runner.forward(chunk, runner.readParams(l));
        const want = await new CausalLM(m, { threads: 1 }).logits(ids);
        const d = m.config.hiddenSize;
        for (let b = 0; b < ids.length; b++) {
          const got = head(m, chunk.hidden!.subarray(b * 10 * d, (b + 1) * 10 * d), 10, name === 'gemma2');
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[b][i]));
          assert.ok(worst < 1e-4, `row ${b}: max |Δlogit| ${worst}`);
        }
        assert.equal(runner.groups.length, 4, runner.groups.map((x) => x.suffixes.join('+')).join(' '));
      } finally {
        await runner.release();
      }
    });

    it(`${name}: RTN 3-bit quantizes exactly the linear modules, at most 8 levels per row, other tensors untouched`, async () => {
      const m = await loadModel(dir);
      const mods = linearModules(m.config);
      assert.deepEqual(mods.map((x) => x.name), [0, 1].flatMap((l) => suffixes.map((s) => `model.layers.${l}.${s}`)));
      const out = path.join(root, `${name}-rtn`);
      const r = await compressModel(m, { method: 'rtn', bits: 3, groupSize: -1, out, output: 'dense' });
      assert.deepEqual(r.modules.map((x) => x.name), mods.map((x) => x.name));
      const q = await loadModel(out);
      for (const [t, ref] of m.weights) {
        const a = readTensorF32(ref);
        const b = readTensorF32(q.weights.get(t)!);
        const mod = mods.find((x) => `${x.name}.weight` === t);
        if (!mod) { assert.deepEqual(b, a, `${t} unchanged`); continue; }
        assert.notDeepEqual(b, a, `${t} quantized`);
        for (let o = 0; o < mod.outFeatures; o++) {
          const row = new Set(b.subarray(o * mod.inFeatures, (o + 1) * mod.inFeatures));
          assert.ok(row.size <= 8, `${t} row ${o}: ${row.size} levels`);
        }
      }
    });

    it(`${name}: GPTQ 3-bit beats RTN's ‖WX − ŴX‖ on every module (calibration through the model's own graph)`, async () => {
      const m = await loadModel(dir);
      const r = await compressModel(m, { method: 'gptq', bits: 3, groupSize: -1, calib: windows(48, 16, 12, 3), out: path.join(root, `${name}-gptq`), output: 'dense' });
      assert.equal(r.modules.length, linearModules(m.config).length);
      for (const s of r.modules) assert.ok(s.error! < s.baselineError!, `${s.name}: GPTQ ${s.error} ≥ RTN ${s.baselineError}`);
    });
  }

  it('gemma2: calibration sequences longer than the local window are refused (layers 0 and 1 differ there)', async () => {
    const narrow = writeGemma2(path.join(root, 'gemma2-narrow'), { vocab: 48, hidden: 32, layers: 2, heads: 2, kvHeads: 1, headDim: 16, ffn: 64, slidingWindow: 4, seed: 33 });
    const m = await loadModel(narrow.dir);
    await expectIdpError(() => compressModel(m, { method: 'gptq', bits: 4, groupSize: -1, calib: windows(48, 4, 12, 4), out: path.join(root, 'narrow-gptq'), output: 'dense' }),
      'UNSUPPORTED', narrow.dir, /at most that many tokens, not 12/);
  });
});
