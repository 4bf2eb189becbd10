// stories260K in both of its staged forms (GGUF and llama2.c v0): same config, byte-identical
// converted tensors, the interleaved → rotate_half conversion checked numerically, the reference
// logits reproduced from the converted HF folder, and the conversion cache.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { readLlama2cHeader, llama2cTensors, readLlama2cTensor } from '../../../src/engine/formats/llama2c';
import { readTensorBytes, readTensorF32 } from '../../../src/engine/formats/safetensors';
import type { LoadedModel } from '../../../src/engine/models/config';
import { cacheFolderFor } from '../../../src/engine/models/convert';
import { describeModel, loadModel } from '../../../src/engine/models/load';
import { dataPath, tmpDir, STORIES } from '../../helpers/data';
import { referenceForward } from '../../helpers/reference-forward';
import { prng } from '../../helpers/tiny-hf';

const cacheDir = path.join(tmpDir('idp-stories-'), 'cache');

/** Rotary on one head vector (float64), pairs either adjacent (2i, 2i+1) or split halves (i, i+hd/2). */
function rope(v: Float64Array, pos: number, theta: number, interleaved: boolean): Float64Array {
  const hd = v.length;
  const out = new Float64Array(hd);
  for (let i = 0; i < hd / 2; i++) {
    const ang = pos * theta ** (-(2 * i) / hd);
    const [a, b] = interleaved ? [2 * i, 2 * i + 1] : [i, i + hd / 2];
    out[a] = v[a] * Math.cos(ang) - v[b] * Math.sin(ang);
    out[b] = v[b] * Math.cos(ang) + v[a] * Math.sin(ang);
  }
  return out;
}

/** Attention scores q(p1)·k(p2) per head for inputs xs at positions 0..T-1, in float64. */
function scores(wq: Float32Array, wk: Float32Array, xs: Float64Array[], d: number, nh: number, nkv: number, interleaved: boolean): number[] {
  const hd = d / nh;
  const proj = (w: Float32Array, rows: number, x: Float64Array) => {
    const o = new Float64Array(rows);
    for (let r = 0; r < rows; r++) { let s = 0; for (let c = 0; c < d; c++) s += w[r * d + c] * x[c]; o[r] = s; }
    return o;
  };
  const out: number[] = [];
  const qs = xs.map((x) => proj(wq, nh * hd, x));
  const ks = xs.map((x) => proj(wk, nkv * hd, x));
  for (let h = 0; h < nh; h++) {
    const g = Math.floor(h / (nh / nkv));
    for (let p1 = 0; p1 < xs.length; p1++) {
      const q = rope(qs[p1].subarray(h * hd, (h + 1) * hd), p1, 10000, interleaved);
      for (let p2 = 0; p2 <= p1; p2++) {
        const k = rope(ks[p2].subarray(g * hd, (g + 1) * hd), p2, 10000, interleaved);
        let s = 0;
        for (let i = 0; i < hd; i++) s += q[i] * k[i];
        out.push(s);
      }
    }
  }
  return out;
}

describe('stories260K: GGUF and llama2.c', function () {
  let gguf: LoadedModel;
  let bin: LoadedModel;
  let ggufFile: string;
  let binFile: string;

  before(async function () {
    ggufFile = dataPath(this, ...STORIES, 'stories260K.gguf');
    binFile = dataPath(this, ...STORIES, 'stories260K.bin');
    gguf = await loadModel(ggufFile, { cacheDir });
    bin = await loadModel(binFile, { cacheDir });
  });

  it('both load with the documented config', () => {
    for (const m of [gguf, bin]) {
      const c = m.config;
      assert.deepEqual([c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKvHeads, c.vocabSize, c.headDim], [64, 172, 5, 8, 4, 512, 8]);
      assert.equal(c.normEps, 1e-5);
      assert.equal(c.ropeTheta, 10000);
      assert.equal(c.tieWordEmbeddings, true);
      assert.equal(c.bosTokenId, 1);
      assert.equal(c.eosTokenId, 2);
      assert.ok(m.tokenizer, 'tokenizer found (GGUF vocabulary / sibling tok512.bin)');
    }
    assert.equal(gguf.format, 'gguf');
    assert.equal(bin.format, 'llama2c');
    assert.equal(gguf.source, ggufFile);
    assert.equal(bin.config.maxPositions, 512);
    assert.equal(gguf.config.maxPositions, 2048, 'the GGUF says context 2048');
    assert.deepEqual({ ...gguf.config, maxPositions: 0 }, { ...bin.config, maxPositions: 0 });
    const d = describeModel(bin);
    assert.deepEqual(d, {
      architecture: 'LlamaForCausalLM', modelType: 'llama', format: 'llama2c', parameters: 260032, dtypes: { F32: 47 },
      contextLength: 512, vocabSize: 512, layers: 5, hidden: 64,
    });
    assert.deepEqual(gguf.tokenizer!.encode('Once upon a time, Lily'), bin.tokenizer!.encode('Once upon a time, Lily'));
  });

  it('weights live in the converted folder with HF names, identical for both sources', () => {
    assert.equal(gguf.weights.size, 47);
    assert.deepEqual([...gguf.weights.keys()].sort(), [...bin.weights.keys()].sort());
    for (const [name, t] of gguf.weights) {
      const u = bin.weights.get(name)!;
      assert.equal(t.dtype, 'F32');
      assert.deepEqual(t.shape, u.shape, name);
      assert.ok(path.dirname(t.file) === gguf.weightsDir && path.dirname(u.file) === bin.weightsDir);
      assert.ok(readTensorBytes(t).equals(readTensorBytes(u)), `${name} differs between GGUF and llama2.c conversions`);
    }
    const cfgJson = JSON.parse(fs.readFileSync(path.join(bin.weightsDir, 'config.json'), 'utf8'));
    assert.equal(cfgJson.model_type, 'llama');
    assert.equal(cfgJson.num_key_value_heads, 4);
  });

  it('rotary conversion: HF rotate_half on converted q/k equals interleaved rotary on the originals', () => {
    const h = readLlama2cHeader(binFile);
    const orig = (name: string) => readLlama2cTensor(h, llama2cTensors(h).find((t) => t.name === name && t.layer === 0)!);
    const conv = (name: string) => readTensorF32(bin.weights.get(`model.layers.0.self_attn.${name}.weight`)!);
    const rand = prng(7);
    const xs = Array.from({ length: 6 }, () => Float64Array.from({ length: 64 }, () => rand() * 2 - 1));
    const want = scores(orig('wq'), orig('wk'), xs, 64, 8, 4, true);
    const got = scores(conv('q_proj'), conv('k_proj'), xs, 64, 8, 4, false);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
    assert.ok(maxDiff < 1e-9, `scores differ by ${maxDiff}`);
    // The check has teeth: rotate_half on the unconverted rows gives different scores.
    const wrong = scores(orig('wq'), orig('wk'), xs, 64, 8, 4, false);
    let wrongDiff = 0;
    for (let i = 0; i < want.length; i++) wrongDiff = Math.max(wrongDiff, Math.abs(want[i] - wrong[i]));
    assert.ok(wrongDiff > 1e-3, `unconverted rows should not match (${wrongDiff})`);
    // v projection is not permuted.
    assert.deepEqual([...conv('v_proj')], [...orig('wv')]);
  });

  it('the converted HF folder reproduces the reference logits under HF (rotate_half) semantics', function () {
    const ref = JSON.parse(fs.readFileSync(dataPath(this, ...STORIES, 'reference_greedy.json'), 'utf8')) as { logits_inputs: number[]; logits: number[][] };
    const cfgJson = JSON.parse(fs.readFileSync(path.join(gguf.weightsDir, 'config.json'), 'utf8'));
    const w = new Map([...gguf.weights].map(([k, t]) => [k, { shape: t.shape, data: Float64Array.from(readTensorF32(t)) }]));
    const logits = referenceForward(cfgJson, w, ref.logits_inputs);
    let maxDiff = 0;
    ref.logits.forEach((row, t) => row.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(logits[t * 512 + i] - v)); }));
    assert.ok(maxDiff < 1e-3, `logits differ from the reference by ${maxDiff}`);
  });

  it('conversion is cached: a second load rewrites nothing', async () => {
    const st = path.join(gguf.weightsDir, 'model.safetensors');
    const before = [fs.statSync(st).mtimeMs, fs.statSync(gguf.weightsDir).mtimeMs, fs.statSync(st).ino];
    const again = await loadModel(ggufFile, { cacheDir });
    assert.equal(again.weightsDir, gguf.weightsDir);
    assert.deepEqual([fs.statSync(st).mtimeMs, fs.statSync(gguf.weightsDir).mtimeMs, fs.statSync(st).ino], before);
    assert.equal(cacheFolderFor(ggufFile, cacheDir), gguf.weightsDir);
    const entries = fs.readdirSync(cacheDir);
    assert.equal(entries.filter((e) => e.startsWith('.tmp') || e.endsWith('.tmp')).length, 0, 'no temporary folders left');
    const info = JSON.parse(fs.readFileSync(path.join(gguf.weightsDir, 'idp-source.json'), 'utf8'));
    assert.equal(info.source, ggufFile);
  });

  it('a changed source (new mtime) converts into a new folder', async function () {
    const copyDir = tmpDir('idp-stories-copy-');
    const copy = path.join(copyDir, 'stories260K.bin');
    fs.copyFileSync(binFile, copy);
    const a = await loadModel(copy, { cacheDir });
    assert.equal(a.tokenizer, undefined);
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(copy, t, t);
    const b = await loadModel(copy, { cacheDir, tokenizer: dataPath(this, ...STORIES, 'tok512.bin') });
    assert.notEqual(a.weightsDir, b.weightsDir);
    assert.ok(b.tokenizer);
  });
});
