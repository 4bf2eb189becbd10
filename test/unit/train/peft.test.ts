// PEFT interchange: export → import round trips are exact (bitwise) for soft prompts, prefixes and
// LoRA; adapters laid out as PEFT writes them by hand (adapter name in the keys) load; mismatched or
// broken adapters give typed errors naming the file.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { Prefix } from '../../../src/engine/train/methods/prefix';
import { Lora } from '../../../src/engine/train/methods/lora';
import { saveTensors, TensorSet } from '../../../src/engine/train/tensors';
import { Rng } from '../../../src/engine/rng';

const root = tmpDir('idp-peft-');

function sameTensors(a: TensorSet, b: TensorSet): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    assert.deepEqual(b.get(k)!.shape, t.shape, k);
    assert.ok(Buffer.from(b.get(k)!.data.buffer, b.get(k)!.data.byteOffset, b.get(k)!.data.byteLength)
      .equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${k}: bytes differ`);
  }
}

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;

describe('PEFT import / export', () => {
  let llama: LoadedModel;
  let gpt2: LoadedModel;
  let opt: LoadedModel;
  before(async () => {
    llama = await loadModel(writeTinyModel(path.join(root, 'llama'), TINY_SPECS.llamaGqa).dir);
    gpt2 = await loadModel(writeTinyModel(path.join(root, 'gpt2'), TINY_SPECS.gpt2).dir);
    opt = await loadModel(writeTinyModel(path.join(root, 'opt'), TINY_SPECS.optPostLN).dir);
  });

  it('soft prompt: PROMPT_TUNING round trip is exact (OPT: width = word_embed_proj_dim)', () => {
    for (const m of [llama, opt]) {
      const sp = SoftPrompt.create(m, { tokens: 5, init: 'vocab', seed: 2 });
      const dir = path.join(root, `prompt-${m.config.arch}`);
      sp.export(dir);
      const cfg = readJson(path.join(dir, 'adapter_config.json'));
      assert.equal(cfg.peft_type, 'PROMPT_TUNING');
      assert.equal(cfg.num_virtual_tokens, 5);
      assert.equal(cfg.token_dim, m.config.wordEmbedProjDim ?? m.config.hiddenSize);
      assert.equal(cfg.prompt_tuning_init, 'SAMPLE_VOCAB');
      const back = SoftPrompt.load(m, dir);
      sameTensors(sp.params, back.params);
      back.export(path.join(root, `prompt-${m.config.arch}-again`));
      assert.ok(fs.readFileSync(path.join(dir, 'adapter_model.safetensors')).equals(
        fs.readFileSync(path.join(root, `prompt-${m.config.arch}-again`, 'adapter_model.safetensors'))));
    }
  });

  it('LoRA: round trip is exact, including GPT-2 Conv1D layers (fan_in_fan_out)', () => {
    for (const [m, targets] of [[llama, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']], [gpt2, ['q', 'o', 'up', 'down']]] as const) {
      const lora = Lora.create(m, { rank: 4, alpha: 8, dropout: 0.05, targets: [...targets], seed: 1 });
      const rng = new Rng(5);
      for (const t of lora.params.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal();
      const dir = path.join(root, `lora-${m.config.arch}`);
      lora.export(dir);
      const cfg = readJson(path.join(dir, 'adapter_config.json'));
      assert.equal(cfg.peft_type, 'LORA');
      assert.equal(cfg.r, 4);
      assert.equal(cfg.lora_alpha, 8);
      assert.equal(cfg.fan_in_fan_out, m.config.arch === 'gpt2');
      const back = Lora.load(m, dir);
      assert.deepEqual(back.modules, lora.modules);
      assert.equal(back.scale, lora.scale);
      assert.equal(back.dropout, 0.05);
      sameTensors(lora.params, back.params);
    }
  });

  it('prefix: PREFIX_TUNING round trip is exact', async () => {
    const p = await Prefix.create(llama, { tokens: 3, init: 'random', seed: 4 });
    const dir = path.join(root, 'prefix');
    p.export(dir);
    const cfg = readJson(path.join(dir, 'adapter_config.json'));
    assert.equal(cfg.peft_type, 'PREFIX_TUNING');
    assert.equal(cfg.prefix_projection, false);
    sameTensors(p.params, Prefix.load(llama, dir).params);
  });

  it('loads a LoRA adapter written with PEFT key names (adapter name in the key, rank from the tensors)', () => {
    const dir = path.join(root, 'handmade');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'], task_type: 'CAUSAL_LM' }));
    const t: TensorSet = new Map();
    for (let i = 0; i < 2; i++) {
      t.set(`base_model.model.model.layers.${i}.self_attn.q_proj.lora_A.default.weight`, { data: new Float32Array(2 * 32).fill(0.5), shape: [2, 32] });
      t.set(`base_model.model.model.layers.${i}.self_attn.q_proj.lora_B.default.weight`, { data: new Float32Array(32 * 2).fill(0.25), shape: [32, 2] });
    }
    saveTensors(path.join(dir, 'adapter_model.safetensors'), t);
    const l = Lora.load(llama, dir);
    assert.deepEqual(l.modules, ['model.layers.0.self_attn.q_proj', 'model.layers.1.self_attn.q_proj']);
    assert.equal(l.scale, 2);
    assert.equal(l.params.get('lora_B.model.layers.1.self_attn.q_proj')!.data[0], 0.25);
  });

  it('typed errors: another model, wrong type, missing files, foreign layers, pickle files', async () => {
    const promptDir = path.join(root, 'prompt-llama');
    await expectIdpError(() => SoftPrompt.load(gpt2, path.join(root, 'prompt-opt')), 'FORMAT', 'adapter_config.json', /token_dim 16 does not match/);
    await expectIdpError(() => Lora.load(llama, promptDir), 'UNSUPPORTED', 'adapter_config.json', /PROMPT_TUNING/);
    await expectIdpError(() => SoftPrompt.load(llama, path.join(root, 'nope')), 'NOT_FOUND', 'nope');
    await expectIdpError(() => Lora.load(gpt2, path.join(root, 'lora-llama')), 'FORMAT', 'adapter_model.safetensors', /no layer 'model.layers.0/);
    const pickle = path.join(root, 'pickle');
    fs.mkdirSync(pickle, { recursive: true });
    fs.writeFileSync(path.join(pickle, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA' }));
    fs.writeFileSync(path.join(pickle, 'adapter_model.bin'), 'x');
    await expectIdpError(() => Lora.load(llama, pickle), 'UNSUPPORTED', pickle, /pickle/);
    const broken = path.join(root, 'broken');
    fs.mkdirSync(broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'adapter_config.json'), '{ not json');
    await expectIdpError(() => SoftPrompt.load(llama, broken), 'FORMAT', 'adapter_config.json', /not valid JSON/);
  });
});
