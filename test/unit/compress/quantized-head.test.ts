// A quantized output projection (`idp compress --quantize-head`, GPTQModel's lm_head.qweight …): the
// logits of the written folder equal a float64 forward pass on weights dequantized here from the stored
// integers (own safetensors reader and unpacker, written from the GPTQ layout), for tied heads (the
// embedding gathered from the quantized matrix: GatherBlockQuantized) and untied ones, 4 and 8 bits;
// the loader reads the head back exactly; folders quantized elsewhere (test-side packer, act-order)
// load too; the float table never exists at run time; bad requests are INPUT errors.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { expectIdpError } from '../../helpers/tiny-hf';
import { readHfFolder, TinyModelSpec, writeTinyModel } from '../../helpers/oracle-models';
import { referenceForward } from '../../helpers/reference-forward';
import { writeTinyGptq } from '../../helpers/tiny-gptq';
import { seq } from '../../helpers/arrays';
import type { RefWeights } from '../../helpers/oracle-models';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { buildGraph } from '../../../src/engine/models/graph';
import { compressModel } from '../../../src/engine/compress/compress';
import { readQuantizedModule } from '../../../src/engine/models/quant/gptq-load';
import { headModule, weightOf } from '../../../src/engine/models/quant/modules';
import { quantizeRtn } from '../../../src/engine/compress/rtn';
import { dequantize } from '../../../src/engine/models/quant/gptq-format';

const SPECS: Record<string, TinyModelSpec> = {
  llamaTied: { modelType: 'llama', vocabSize: 96, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, tieWordEmbeddings: true, seed: 31 },
  llama: { modelType: 'llama', vocabSize: 96, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, seed: 32 },
  gpt2: { modelType: 'gpt2', vocabSize: 80, hiddenSize: 64, numLayers: 2, numHeads: 4, seed: 33 },
};

const root = tmpDir('idp-qhead-');
const cacheDir = path.join(root, 'cache', 'converted');

function relDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let d = 0, m = 0;
  for (let i = 0; i < got.length; i++) { d = Math.max(d, Math.abs(got[i] - want[i])); m = Math.max(m, Math.abs(want[i])); }
  return d / m;
}

// ---- own reader of the stored integers (GPTQ layout: docs/compression.md) ----

function decodeF16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Raw tensors of a safetensors file: dtype, shape, bytes. */
function rawTensors(file: string): Map<string, { dtype: string; shape: number[]; bytes: Buffer }> {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { dtype: string; shape: number[]; bytes: Buffer }>();
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    out.set(name, { dtype: h.dtype, shape: h.shape, bytes: buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]) });
  }
  return out;
}

/**
 * W [out, in] float64 of module `mod` from its stored qweight [in·bits/32, out] (code k of column o at
 * bits k·bits of that column's word stream), qzeros [groups, out·bits/32] (v1: stored zero − 1), scales
 * fp16 [groups, out], g_idx [in]: W[o, k] = fround(scale · (code − zero)). Bits 2, 4 or 8.
 */
function storedWeight(t: ReturnType<typeof rawTensors>, mod: string, bits: number, v1: boolean): { w: Float64Array; inF: number; outF: number } {
  const qw = t.get(`${mod}.qweight`)!, qz = t.get(`${mod}.qzeros`)!, sc = t.get(`${mod}.scales`)!, gi = t.get(`${mod}.g_idx`)!;
  assert.equal(qw.dtype, 'I32');
  const outF = qw.shape[1], inF = (qw.shape[0] * 32) / bits, groups = sc.shape[0], zcols = qz.shape[1];
  const mask = (1 << bits) - 1;
  const word = (b: Buffer, i: number) => b.readUInt32LE(4 * i);
  const w = new Float64Array(outF * inF);
  for (let o = 0; o < outF; o++) {
    for (let k = 0; k < inF; k++) {
      const code = (word(qw.bytes, ((k * bits) >> 5) * outF + o) >>> ((k * bits) & 31)) & mask;
      const g = gi.bytes.readInt32LE(4 * k);
      assert.ok(g >= 0 && g < groups);
      const zero = ((word(qz.bytes, g * zcols + ((o * bits) >> 5)) >>> ((o * bits) & 31)) & mask) + (v1 ? 1 : 0);
      const scale = decodeF16(sc.bytes.readUInt16LE(2 * (g * outF + o)));
      w[o * inF + k] = Math.fround(scale * (code - zero));
    }
  }
  return { w, inF, outF };
}

/** The float64 weights a compressed folder stands for: float tensors as stored, every quantized module dequantized. */
function folderWeights(dir: string, src: RefWeights, bits: number, headBits: number): RefWeights {
  const t = rawTensors(path.join(dir, 'model.safetensors'));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const w: RefWeights = new Map(src);
  const conv1d = cfg.model_type === 'gpt2';
  for (const name of t.keys()) {
    if (!name.endsWith('.qweight')) continue;
    const mod = name.slice(0, -'.qweight'.length);
    const head = mod === 'lm_head';
    const { w: d, inF, outF } = storedWeight(t, mod, head ? headBits : bits, true);
    if (head) {
      const target = cfg.tie_word_embeddings !== false && !src.has('lm_head.weight') ? (conv1d ? 'transformer.wte.weight' : 'model.embed_tokens.weight') : 'lm_head.weight';
      w.set(target, { data: d, shape: [outF, inF] });
    } else if (conv1d) {
      const tr = new Float64Array(d.length);
      for (let o = 0; o < outF; o++) for (let k = 0; k < inF; k++) tr[k * outF + o] = d[o * inF + k];
      w.set(`${mod}.weight`, { data: tr, shape: [inF, outF] });
    } else {
      w.set(`${mod}.weight`, { data: d, shape: [outF, inF] });
    }
  }
  return w;
}

describe('quantized output projection (--quantize-head)', function () {
  useTempCache(path.join(root, 'cache'));
  this.timeout(120000);

  for (const [arch, spec] of Object.entries(SPECS)) {
    for (const headBits of [4, 8] as const) {
      it(`${arch}, ${headBits}-bit head: logits = float64 forward on the stored integers; the loader reads the head back exactly`, async () => {
        const src = path.join(root, `src-${arch}`);
        const tiny = fs.existsSync(src) ? { dir: src, ...readHfFolder(src) } : writeTinyModel(src, spec);
        const out = path.join(root, `${arch}-h${headBits}`);
        const r = await compressModel(src, { method: 'rtn', bits: 4, groupSize: 32, sym: arch !== 'llamaTied', quantizeHead: true, headBits, out, overwrite: true });
        assert.ok(r.modules.some((x) => x.name === 'lm_head' && x.quantized));
        const qc = JSON.parse(fs.readFileSync(path.join(out, 'quantize_config.json'), 'utf8'));
        assert.equal(qc.lm_head, true);
        const stored = rawTensors(path.join(out, 'model.safetensors'));
        const tied = spec.modelType === 'gpt2' || !!spec.tieWordEmbeddings;
        const embedName = spec.modelType === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
        assert.ok(!stored.has(embedName) === tied, 'a tied table is stored once, as lm_head.*');
        assert.ok(!stored.has('lm_head.weight'));
        // who else reads it: GPTQModel an untied quantized head (sym v1 here); nobody a tied one stored once
        const readers = r.loaders!.filter((v) => v.reads).map((v) => v.loader);
        assert.deepEqual(readers, tied ? [] : ['GPTQModel']);

        const m = await loadModel(out, { cacheDir });
        const hq = m.quant!.modules.get('lm_head')!;
        assert.equal(hq.kernel, 'nbits');
        assert.equal(hq.runBits, headBits);
        assert.deepEqual(m.quant!.tables, tied ? { [embedName]: 'lm_head' } : undefined);
        // the loader's head equals RTN of the float head (export → import exact)
        const fm = await loadModel(src);
        const head = headModule(fm.config);
        const want = quantizeRtn(weightOf(fm, head), head.outFeatures, head.inFeatures, { bits: headBits, groupSize: 32, sym: arch !== 'llamaTied' }, 'lm_head');
        assert.deepEqual(dequantize(readQuantizedModule(hq.source!, head, { bits: headBits, groupSize: 32, checkpointFormat: 'gptq' })), dequantize(want));
        // tied: no float [V, d] table anywhere in the inference graph; untied: no float head
        const g = buildGraph(m, { logits: 'last', kvCache: 'capacity' });
        const V = m.config.vocabSize;
        const bigFloat = g.initializers.filter((i) => i.dataType === 1 && (i.dims ?? []).map(Number).reduce((a, b) => a * b, 1) >= V * head.inFeatures);
        if (tied) assert.deepEqual(bigFloat.map((i) => i.name), [], 'a float initializer as large as the vocabulary table');
        else assert.deepEqual(bigFloat.map((i) => i.name), [embedName]);
        if (headBits !== 4) assert.deepEqual(qc.dynamic?.['+:lm_head$'], { bits: headBits });

        const ref = folderWeights(out, tiny.weights, 4, headBits);
        const ids = seq(9, V, headBits);
        const expected = referenceForward(tiny.config, ref, ids);
        const [got] = await new CausalLM(m, { threads: 1, graph: { quantAccuracyLevel: 0 } }).logits([ids]);
        const rel = relDiff(got, expected);
        assert.ok(rel < 1e-4, `max |Δlogit| / max |logit| = ${rel}`);
        const [fallback] = await new CausalLM(m, { threads: 1, graph: { dequantize: true } }).logits([ids]);
        assert.ok(relDiff(fallback, expected) < 1e-4, 'the dequantized fp32 fallback');
      });
    }
  }

  it('decoding with the KV cache equals full recompute (the embedding of one new token from the quantized table)', async () => {
    const m = await loadModel(path.join(root, 'llamaTied-h4'), { cacheDir });
    for (const [kvCache, level] of [['concat', 0], ['capacity', 0], ['concat', 4]] as const) {
      const lm = new CausalLM(m, { threads: 1, kvCache, graph: { quantAccuracyLevel: level } });
      const ids = seq(9, SPECS.llamaTied.vocabSize, 5);
      const [full] = await lm.logits([ids]);
      const st = lm.newState(1);
      const parts: number[] = Array.from((await lm.step(st, [ids.slice(0, 4)], [[true, true, true, true]], 'all')).logits);
      for (let t = 4; t < ids.length; t++) parts.push(...(await lm.step(st, [[ids[t]]], [[true]], 'last')).logits);
      const rel = relDiff(parts, full);
      // level 4 quantizes the activations to int8 per block; one row and nine take different MLAS paths
      assert.ok(rel < (level === 0 ? 1e-4 : 0.02), `${kvCache}, accuracy level ${level}: ${rel}`);
    }
  });

  for (const [name, spec, actOrder] of [['llama tied, act-order', SPECS.llamaTied, true], ['llama untied', SPECS.llama, false], ['gpt2 tied', SPECS.gpt2, false]] as const) {
    it(`a folder quantized elsewhere with a quantized lm_head (${name}) loads and matches the float64 oracle`, async () => {
      const dir = path.join(root, `foreign-${name.replace(/[ ,]+/g, '-')}`);
      const t = writeTinyGptq(dir, spec, { bits: 4, groupSize: 32, actOrder, lmHead: true });
      const m = await loadModel(dir, { cacheDir });
      const hq = m.quant!.modules.get('lm_head')!;
      assert.equal(!!hq.perm, actOrder);
      const ids = seq(8, spec.vocabSize, 7);
      const [got] = await new CausalLM(m, { threads: 1, graph: { quantAccuracyLevel: 0 } }).logits([ids]);
      const rel = relDiff(got, referenceForward(t.config, t.weights, ids));
      assert.ok(rel < 1e-4, `max |Δlogit| / max |logit| = ${rel}`);
    });
  }

  it('refusals: a method that does not quantize, --dense, a head the group size does not fit, --head-bits alone', async () => {
    const src = path.join(root, 'src-llamaTied');
    if (!fs.existsSync(src)) writeTinyModel(src, SPECS.llamaTied);
    const out = path.join(root, 'refused');
    await expectIdpError(() => compressModel(src, { method: 'magnitude', sparsity: 0.5, quantizeHead: true, out }), 'INPUT', undefined, /quantize-head needs a quantizing method/);
    await expectIdpError(() => compressModel(src, { method: 'rtn', bits: 4, groupSize: 32, quantizeHead: true, output: 'dense', out }), 'INPUT', undefined, /--dense/);
    await expectIdpError(() => compressModel(src, { method: 'rtn', bits: 4, groupSize: 32, headBits: 8, out }), 'INPUT', undefined, /--head-bits needs --quantize-head/);
    const odd = path.join(root, 'src-odd');
    writeTinyModel(odd, { ...SPECS.llamaTied, vocabSize: 100 });   // 100 × 4 bits is not a whole number of words
    await expectIdpError(() => compressModel(odd, { method: 'rtn', bits: 4, groupSize: 32, quantizeHead: true, out }), 'INPUT', undefined, /output projection \[vocab 100/);
    assert.ok(!fs.existsSync(out));
  });
});
