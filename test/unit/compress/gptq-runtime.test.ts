// GPTQ checkpoints at run time: folders written by the test alone (test/helpers/tiny-gptq.ts, an
// AutoGPTQ-style packer) load, run through MatMulNBits, and give the logits of the float64 oracle on
// the dequantized weights — Llama, OPT and GPT-2; 2/3/4/8-bit; with and without act-order; v1 and v2
// zero points; per-channel and grouped. The fp32 fallback (dequantize) agrees; the KV cache and
// batching are unaffected; export (writeQuantizedModel) → import returns the same weights; bad
// checkpoints are typed errors; a 4-bit layer's resident bytes are 1/8 of fp32 plus scales.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { expectIdpError } from '../../helpers/tiny-hf';
import { TinyModelSpec, writeTinyModel } from '../../helpers/oracle-models';
import { referenceForward } from '../../helpers/reference-forward';
import { writeTinyGptq } from '../../helpers/tiny-gptq';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { readQuantizedModule } from '../../../src/engine/models/quant/gptq-load';
import { linearModules, weightOf } from '../../../src/engine/models/quant/modules';
import { quantizeRtn } from '../../../src/engine/compress/rtn';
import { dequantize, QuantBits, QuantizedLinear } from '../../../src/engine/models/quant/gptq-format';
import { DEFAULT_GPTQ } from '../../../src/engine/models/quant/gptq-config';
import { writeQuantizedModel } from '../../../src/engine/compress/write-model';
import { maxAbsDiff, seq } from '../../helpers/arrays';

const SPECS: Record<string, TinyModelSpec> = {
  llama: { modelType: 'llama', vocabSize: 96, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, seed: 21 },
  opt: { modelType: 'opt', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, seed: 22 },
  gpt2: { modelType: 'gpt2', vocabSize: 80, hiddenSize: 32, numLayers: 2, numHeads: 4, seed: 23 },
};

const root = tmpDir('idp-gptq-rt-');
const cacheDir = path.join(root, 'cache', 'converted');

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('GPTQ checkpoints at run time', function () {
  useTempCache(path.join(root, 'cache'));
  this.timeout(60000);
  for (const [arch, spec] of Object.entries(SPECS)) {
    for (const bits of [2, 3, 4, 8]) {
      for (const [gs, actOrder] of [[32, false], [32, true], [-1, false]] as Array<[number, boolean]>) {
        if (gs === -1 && bits !== 3 && bits !== 4) continue;
        const name = `${arch} ${bits}-bit group ${gs}${actOrder ? ' act-order' : ''}`;
        it(`${name}: MatMulNBits logits = float64 oracle on the dequantized weights`, async () => {
          const dir = path.join(root, name.replace(/ /g, '_'));
          const t = writeTinyGptq(dir, spec, { bits, groupSize: gs, actOrder, sym: bits === 2, format: bits === 8 ? 'gptq_v2' : 'gptq' });
          const m = await loadModel(dir, { cacheDir });
          assert.ok(m.quant && m.quant.modules.size === linearModules(m.config).length);
          for (const q of m.quant.modules.values()) {
            assert.equal(q.kernel, 'nbits');
            assert.equal(q.runBits, bits === 3 ? 4 : bits);
            assert.equal(!!q.perm, actOrder && q.inFeatures > gs);   // one group: g_idx is all zeros
          }
          const ids = seq(9, spec.vocabSize, bits);
          const want = referenceForward(t.config, t.weights, ids);
          const exact = new CausalLM(m, { threads: 1, graph: { quantAccuracyLevel: 0 } });
          const [got0] = await exact.logits([ids]);
          const d0 = maxAbsDiff(got0, want);
          assert.ok(d0 < 2e-4, `accuracy_level 0: max |Δlogit| = ${d0}`);
          const [fallback] = await new CausalLM(m, { threads: 1, graph: { dequantize: true } }).logits([ids]);
          assert.ok(maxAbsDiff(fallback, want) < 2e-4, 'dequantized fp32 fallback');
          // default accuracy_level 4 quantizes activations to int8 per block: close, not exact
          const [got4] = await new CausalLM(m, { threads: 1 }).logits([ids]);
          const rel = maxAbsDiff(got4, want) / maxAbs(want);
          assert.ok(rel < 0.035, `accuracy_level 4: max |Δlogit| / max |logit| = ${rel}`);   // measured 0.6–2.6 % (docs/compression.md)
          if (process.env.IDP_VERBOSE) console.log(`      level 0 ${d0.toExponential(2)}, level 4 rel ${rel.toExponential(2)}`);
        });
      }
    }
  }

  it('KV-cache decode equals full recompute and batching equals one by one on a quantized model', async () => {
    const dir = path.join(root, 'kv');
    writeTinyGptq(dir, SPECS.llama, { bits: 4, groupSize: 32, actOrder: true });
    const lm = new CausalLM(await loadModel(dir, { cacheDir }), { threads: 1 });
    const V = SPECS.llama.vocabSize;
    const ids = seq(9, V, 2);
    const [full] = await lm.logits([ids]);
    const st = lm.newState(1);
    const parts: number[] = Array.from((await lm.step(st, [ids.slice(0, 4)], [[true, true, true, true]], 'all')).logits);
    for (let t = 4; t < ids.length; t++) parts.push(...(await lm.step(st, [[ids[t]]], [[true]], 'last')).logits);
    assert.ok(maxAbsDiff(parts, full) < 1e-4, 'decode vs recompute');
    const seqs = [seq(7, V, 3), seq(3, V, 4), seq(5, V, 5)];
    const batched = await lm.logits(seqs);
    for (let i = 0; i < seqs.length; i++) assert.ok(maxAbsDiff(batched[i], (await lm.logits([seqs[i]]))[0]) < 1e-4, `row ${i}`);
  });

  it('v1 zero points that wrap (stored 2^bits − 1) and irregular g_idx still give the exact weights', async () => {
    const dir = path.join(root, 'edge');
    const t = writeTinyGptq(dir, SPECS.opt, {
      bits: 4, groupSize: 32, actOrder: true,
      tweak: (mod, q) => {
        if (mod.endsWith('layers.0.fc1')) q.zeros[3] = 16;                              // needs 8-bit zero points
        if (mod.endsWith('layers.1.fc2')) q.gIdx[q.gIdx.indexOf(0)] = 1;                 // groups of 31 and 33
      },
    });
    const m = await loadModel(dir, { cacheDir });
    assert.equal(m.quant!.modules.get('model.decoder.layers.0.fc1')!.runBits, 8);
    assert.equal(m.quant!.modules.get('model.decoder.layers.1.fc2')!.kernel, 'dequant');
    const ids = seq(8, SPECS.opt.vocabSize, 9);
    const [got] = await new CausalLM(m, { threads: 1, graph: { quantAccuracyLevel: 0 } }).logits([ids]);
    assert.ok(maxAbsDiff(got, referenceForward(t.config, t.weights, ids)) < 2e-4);
  });

  it('a 4-bit layer takes 1/8 of its fp32 bytes plus one fp32 scale and a 4-bit zero per block', async () => {
    const dir = path.join(root, 'mem');
    writeTinyGptq(dir, SPECS.llama, { bits: 4, groupSize: 32 });
    const m = await loadModel(dir, { cacheDir });
    for (const q of m.quant!.modules.values()) {
      const fp32 = 4 * q.inFeatures * q.outFeatures;
      const blocks = q.outFeatures * Math.ceil(q.inFeatures / q.blockSize!);
      assert.equal(q.b!.byteLength, fp32 / 8);
      assert.equal(q.scales!.byteLength, 4 * blocks);
      assert.ok(q.zeroPoints!.byteLength <= Math.ceil(blocks / 2) + q.outFeatures);
    }
  });

  it('export (writeQuantizedModel) → import returns the same dequantized weights and the fp32 logits', async () => {
    const src = path.join(root, 'float');
    const tiny = writeTinyModel(src, { ...SPECS.gpt2, dtype: 'F16' });
    const fm = await loadModel(src);
    for (const [bits, gs, sym] of [[3, 32, false], [4, -1, true], [8, 32, false], [2, 32, true]] as Array<[QuantBits, number, boolean]>) {
      const quantized = new Map<string, QuantizedLinear>();
      for (const mod of linearModules(fm.config)) quantized.set(mod.name, quantizeRtn(weightOf(fm, mod), mod.outFeatures, mod.inFeatures, { bits, groupSize: gs, sym }, mod.name));
      const out = path.join(root, `export-${bits}-${gs}`);
      writeQuantizedModel(out, fm, quantized, { ...DEFAULT_GPTQ, bits, groupSize: gs, sym });
      const qm = await loadModel(out, { cacheDir });
      const mods = new Map(linearModules(qm.config).map((x) => [x.name, x]));
      for (const [name, q] of quantized) {
        const back = readQuantizedModule(qm.quant!.modules.get(name)!.source!, mods.get(name)!, { bits, groupSize: gs, checkpointFormat: 'gptq' });
        assert.deepEqual(dequantize(back), dequantize(q), name);
      }
      // float64 oracle on the float model with the dequantized linears (Conv1D layout [in, out])
      const w = new Map(tiny.weights);
      for (const [name, q] of quantized) {
        const d = dequantize(q);
        const t = new Float64Array(d.length);
        for (let o = 0; o < q.outFeatures; o++) for (let k = 0; k < q.inFeatures; k++) t[k * q.outFeatures + o] = d[o * q.inFeatures + k];
        w.set(`${name}.weight`, { data: t, shape: [q.inFeatures, q.outFeatures] });
      }
      const ids = seq(10, SPECS.gpt2.vocabSize, bits);
      const [got] = await new CausalLM(qm, { threads: 1, graph: { quantAccuracyLevel: 0 } }).logits([ids]);
      assert.ok(maxAbsDiff(got, referenceForward(tiny.config, w, ids)) < 2e-4, `${bits}-bit`);
    }
  });
});

describe('GPTQ checkpoints: bad input', () => {
  useTempCache(path.join(root, 'cache'));
  const bad = (name: string) => path.join(root, `bad-${name}`);
  it('tensors that disagree with the config are FORMAT errors naming the file', async () => {
    writeTinyGptq(bad('bits'), SPECS.opt, { bits: 4, groupSize: 32, configOverrides: { bits: 3 } });
    await expectIdpError(() => loadModel(bad('bits'), { cacheDir }), 'FORMAT', path.join(bad('bits'), 'model.safetensors'), /qweight has shape/);
    writeTinyGptq(bad('groups'), SPECS.opt, { bits: 4, groupSize: 32, configOverrides: { group_size: 16 } });
    await expectIdpError(() => loadModel(bad('groups'), { cacheDir }), 'FORMAT', 'model.safetensors', /groups but group_size 16/);
    writeTinyGptq(bad('noqz'), SPECS.opt, { bits: 4, groupSize: 32, replace: { 'model.decoder.layers.1.fc1.qzeros': null } });
    await expectIdpError(() => loadModel(bad('noqz'), { cacheDir }), 'FORMAT', 'model.safetensors', /layers\.1\.fc1' has a qweight but no qzeros/);
    writeTinyGptq(bad('gidx'), SPECS.opt, { bits: 4, groupSize: 32, replace: {
      'model.decoder.layers.0.fc1.g_idx': { dtype: 'I32', shape: [32], data: new Int32Array(32).fill(7) },
    } });
    await expectIdpError(() => loadModel(bad('gidx'), { cacheDir }), 'FORMAT', 'model.safetensors', /g_idx\[0\] = 7/);
  });

  it('a quantize_config with nothing quantized, or a bad config, is a typed error', async () => {
    const dir = bad('float');
    writeTinyModel(dir, SPECS.opt);
    fs.writeFileSync(path.join(dir, 'quantize_config.json'), JSON.stringify({ bits: 4, group_size: 32 }));
    await expectIdpError(() => loadModel(dir, { cacheDir }), 'FORMAT', path.join(dir, 'quantize_config.json'), /no '\.qweight'/);
    fs.writeFileSync(path.join(dir, 'quantize_config.json'), JSON.stringify({ bits: 5, group_size: 32 }));
    await expectIdpError(() => loadModel(dir, { cacheDir }), 'CONFIG', 'quantize_config.json', /bits/);
    fs.writeFileSync(path.join(dir, 'quantize_config.json'), '{"bits": 4,');
    await expectIdpError(() => loadModel(dir, { cacheDir }), 'CONFIG', 'quantize_config.json', /JSON/);
  });
});

