// loadModel on Hugging Face folders: every family, shards (with and without an index), F16/BF16,
// hub GPT-2 names, tokenizer discovery, and the ways a folder can be wrong.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { readTensorF32, writeSafetensors } from '../../../src/engine/formats/safetensors';
import { describeModel, loadModel } from '../../../src/engine/models/load';
import { checkWeights, expectedWeights } from '../../../src/engine/models/weights';
import { byteLevelBpeJson } from '../../../src/engine/tokenizers';
import { tmpDir } from '../../helpers/data';
import { expectIdpError, tinyConfig, TinyKind, writeTinyHf } from '../../helpers/tiny-hf';

const root = tmpDir('idp-load-');
let n = 0;
const fresh = () => path.join(root, `m${n++}`);

function sameValues(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) assert.fail(`${what}[${i}]: ${got[i]} != ${want[i]}`);
}

describe('loadModel: HF folders', () => {
  for (const kind of ['llama', 'mistral', 'qwen2', 'opt', 'opt350', 'gpt2'] as TinyKind[]) {
    it(`${kind}: loads, weights complete with HF names, values as written`, async () => {
      const dir = fresh();
      const values = writeTinyHf(dir, tinyConfig(kind), { seed: n });
      const m = await loadModel(dir);
      assert.equal(m.format, 'hf');
      assert.equal(m.weightsDir, dir);
      assert.equal(m.source, dir);
      checkWeights(m);
      const want = expectedWeights(m.config);
      assert.deepEqual([...m.weights.keys()], [...want.keys()]);
      for (const [name, t] of m.weights) {
        assert.deepEqual(t.shape, want.get(name), name);
        assert.equal(t.name, name);
        assert.equal(t.file, path.join(dir, 'model.safetensors'));
        sameValues(readTensorF32(t), values.get(name)!, name);
      }
      assert.equal(m.tokenizer, undefined);
    });
  }

  it('sharded with model.safetensors.index.json (relative path given)', async () => {
    const dir = fresh();
    const values = writeTinyHf(dir, tinyConfig('llama'), { shards: 3 });
    assert.ok(!fs.existsSync(path.join(dir, 'model.safetensors')));
    const rel = path.relative(process.cwd(), dir);
    const m = await loadModel(rel);
    assert.equal(m.weightsDir, dir);
    const files = new Set([...m.weights.values()].map((t) => path.basename(t.file)));
    assert.deepEqual([...files].sort(), ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    for (const [name, t] of m.weights) sameValues(readTensorF32(t), values.get(name)!, name);
  });

  it('several *.safetensors without an index', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('opt'), { shards: 2, noIndex: true });
    const m = await loadModel(dir);
    assert.equal(m.weights.size, expectedWeights(m.config).size);
  });

  it('F16 and BF16 files load with their dtype kept', async () => {
    for (const [kind, dtype] of [['llama', 'F16'], ['gpt2', 'BF16'], ['qwen2', 'BF16'], ['opt350', 'F16']] as Array<[TinyKind, 'F16' | 'BF16']>) {
      const dir = fresh();
      const values = writeTinyHf(dir, tinyConfig(kind), { dtype });
      const m = await loadModel(dir);
      for (const [name, t] of m.weights) {
        assert.equal(t.dtype, dtype);
        sameValues(readTensorF32(t), values.get(name)!, name);
      }
      assert.deepEqual(describeModel(m).dtypes, { [dtype]: m.weights.size });
    }
  });

  it('hub GPT-2 names (no "transformer.", attn.bias buffers) become canonical; buffers dropped', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('gpt2'), { hubGpt2Names: true, shards: 2 });
    const m = await loadModel(dir);
    assert.ok(m.weights.has('transformer.h.0.attn.c_attn.weight'));
    assert.ok(![...m.weights.keys()].some((k) => /\.attn\.(bias|masked_bias)$/.test(k)));
    assert.equal(m.weights.size, expectedWeights(m.config).size);
    const d = describeModel(m);
    assert.equal(d.parameters, [...expectedWeights(m.config).values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0));
    assert.deepEqual([d.architecture, d.modelType, d.format, d.layers, d.hidden, d.vocabSize, d.contextLength], ['GPT2LMHeadModel', 'gpt2', 'hf', 2, 32, 48, 16]);
  });

  it('a path to model.safetensors or config.json loads the folder', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('llama'));
    assert.equal((await loadModel(path.join(dir, 'model.safetensors'))).weightsDir, dir);
    assert.equal((await loadModel(path.join(dir, 'config.json'))).weightsDir, dir);
  });

  it('extra tensors are left out (a tied model that still stores lm_head.weight)', async () => {
    const dir = fresh();
    const cfg = tinyConfig('qwen2');
    writeTinyHf(dir, cfg);
    const st = path.join(dir, 'extra.safetensors');
    writeSafetensors(st, { 'lm_head.weight': { dtype: 'F32', shape: [48, 32], data: new Float32Array(48 * 32) } });
    fs.renameSync(path.join(dir, 'model.safetensors'), path.join(dir, 'a.safetensors'));
    const m = await loadModel(dir);
    assert.ok(!m.weights.has('lm_head.weight'));
  });

  it('tokenizer.json in the folder, or opts.tokenizer, is loaded', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('gpt2'));
    const vocab: Record<string, number> = {};
    for (let c = 33; c < 127; c++) vocab[String.fromCharCode(c)] = c - 33;
    vocab['Ġ'] = 94;
    vocab['he'] = 95;
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelBpeJson(vocab, [['h', 'e']], [])));
    const m = await loadModel(dir);
    assert.ok(m.tokenizer);
    assert.deepEqual(m.tokenizer!.encode('hey'), [95, vocab.y]);
    const other = fresh();
    writeTinyHf(other, tinyConfig('gpt2'));
    const m2 = await loadModel(other, { tokenizer: path.join(dir, 'tokenizer.json') });
    assert.deepEqual(m2.tokenizer!.encode('hey'), [95, vocab.y]);
    await expectIdpError(() => loadModel(other, { tokenizer: path.join(dir, 'nope.json') }), 'NOT_FOUND', 'nope.json');
    fs.writeFileSync(path.join(other, 'tokenizer.json'), '{"model": 3');
    await expectIdpError(() => loadModel(other), 'FORMAT', path.join(other, 'tokenizer.json'));
  });
});

describe('loadModel: HF folders that are wrong', () => {
  it('nonexistent path → NOT_FOUND', async () => {
    const p = path.join(root, 'does-not-exist');
    await expectIdpError(() => loadModel(p), 'NOT_FOUND', p);
  });

  it('folder without config.json → FORMAT saying what was expected', async () => {
    const dir = fresh();
    fs.mkdirSync(dir);
    await expectIdpError(() => loadModel(dir), 'FORMAT', dir, /expected config.json/);
  });

  it('config.json that is not JSON or misses fields → CONFIG naming config.json', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('llama'));
    const cfgFile = path.join(dir, 'config.json');
    fs.writeFileSync(cfgFile, '{"model_type": "llama",');
    await expectIdpError(() => loadModel(dir), 'CONFIG', cfgFile, /not valid JSON/);
    const { hidden_size: _, ...rest } = tinyConfig('llama');
    fs.writeFileSync(cfgFile, JSON.stringify(rest));
    await expectIdpError(() => loadModel(dir), 'CONFIG', cfgFile, /missing "hidden_size"/);
    fs.writeFileSync(cfgFile, JSON.stringify({ ...rest, hidden_size: 32, model_type: 'bloom', architectures: ['BloomForCausalLM'] }));
    await expectIdpError(() => loadModel(dir), 'UNSUPPORTED', cfgFile, /bloom/);
  });

  it('no weights, or only PyTorch pickles', async () => {
    const dir = fresh();
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(tinyConfig('llama')));
    await expectIdpError(() => loadModel(dir), 'FORMAT', dir, /no weights/);
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'x');
    await expectIdpError(() => loadModel(dir), 'UNSUPPORTED', dir, /safetensors/);
  });

  it('missing tensor / wrong shape / integer dtype → named, with expected vs found', async () => {
    const a = fresh();
    writeTinyHf(a, tinyConfig('llama'), { omit: ['model.layers.1.mlp.up_proj.weight'] });
    await expectIdpError(() => loadModel(a), 'FORMAT', a, /missing tensor model\.layers\.1\.mlp\.up_proj\.weight \[40, 32\]/);
    const b = fresh();
    writeTinyHf(b, tinyConfig('gpt2'), { reshape: { 'transformer.h.1.attn.c_attn.weight': [96, 32] } });
    await expectIdpError(() => loadModel(b), 'FORMAT', path.join(b, 'model.safetensors'),
      /'transformer\.h\.1\.attn\.c_attn\.weight' has shape \[96, 32\], expected \[32, 96\]/);
    const c = fresh();
    writeTinyHf(c, tinyConfig('llama'), { omit: ['model.norm.weight'] });
    writeSafetensors(path.join(c, 'norm.safetensors'), { 'model.norm.weight': { dtype: 'I32', shape: [32], data: new Int32Array(32) } });
    fs.renameSync(path.join(c, 'model.safetensors'), path.join(c, 'main.safetensors'));
    await expectIdpError(() => loadModel(c), 'UNSUPPORTED', 'norm.safetensors', /dtype I32/);
  });

  it('a config claiming absurd layer counts fails fast', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('llama'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...tinyConfig('llama'), num_hidden_layers: 2_000_000_000 }));
    const t0 = Date.now();
    await expectIdpError(() => loadModel(dir), 'CONFIG', path.join(dir, 'config.json'), /number of layers 2,000,000,000 exceeds the limit of 1,024/);
    assert.ok(Date.now() - t0 < 1000);
  });

  it('bad shard indexes: missing shard, path outside the folder, tensor not in its shard, duplicates', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('llama'), { shards: 2 });
    const idxFile = path.join(dir, 'model.safetensors.index.json');
    const idx = JSON.parse(fs.readFileSync(idxFile, 'utf8'));
    const write = (map: Record<string, string>) => fs.writeFileSync(idxFile, JSON.stringify({ weight_map: map }));
    write({ ...idx.weight_map, 'model.norm.weight': 'model-00009-of-00009.safetensors' });
    await expectIdpError(() => loadModel(dir), 'FORMAT', idxFile, /does not exist/);
    write({ ...idx.weight_map, 'model.norm.weight': '../elsewhere.safetensors' });
    await expectIdpError(() => loadModel(dir), 'FORMAT', idxFile, /outside the model folder/);
    const other = idx.weight_map['model.norm.weight'] === 'model-00001-of-00002.safetensors' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
    write({ ...idx.weight_map, 'model.norm.weight': other });
    await expectIdpError(() => loadModel(dir), 'FORMAT', other, /listed in model\.safetensors\.index\.json is not in this shard/);
    fs.writeFileSync(idxFile, '[1, 2');
    await expectIdpError(() => loadModel(dir), 'FORMAT', idxFile, /not valid JSON/);
    fs.unlinkSync(idxFile);
    fs.copyFileSync(path.join(dir, 'model-00001-of-00002.safetensors'), path.join(dir, 'copy.safetensors'));
    await expectIdpError(() => loadModel(dir), 'FORMAT', undefined, /appears twice/);
  });

  it('truncated or corrupted safetensors → FORMAT naming the file', async () => {
    const dir = fresh();
    writeTinyHf(dir, tinyConfig('opt'));
    const st = path.join(dir, 'model.safetensors');
    const full = fs.readFileSync(st);
    fs.writeFileSync(st, full.subarray(0, full.length - 10));
    await expectIdpError(() => loadModel(dir), 'FORMAT', st, /truncated/);
    fs.writeFileSync(st, full.subarray(0, 5));
    await expectIdpError(() => loadModel(dir), 'FORMAT', st);
    const lying = Buffer.from(full);
    lying.writeBigUInt64LE(BigInt(full.length) * 4n, 0);
    fs.writeFileSync(st, lying);
    await expectIdpError(() => loadModel(dir), 'FORMAT', st, /header length/);
    const garbled = Buffer.from(full);
    garbled.write('x', 8, 'latin1');
    fs.writeFileSync(st, garbled);
    await expectIdpError(() => loadModel(dir), 'FORMAT', st, /JSON/);
  });
});
