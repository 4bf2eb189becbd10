// The calibration graphs cut out of each architecture's ONNX graph: embedding + every layer run one at a
// time (layer parameters fed as inputs) reproduce the full model — the final hidden state, through the
// final norm and head computed here in float64, gives the CausalLM's logits — for Llama, OPT (pre- and
// post-LN, with project_in/out) and GPT-2 (F16 weights included); and GPTQ / SparseGPT through the
// pipeline beat their baselines on every layer of each architecture.

import { strict as assert } from 'assert';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { TinyModelSpec, writeTinyModel } from '../../helpers/oracle-models';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { CalibChunk, LayerRunner } from '../../../src/engine/compress/layer-graph';
import { compressModel } from '../../../src/engine/compress/compress';
import { readTensorF32 } from '../../../src/engine/formats/safetensors';
import type { LoadedModel } from '../../../src/engine/models/config';

const root = tmpDir('idp-layergraph-');

const SPECS: Record<string, TinyModelSpec> = {
  llama: { modelType: 'llama', vocabSize: 96, hiddenSize: 64, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 96, seed: 51, dtype: 'F16' },
  optPre: { modelType: 'opt', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, seed: 52 },
  optPost: { modelType: 'opt', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, doLayerNormBefore: false, wordEmbedProjDim: 16, seed: 53 },
  gpt2: { modelType: 'gpt2', vocabSize: 80, hiddenSize: 32, numLayers: 2, numHeads: 4, seed: 54 },
};

/** Final norm + head in float64 on hidden [T, d] → logits [T, V]. */
function head(m: LoadedModel, h: Float32Array, T: number): Float64Array {
  const c = m.config;
  const d = c.hiddenSize;
  const w = (n: string) => readTensorF32(m.weights.get(n)!);
  let x: Float64Array = Float64Array.from(h);
  const layerNorm = (v: Float64Array, g: Float32Array, b: Float32Array) => {
    const out = new Float64Array(v.length);
    for (let t = 0; t < T; t++) {
      let mu = 0; for (let i = 0; i < d; i++) mu += v[t * d + i]; mu /= d;
      let s = 0; for (let i = 0; i < d; i++) s += (v[t * d + i] - mu) ** 2; s /= d;
      for (let i = 0; i < d; i++) out[t * d + i] = ((v[t * d + i] - mu) / Math.sqrt(s + c.normEps)) * g[i] + b[i];
    }
    return out;
  };
  let E: Float32Array;
  let e = d;
  if (c.arch === 'llama') {
    const g = w('model.norm.weight');
    for (let t = 0; t < T; t++) {
      let s = 0; for (let i = 0; i < d; i++) s += x[t * d + i] ** 2;
      const r = 1 / Math.sqrt(s / d + c.normEps);
      for (let i = 0; i < d; i++) x[t * d + i] *= r * g[i];
    }
    E = w(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  } else if (c.arch === 'opt') {
    if (m.weights.has('model.decoder.final_layer_norm.weight')) x = layerNorm(x, w('model.decoder.final_layer_norm.weight'), w('model.decoder.final_layer_norm.bias'));
    if (c.wordEmbedProjDim && c.wordEmbedProjDim !== d) {
      e = c.wordEmbedProjDim;
      const P = w('model.decoder.project_out.weight');   // [e, d]
      const y = new Float64Array(T * e);
      for (let t = 0; t < T; t++) for (let o = 0; o < e; o++) { let s = 0; for (let i = 0; i < d; i++) s += x[t * d + i] * P[o * d + i]; y[t * e + o] = s; }
      x = y;
    }
    E = w('model.decoder.embed_tokens.weight');
  } else {
    x = layerNorm(x, w('transformer.ln_f.weight'), w('transformer.ln_f.bias'));
    E = w('transformer.wte.weight');
  }
  const V = c.vocabSize;
  const logits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) for (let v = 0; v < V; v++) { let s = 0; for (let i = 0; i < e; i++) s += x[t * e + i] * E[v * e + i]; logits[t * V + v] = s; }
  return logits;
}

describe('calibration layer graphs', function () {
  useTempCache(path.join(root, 'cache'));
  this.timeout(60000);
  for (const [name, spec] of Object.entries(SPECS)) {
    it(`${name}: embed + layer-by-layer sessions reproduce the model's logits`, async () => {
      const dir = path.join(root, name);
      writeTinyModel(dir, spec);
      const m = await loadModel(dir);
      const runner = await LayerRunner.create(m, 1);
      try {
        const ids = [[3, 9, 27, 4, 50, 11, 2, 8], [7, 7, 1, 30, 12, 5, 40, 9]];
        const chunk: CalibChunk = { ids };
        await runner.embed(chunk);
        for (let l = 0; l < m.config.numLayers; l++) await runner.forward(chunk, runner.readParams(l));
        const want = await new CausalLM(m, { threads: 1 }).logits(ids);
        const d = m.config.hiddenSize;
        for (let b = 0; b < ids.length; b++) {
          const got = head(m, chunk.hidden!.subarray(b * 8 * d, (b + 1) * 8 * d), 8);
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[b][i]));
          assert.ok(worst < 1e-3, `row ${b}: max |Δlogit| ${worst}`);
        }
        assert.ok(runner.groups.length >= 4, `${runner.groups.length} groups`);
      } finally {
        await runner.release();
      }
    });

    it(`${name}: GPTQ beats RTN and SparseGPT 2:4 beats magnitude on every layer`, async () => {
      const dir = path.join(root, name);
      const calib = { calib: 'model' as const, samples: 8, seqlen: 32, seed: 2, output: 'dense' as const };
      const g = await compressModel(dir, { method: 'gptq', bits: 3, groupSize: -1, ...calib, out: path.join(root, `${name}-g`) });
      for (const s of g.modules) assert.ok(s.error! < s.baselineError!, `${s.name}: ${s.error} ≥ ${s.baselineError}`);
      const sp = await compressModel(dir, { method: 'sparsegpt', pattern: { n: 2, m: 4 }, ...calib, out: path.join(root, `${name}-s`) });
      for (const s of sp.modules) {
        assert.ok(s.error! < s.baselineError!, `${s.name}: ${s.error} ≥ ${s.baselineError}`);
        assert.equal(s.sparsity, 0.5);
      }
    });
  }
});
