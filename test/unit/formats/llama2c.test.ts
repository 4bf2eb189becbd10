// llama2.c checkpoints: v0 (stories260K.bin), v1 ("ak42" header) written here from the same
// weights, unshared classifiers, and headers whose sizes lie.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { llama2cTensors, readLlama2cHeader, readLlama2cTensor, LLAMA2C_MAGIC } from '../../../src/engine/formats/llama2c';
import { readSafetensorsHeader, readTensorBytes } from '../../../src/engine/formats/safetensors';
import { loadModel } from '../../../src/engine/models/load';
import { dataPath, tmpDir, STORIES } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';

const dir = tmpDir('idp-l2c-');
const cacheDir = path.join(dir, 'cache');
let n = 0;
const fresh = (ext = '.bin') => path.join(dir, `m${n++}${ext}`);

function withHeader(src: Buffer, ints: number[]): string {
  const out = fresh();
  const b = Buffer.from(src);
  ints.forEach((v, i) => b.writeInt32LE(v, 4 * i));
  fs.writeFileSync(out, b);
  return out;
}

/** The v1 layout of the same weights as a v0 file. */
function toV1(v0file: string, shared: boolean): { file: string; size: number } {
  const h = readLlama2cHeader(v0file);
  const byName = new Map<string, Buffer[]>();
  const src = fs.readFileSync(v0file);
  for (const t of llama2cTensors(h)) {
    if (!byName.has(t.name)) byName.set(t.name, []);
    byName.get(t.name)!.push(src.subarray(t.offset, t.offset + t.byteLength));
  }
  const head = Buffer.alloc(256);
  head.writeUInt32LE(LLAMA2C_MAGIC, 0);
  head.writeInt32LE(1, 4);
  [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.vocabSize, h.seqLen].forEach((v, i) => head.writeInt32LE(v, 8 + 4 * i));
  head.writeUInt8(shared ? 1 : 0, 36);
  const order = ['rms_att', 'rms_ffn', 'rms_final', 'token_embedding', 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'];
  const parts = [head, ...order.flatMap((k) => byName.get(k)!)];
  if (!shared) parts.push(byName.get('token_embedding')![0]);
  const file = fresh();
  fs.writeFileSync(file, Buffer.concat(parts));
  return { file, size: fs.statSync(file).size };
}

function tensorsEqual(a: string, b: string): void {
  const ha = readSafetensorsHeader(path.join(a, 'model.safetensors')).tensors;
  const hb = readSafetensorsHeader(path.join(b, 'model.safetensors')).tensors;
  assert.deepEqual([...ha.keys()].sort(), [...hb.keys()].sort());
  for (const [name, t] of ha) assert.ok(readTensorBytes(t).equals(readTensorBytes(hb.get(name)!)), name);
}

describe('llama2.c checkpoints', () => {
  it('v0 header of stories260K.bin', function () {
    const h = readLlama2cHeader(dataPath(this, ...STORIES, 'stories260K.bin'));
    assert.deepEqual([h.version, h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.vocabSize, h.seqLen], [0, 64, 172, 5, 8, 4, 512, 512]);
    assert.equal(h.sharedClassifier, true);
    assert.equal(h.headSize, 8);
    const ts = llama2cTensors(h);
    const last = ts[ts.length - 1];
    assert.equal(last.name, 'freq_cis_imag');
    assert.equal(last.offset + last.byteLength, h.fileSize);
    const wk = ts.find((t) => t.name === 'wk' && t.layer === 4)!;
    assert.deepEqual(wk.shape, [32, 64]);
    assert.equal(readLlama2cTensor(h, wk).length, 32 * 64);
  });

  it('v1 ("ak42") with the same weights converts to identical tensors; unshared classifier → lm_head', async function () {
    const v0 = dataPath(this, ...STORIES, 'stories260K.bin');
    const a = await loadModel(v0, { cacheDir });
    const v1 = toV1(v0, true);
    const h1 = readLlama2cHeader(v1.file);
    assert.equal(h1.version, 1);
    assert.equal(h1.headerBytes, 256);
    const b = await loadModel(v1.file, { cacheDir });
    assert.equal(b.format, 'llama2c');
    assert.deepEqual(b.config, a.config);
    tensorsEqual(a.weightsDir, b.weightsDir);

    const v1u = toV1(v0, false);
    const c = await loadModel(v1u.file, { cacheDir });
    assert.equal(c.config.tieWordEmbeddings, false);
    assert.ok(c.weights.has('lm_head.weight'));
    assert.ok(readTensorBytes(c.weights.get('lm_head.weight')!).equals(readTensorBytes(a.weights.get('model.embed_tokens.weight')!)));
  });

  it('v0 with a negative vocab_size reads the classifier at the end', async function () {
    const src = fs.readFileSync(dataPath(this, ...STORIES, 'stories260K.bin'));
    const file = fresh();
    const wcls = Buffer.alloc(512 * 64 * 4);
    for (let i = 0; i < 512 * 64; i++) wcls.writeFloatLE(i / 1000, 4 * i);
    const b = Buffer.concat([src, wcls]);
    b.writeInt32LE(-512, 20);
    fs.writeFileSync(file, b);
    const h = readLlama2cHeader(file);
    assert.equal(h.sharedClassifier, false);
    assert.equal(h.vocabSize, 512);
    const m = await loadModel(file, { cacheDir });
    assert.ok(readTensorBytes(m.weights.get('lm_head.weight')!).equals(wcls));
    assert.equal(m.tokenizer, undefined, 'no tokenizer file beside it: loads without one');
  });

  it('file size must match the header exactly', async function () {
    const src = fs.readFileSync(dataPath(this, ...STORIES, 'stories260K.bin'));
    const short = fresh();
    fs.writeFileSync(short, src.subarray(0, src.length - 4));
    await expectIdpError(() => readLlama2cHeader(short), 'FORMAT', short, /implies 1056540 bytes but the file has 1056536 bytes/);
    const long = fresh();
    fs.writeFileSync(long, Buffer.concat([src, Buffer.alloc(1)]));
    await expectIdpError(() => loadModel(long, { cacheDir }), 'FORMAT', long, /implies 1056540 bytes but the file has 1056541/);
  });

  it('headers that lie → FORMAT (never a huge allocation)', async function () {
    const src = fs.readFileSync(dataPath(this, ...STORIES, 'stories260K.bin'));
    const h = [64, 172, 5, 8, 4, 512, 512];
    const cases: Array<[number[], RegExp]> = [
      [[0, ...h.slice(1)], /dim=0/],
      [[64, 172, 5, 7, 7, 512, 512], /not divisible by n_heads/],
      [[64, 172, 5, 8, 3, 512, 512], /not a multiple of n_kv_heads/],
      [[64, 172, 5, 8, 16, 512, 512], /not a multiple of n_kv_heads/],
      [[64, 172, 2 ** 31 - 1, 8, 4, 512, 512], /implies \d+ bytes/],
      [[2 ** 30, 2 ** 30, 2 ** 30, 2 ** 29, 2 ** 29, 2 ** 30, 2 ** 30], /implies/],
      [[64, 172, 5, 8, 4, -(2 ** 31), 512], /implies/],
      [[64, 172, 5, 8, 4, 512, -1], /seq_len=-1/],
      [[64, 172, 5, 64, 4, 512, 512], /n_kv_heads|odd/],
    ];
    for (const [ints, re] of cases) {
      const f = withHeader(src, ints);
      await expectIdpError(() => readLlama2cHeader(f), 'FORMAT', f, re);
    }
  });

  it('v1 edge cases: version 2 is UNSUPPORTED, unknown versions and short headers are FORMAT', async () => {
    const head = Buffer.alloc(256);
    head.writeUInt32LE(LLAMA2C_MAGIC, 0);
    head.writeInt32LE(2, 4);
    const v2 = fresh();
    fs.writeFileSync(v2, head);
    await expectIdpError(() => loadModel(v2, { cacheDir }), 'UNSUPPORTED', v2, /version 2/);
    head.writeInt32LE(7, 4);
    const v7 = fresh();
    fs.writeFileSync(v7, head);
    await expectIdpError(() => loadModel(v7, { cacheDir }), 'FORMAT', v7, /unknown version 7/);
    const shortV1 = fresh();
    const shortHead = Buffer.alloc(100);
    shortHead.writeUInt32LE(LLAMA2C_MAGIC, 0);
    shortHead.writeInt32LE(1, 4);
    fs.writeFileSync(shortV1, shortHead);
    await expectIdpError(() => loadModel(shortV1, { cacheDir }), 'FORMAT', shortV1, /256 bytes/);
  });

  it('a file of no known format → FORMAT saying what was expected', async () => {
    const f = fresh('.txt');
    fs.writeFileSync(f, 'hello, this is not a model at all, just some text that goes on for a while');
    await expectIdpError(() => loadModel(f, { cacheDir }), 'FORMAT', f, /expected a folder with config.json, a GGUF file or a llama2.c checkpoint/);
    const tiny = fresh('.bin');
    fs.writeFileSync(tiny, Buffer.alloc(5));
    await expectIdpError(() => loadModel(tiny, { cacheDir }), 'FORMAT', tiny, /expected a folder with config.json/);
  });
});
