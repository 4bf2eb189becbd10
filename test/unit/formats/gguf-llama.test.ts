// GGUF Llama → cached HF folder: written here from known HF weights (permuted into llama.cpp's
// interleaved rotary layout by the test writer), loaded back exactly (F32) or within the
// quantization step (F16, Q8_0, Q4_0); metadata and tensors that do not fit are refused.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { readGguf } from '../../../src/engine/formats/gguf';
import { readTensorF32 } from '../../../src/engine/formats/safetensors';
import { loadModel } from '../../../src/engine/models/load';
import { permuteRotaryRows } from '../../../src/engine/models/convert';
import { dequantizeNBits } from '../../../src/engine/models/quant/gptq-load';
import { tmpDir } from '../../helpers/data';
import { gv, GgufMeta, toGgufRotaryRows, LlamaGgufSpec, TensorType, writeGguf, writeLlamaGguf } from '../../helpers/gguf-writer';
import { expectIdpError, prng, randomF32 } from '../../helpers/tiny-hf';

const dir = tmpDir('idp-gguf-llama-');
const cacheDir = path.join(dir, 'cache');
let n = 0;
const fresh = () => path.join(dir, `m${n++}.gguf`);

const SPEC: LlamaGgufSpec = { vocab: 40, hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, context: 128, theta: 500000, eps: 1e-6 };
const TOKENS = ['<unk>', '<s>', '</s>', ...Array.from({ length: 37 }, (_, i) => String.fromCharCode(97 + (i % 26)) + (i >= 26 ? String(i) : ''))];

function weightsFor(seed: number) {
  const rand = prng(seed);
  const cache = new Map<string, Float32Array>();
  const get = (name: string, shape: number[]) => {
    if (!cache.has(name)) cache.set(name, randomF32(shape.reduce((a, b) => a * b, 1), rand));
    return cache.get(name)!;
  };
  return { get, cache };
}

async function roundTrip(type: TensorType, spec: LlamaGgufSpec = SPEC) {
  const file = fresh();
  const w = weightsFor(n);
  writeLlamaGguf(file, spec, w.get, type);
  const m = await loadModel(file, { cacheDir });
  return { file, m, want: w.cache };
}

describe('GGUF Llama conversion', () => {
  it('F32: config from metadata, weights back exactly in HF layout (q/k rows un-permuted)', async () => {
    const { m, want, file } = await roundTrip('F32', { ...SPEC, tokens: TOKENS });
    const c = m.config;
    assert.deepEqual(
      [c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.maxPositions, c.normEps, c.ropeTheta],
      [40, 64, 2, 4, 2, 16, 96, 128, 1e-6, 500000]);
    assert.equal(c.tieWordEmbeddings, true, 'no output.weight → tied');
    assert.equal(m.format, 'gguf');
    assert.equal(m.source, file);
    assert.ok(m.tokenizer);
    assert.equal(m.tokenizer!.vocabSize, 40);
    assert.deepEqual([...m.weights.keys()].sort(), [...want.keys()].sort());
    for (const [name, t] of m.weights) assert.deepEqual([...readTensorF32(t)], [...want.get(name)!], name);
  });

  it('untied classifier: output.weight → lm_head.weight', async () => {
    const { m, want } = await roundTrip('F32', { ...SPEC, untied: true });
    assert.equal(m.config.tieWordEmbeddings, false);
    assert.deepEqual([...readTensorF32(m.weights.get('lm_head.weight')!)], [...want.get('lm_head.weight')!]);
  });

  it('the test writer really stores q/k interleaved (permutation is not the identity)', () => {
    const file = fresh();
    const w = weightsFor(99);
    writeLlamaGguf(file, SPEC, w.get, 'F32');
    const g = readGguf(file);
    const t = g.tensors.get('blk.0.attn_k.weight')!;
    assert.deepEqual(t.shape, [32, 64]);
    const buf = fs.readFileSync(file).subarray(t.offset, t.offset + t.byteLength);
    const stored = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const hf = w.cache.get('model.layers.0.self_attn.k_proj.weight')!;
    assert.notDeepEqual([...stored], [...hf]);
    // by hand: GGUF row (head h, 2i + j) holds HF row (head h, j * headDim/2 + i), headDim 16, 64 columns
    const row = (a: Float32Array, r: number) => [...a.subarray(r * 64, (r + 1) * 64)];
    for (const [h, i, j] of [[0, 0, 1], [0, 3, 0], [1, 7, 1], [1, 5, 0]]) {
      assert.deepEqual(row(stored, h * 16 + 2 * i + j), row(hf, h * 16 + j * 8 + i), `head ${h} pair ${i}.${j}`);
    }
    // and the engine's inverse undoes the writer's independent permutation
    assert.deepEqual([...permuteRotaryRows(stored, 2, 16, 64, 'hf')], [...hf]);
    assert.deepEqual([...permuteRotaryRows(toGgufRotaryRows(hf, 2, 16, 64), 2, 16, 64, 'hf')], [...hf]);
  });

  for (const [type, tol] of [['F16', 1e-3], ['Q8_0', 0.5 / 127 * 1.2], ['Q4_0', 0.5 / 8 * 1.1]] as Array<[TensorType, number]>) {
    it(`${type}: ${type === 'F16' ? 'dequantized into the F32 cache' : 'kept quantized (MatMulNBits), dequantizing'} within the quantization step`, async () => {
      const { m, want } = await roundTrip(type);
      assert.equal(m.quant?.modules.size ?? 0, type === 'F16' ? 0 : 2 * 7 + 1, 'every matrix (and the tied head) quantized');
      for (const [module, q] of m.quant?.modules ?? []) {
        const name = module === 'lm_head' ? 'model.embed_tokens.weight' : `${module}.weight`;
        const got = dequantizeNBits(q);
        const exp = want.get(name)!;
        for (let i = 0; i < got.length; i++) if (Math.abs(got[i] - exp[i]) > tol) assert.fail(`${name}[${i}]: ${got[i]} vs ${exp[i]}`);
      }
      for (const [name, t] of m.weights) {
        assert.equal(t.dtype, 'F32');
        const got = readTensorF32(t);
        const exp = want.get(name)!;
        const norm = t.shape.length === 1;
        for (let i = 0; i < got.length; i++) {
          const err = Math.abs(got[i] - exp[i]);
          if (norm ? err !== 0 : err > tol) assert.fail(`${name}[${i}]: ${got[i]} vs ${exp[i]}`);
        }
      }
    });
  }

  it('metadata that does not fit → CONFIG / UNSUPPORTED naming the file', async () => {
    const base = (over: Array<[string, GgufMeta]>, drop: string[] = []): string => {
      const file = fresh();
      const keep: Array<[string, GgufMeta]> = [
        ['general.architecture', gv.str('llama')], ['llama.embedding_length', gv.u32(64)], ['llama.block_count', gv.u32(1)],
        ['llama.feed_forward_length', gv.u32(32)], ['llama.attention.head_count', gv.u32(4)], ['llama.context_length', gv.u32(64)],
      ];
      const md = [...keep.filter(([k]) => !drop.includes(k) && !over.some(([o]) => o === k)), ...over];
      writeGguf(file, md, [{ name: 'token_embd.weight', shape: [8, 64], type: 'F32', data: new Float32Array(512) }]);
      return file;
    };
    let f = base([['general.architecture', gv.str('falcon')]]);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'UNSUPPORTED', f, /GGUF architecture "falcon" is not supported \(supported: llama, qwen2, mistral, phi3\)/);
    f = base([], ['llama.block_count']);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'CONFIG', f, /missing metadata "llama.block_count"/);
    f = base([], ['general.architecture']);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'CONFIG', f, /general.architecture/);
    f = base([['llama.attention.head_count', gv.u32(0)]]);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'CONFIG', f, /head_count/);
    f = base([['llama.embedding_length', gv.str('64')]]);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'FORMAT', f, /should be a number/);
    f = base([['llama.rope.scaling.type', gv.str('yarn')]]);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'UNSUPPORTED', f, /rope scaling/);
    f = base([['llama.block_count', gv.u32(4_000_000_000)]]);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'CONFIG', f, /number of layers 4,000,000,000 exceeds the limit/);
    f = base([]);
    await expectIdpError(() => loadModel(f, { cacheDir }), 'FORMAT', f, /missing tensor 'blk\.0\.attn_norm\.weight'/);
  });

  it('tensors that do not fit → FORMAT naming the GGUF tensor; unmapped types (Q2_K) → UNSUPPORTED', async () => {
    const file = fresh();
    const w = weightsFor(5);
    writeLlamaGguf(file, { ...SPEC, ffn: 95 }, w.get, 'F32');
    // A copy whose metadata claims feed_forward_length 96 while the tensors hold 95 rows.
    const g = readGguf(file);
    assert.deepEqual(g.tensors.get('blk.0.ffn_up.weight')!.shape, [95, 64]);
    const lie = fresh();
    const bytes = fs.readFileSync(file);
    const key = Buffer.from('llama.feed_forward_length');
    const at = bytes.indexOf(key) + key.length + 4;
    bytes.writeUInt32LE(96, at);
    fs.writeFileSync(lie, bytes);
    await expectIdpError(() => loadModel(lie, { cacheDir }), 'FORMAT', lie, /'blk\.0\.ffn_gate\.weight' has shape \[95, 64\], expected \[96, 64\]/);

    const qk = fresh();
    const md: Array<[string, GgufMeta]> = [
      ['general.architecture', gv.str('llama')], ['llama.embedding_length', gv.u32(256)], ['llama.block_count', gv.u32(1)],
      ['llama.feed_forward_length', gv.u32(256)], ['llama.attention.head_count', gv.u32(2)],
    ];
    const f32 = (name: string, shape: number[]) => ({ name, shape, type: 'F32' as const, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    writeGguf(qk, md, [
      f32('token_embd.weight', [4, 256]), f32('output_norm.weight', [256]), f32('blk.0.attn_norm.weight', [256]), f32('blk.0.ffn_norm.weight', [256]),
      { name: 'blk.0.attn_q.weight', shape: [256, 256], ggmlType: 10, raw: new Uint8Array(256 * 84) },
      ...['attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'].map((p) => f32(`blk.0.${p}.weight`, [256, 256])),
    ]);
    await expectIdpError(() => loadModel(qk, { cacheDir }), 'UNSUPPORTED', qk, /Q2_K/);
    assert.equal(fs.readdirSync(cacheDir).filter((e) => e.startsWith('.tmp') || e.endsWith('.tmp')).length, 0, 'failed conversions leave no temp folders');
  });

  it('a damaged cache entry is reported with its folder', async () => {
    const { m, file } = await roundTrip('F32');
    const st = path.join(m.weightsDir, 'model.safetensors');
    fs.truncateSync(st, fs.statSync(st).size - 100);
    await expectIdpError(() => loadModel(file, { cacheDir }), 'FORMAT', m.weightsDir, /converted cache of .* is damaged.*delete this folder/);
  });

  it('a .gguf file without the magic → FORMAT', async () => {
    const f = fresh();
    fs.writeFileSync(f, 'not a gguf');
    await expectIdpError(() => loadModel(f, { cacheDir }), 'FORMAT', f, /GGUF/);
  });
});
