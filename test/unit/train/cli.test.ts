// `idp train` and `idp ppl --adapter` as child processes: a data-free LoRA run on a tiny model writes
// its adapter and resumes as a no-op; bad input exits 2/3 with one line naming the problem.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';

const root = tmpDir('idp-train-cli-');
const idp = (...args: string[]) => spawnSync(process.execPath, [path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', timeout: 60000 });

describe('idp train (CLI)', () => {
  const model = writeTinyModel(path.join(root, 'model'), { ...TINY_SPECS.llamaGqa, maxPositions: 64 }).dir;

  it('data-free LoRA training writes a PEFT adapter, and a second run resumes from the finished checkpoint', () => {
    const out = path.join(root, 'run');
    const args = ['train', '--model', model, '--method', 'lora', '--data', 'model', '--sample-tokens', '640', '--tokens', '512',
      '--seqlen', '32', '--batch', '4', '--lr', '0.01', '--out', out, '--json'];
    const r = idp(...args);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim());
    assert.equal(res.status, 'done');
    assert.equal(res.steps, 4);
    assert.ok(fs.existsSync(path.join(out, 'adapter', 'adapter_model.safetensors')));
    const again = idp(...args);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout.trim()).step, 4);
  });

  it('bad input: missing data file (exit 3), budget below one block (exit 2), unknown LoRA target (exit 2)', () => {
    const missing = idp('train', '--model', model, '--method', 'prompt', '--data', path.join(root, 'none.txt'), '--out', path.join(root, 'x'));
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /^idp: .*none\.txt: no such file/m);
    const small = idp('train', '--model', model, '--method', 'prompt', '--data', 'model', '--tokens', '10', '--seqlen', '32', '--out', path.join(root, 'y'));
    assert.equal(small.status, 2, small.stderr);
    assert.match(small.stderr, /smaller than one block of 32 tokens/);
    const target = idp('train', '--model', model, '--method', 'lora', '--targets', 'q,qkv', '--data', 'model', '--out', path.join(root, 'z'));
    assert.equal(target.status, 2);
    assert.match(target.stderr, /unknown target 'qkv'/);
  });
});
