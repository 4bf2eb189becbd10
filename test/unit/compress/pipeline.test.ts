// The compression pipeline end to end on stories260K (a real pretrained Llama): GPTQ's reconstruction
// error ‖WX − ŴX‖ is below RTN's on every linear layer (same bits, same calibration inputs), the
// perplexity on held-out TinyStories text orders fp32 < GPTQ-4 < GPTQ-3 ≤ RTN-3, SparseGPT hits 50% and
// 2:4 exactly and beats magnitude pruning on every layer; then GPTQ-layout output on a tiny model
// whose shapes fit (loads and equals the dense output), cancellation, and bad input.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { expectIdpError } from '../../helpers/tiny-hf';
import { TinyModelSpec, writeTinyModel } from '../../helpers/oracle-models';
import { compressModel, CompressOptions, CompressResult } from '../../../src/engine/compress/compress';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { evalCorpus, perplexity } from '../../../src/engine/eval/perplexity';
import { readSafetensorsHeader, readTensorF32 } from '../../../src/engine/formats/safetensors';
import { linearModules } from '../../../src/engine/models/quant/modules';
import { readQuantizedModule } from '../../../src/engine/models/quant/gptq-load';
import { dequantize } from '../../../src/engine/models/quant/gptq-format';

const root = tmpDir('idp-pipeline-');

describe('compression pipeline on stories260K', function () {
  useTempCache(path.join(root, 'cache'));
  this.timeout(120000);
  const calib = { calib: 'model' as const, samples: 32, seqlen: 256, seed: 1 };
  const runs = new Map<string, CompressResult>();
  let model = '';
  let heldOut = '';
  const run = async (name: string, o: Omit<CompressOptions, 'out'>) => {
    const r = await compressModel(model, { ...o, out: path.join(root, name), output: 'dense' });
    runs.set(name, r);
    return r;
  };

  before(function () {
    model = dataPath(this, ...STORIES, 'stories260K.gguf');
    heldOut = dataPath(this, 'corpora', 'tinystories', 'tinystories_sample.txt');
  });

  it('GPTQ beats RTN on ‖WX − ŴX‖ for every linear layer (4-bit and 3-bit, per channel)', async () => {
    for (const bits of [4, 3] as const) {
      const r = await run(`gptq${bits}`, { method: 'gptq', bits, groupSize: -1, ...calib });
      assert.equal(r.modules.length, 35);
      for (const s of r.modules) assert.ok(s.error! < s.baselineError!, `${bits}-bit ${s.name}: GPTQ ${s.error} ≥ RTN ${s.baselineError}`);
      if (process.env.IDP_VERBOSE) console.log(`      ${bits}-bit: mean GPTQ/RTN error ratio ${(r.modules.reduce((a, s) => a + s.error! / s.baselineError!, 0) / 35).toFixed(3)}`);
    }
  });

  it('perplexity on held-out text orders fp32 < GPTQ-4 < GPTQ-3 ≤ RTN-3', async () => {
    await run('rtn3', { method: 'rtn', bits: 3, groupSize: -1 });
    const ppl = async (p: string) => {
      const m = await loadModel(p);
      const c = evalCorpus([heldOut], m.tokenizer!, m.config);
      return (await perplexity(new CausalLM(m, { threads: 1 }), c.ids, { seqlen: 256 })).ppl;
    };
    const fp32 = await ppl(model);
    const g4 = await ppl(path.join(root, 'gptq4'));
    const g3 = await ppl(path.join(root, 'gptq3'));
    const r3 = await ppl(path.join(root, 'rtn3'));
    if (process.env.IDP_VERBOSE) console.log(`      fp32 ${fp32.toFixed(3)}, GPTQ-4 ${g4.toFixed(3)}, GPTQ-3 ${g3.toFixed(3)}, RTN-3 ${r3.toFixed(3)}`);
    assert.ok(fp32 < g4 && g4 < g3 && g3 <= r3, `fp32 ${fp32}, GPTQ-4 ${g4}, GPTQ-3 ${g3}, RTN-3 ${r3}`);
  });

  it('SparseGPT hits 50% and 2:4 exactly and beats magnitude pruning on every layer', async () => {
    for (const [name, target] of [['sp50', { sparsity: 0.5 }], ['sp24', { pattern: { n: 2, m: 4 } }]] as const) {
      const r = await run(name, { method: 'sparsegpt', ...target, ...calib });
      const h = readSafetensorsHeader(path.join(root, name, 'model.safetensors'));
      for (const s of r.modules) {
        assert.ok(s.error! < s.baselineError!, `${name} ${s.name}: SparseGPT ${s.error} ≥ magnitude ${s.baselineError}`);
        const w = readTensorF32(h.tensors.get(`${s.name}.weight`)!);
        const K = s.inFeatures;
        if ('sparsity' in target) assert.equal(w.reduce((a, x) => a + (x === 0 ? 1 : 0), 0), w.length / 2, s.name);
        else for (let i = 0; i < w.length; i += 4) assert.equal([0, 1, 2, 3].filter((j) => w[i + j] === 0).length, 2, `${s.name} row ${Math.floor(i / K)}`);
      }
      const meta = JSON.parse(fs.readFileSync(path.join(root, name, 'sparsity_config.json'), 'utf8'));
      assert.equal(meta.method, 'sparsegpt');
      assert.equal(Object.keys(meta.modules).length, 35);
    }
  });

  it('GPTQ layout with --skip-unfit: attention quantized (MatMulNBits), MLP (172 wide) left float; loads and runs', async () => {
    const out = path.join(root, 'gptq4-layout');
    const r = await compressModel(model, { method: 'gptq', bits: 4, groupSize: -1, ...calib, out, skipUnfit: true });
    assert.deepEqual(r.skipped.map((s) => s.replace(/^model\.layers\.\d+\./, '')).sort(), Array(5).fill(['mlp.down_proj', 'mlp.gate_proj', 'mlp.up_proj']).flat().sort());
    const m = await loadModel(out);
    assert.equal(m.quant!.modules.size, 20);
    assert.ok(fs.existsSync(path.join(out, 'tokenizer.bin')));
    const ids = m.tokenizer!.encode('Once upon a time');
    const [l] = await new CausalLM(m, { threads: 1 }).logits([[1, ...ids]]);
    assert.ok(l.every(Number.isFinite));
  });
});

describe('compression pipeline: GPTQ layout, cancellation, bad input', function () {
  useTempCache(path.join(root, 'cache'));
  this.timeout(60000);
  const spec: TinyModelSpec = { modelType: 'llama', vocabSize: 96, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, seed: 41 };
  const src = path.join(root, 'tiny');
  writeTinyModel(src, spec);
  const calib = { calib: 'model' as const, samples: 8, seqlen: 32, seed: 3 };

  it('GPTQ (act-order, group 32) written in the GPTQ layout loads and gives the dense output\'s logits', async () => {
    const o = { method: 'gptq' as const, bits: 4 as const, groupSize: 32, actOrder: true, ...calib };
    await compressModel(src, { ...o, out: path.join(root, 'tiny-q') });
    await compressModel(src, { ...o, out: path.join(root, 'tiny-dense'), output: 'dense' });
    const q = await loadModel(path.join(root, 'tiny-q'));
    assert.equal(q.quant!.modules.size, linearModules(q.config).length);
    assert.ok([...q.quant!.modules.values()].some((x) => x.perm), 'act-order permutation at load');
    const d = await loadModel(path.join(root, 'tiny-dense'));
    const ids = [1, 5, 9, 33, 2, 17, 80, 4];
    const [a] = await new CausalLM(q, { threads: 1, graph: { quantAccuracyLevel: 0 } }).logits([ids]);
    const [b] = await new CausalLM(d, { threads: 1 }).logits([ids]);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 1e-4, `max |Δ| ${worst}`);
  });

  it('SparseGPT 2:4 jointly quantized to 4 bits: a GPTQ folder whose dequantized weights keep the pattern', async () => {
    const out = path.join(root, 'tiny-sp24q4');
    const r = await compressModel(src, { method: 'sparsegpt', pattern: { n: 2, m: 4 }, bits: 4, groupSize: 32, ...calib, out });
    assert.ok(r.modules.every((x) => x.quantized && x.error! < x.baselineError!));
    const q = await loadModel(out);
    const sp = JSON.parse(fs.readFileSync(path.join(out, 'sparsity_config.json'), 'utf8'));
    assert.equal(sp.pattern, '2:4');
    const mods = new Map(linearModules(q.config).map((x) => [x.name, x]));
    for (const [name, ref] of q.quant!.modules) {
      const w = dequantize(readQuantizedModule(ref.source!, mods.get(name)!, { bits: 4, groupSize: 32, checkpointFormat: 'gptq' }));
      for (let i = 0; i < w.length; i += 4) assert.ok([0, 1, 2, 3].filter((j) => w[i + j] === 0).length >= 2, `${name} at ${i}`);
    }
  });

  it('a cancelled run leaves no folder (and no temporary folder)', async () => {
    let polls = 0;
    const out = path.join(root, 'cancelled');
    const r = await compressModel(src, { method: 'gptq', bits: 4, groupSize: 32, ...calib, out, isCancelled: () => ++polls > 6 });
    assert.equal(r.cancelled, true);
    assert.equal(fs.existsSync(out), false);
    let late = 0;
    const r2 = await compressModel(src, { method: 'rtn', bits: 4, groupSize: 32, out, isCancelled: () => ++late > 3 });
    assert.equal(r2.cancelled, true);
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.startsWith('.') && f.includes('cancelled')), []);
  });

  it('bits or group sizes that do not fit, a calibration set too small, NaN weights, a quantized model → typed errors', async () => {
    const out = path.join(root, 'never');
    await expectIdpError(() => compressModel(src, { method: 'rtn', bits: 4, groupSize: 40, out }), 'INPUT', undefined, /group size 40 does not divide in_features 64/);
    await expectIdpError(() => compressModel(src, { method: 'rtn', bits: 5 as 4, groupSize: 32, out }), 'INPUT', undefined, /bits must be/);
    await expectIdpError(() => compressModel(src, { method: 'gptq', bits: 4, groupSize: 32, out }), 'INPUT', undefined, /needs calibration data/);
    await expectIdpError(() => compressModel(src, { method: 'gptq', bits: 4, groupSize: 32, ...calib, seqlen: 500, out }), 'INPUT', undefined, /exceeds the model's context of 64/);
    await expectIdpError(() => compressModel(src, { method: 'sparsegpt', pattern: { n: 2, m: 3 }, ...calib, out }), 'INPUT', undefined, /multiple of M = 3/);
    const stories = path.join(root, 'gptq4-layout');
    if (fs.existsSync(stories)) await expectIdpError(() => compressModel(stories, { method: 'rtn', bits: 4, groupSize: -1, out }), 'INPUT', stories, /already GPTQ-quantized/);
    const nan = path.join(root, 'nan');
    writeTinyModel(nan, { ...spec, edit: (w) => { w.get('model.layers.1.mlp.up_proj.weight')!.data[7] = NaN; } });
    await expectIdpError(() => compressModel(nan, { method: 'rtn', bits: 4, groupSize: 32, out }), 'FORMAT', 'model.safetensors', /up_proj\.weight' holds NaN/);
    assert.equal(fs.existsSync(out), false);
  });

  it('a calibration text too small for samples × seqlen is an INPUT error naming it', async function () {
    const stories = dataPath(this, ...STORIES, 'stories260K.gguf');
    const small = path.join(root, 'small.txt');
    fs.writeFileSync(small, 'Once upon a time there was a cat. It was happy.');
    await expectIdpError(() => compressModel(stories, { method: 'gptq', bits: 4, groupSize: -1, calib: [small], samples: 4, seqlen: 64, output: 'dense', out: path.join(root, 'never2') }),
      'INPUT', small, /calibration set too small: \d+ tokens, need 4 samples × 64 tokens/);
  });
});
