// `idp compress` and `idp ppl` as a user runs them (child processes): RTN into a GPTQ folder that
// `idp ppl` and `idp info` read, typed errors with exit codes, and Ctrl-C leaving no output folder.

import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { writeTinyModel } from '../../helpers/oracle-models';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const root = tmpDir('idp-cli-compress-');
const env = { ...process.env, IDP_CACHE: path.join(root, 'cache') };
const idp = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000, env });

describe('cli: idp compress / ppl', function () {
  this.timeout(60000);
  const src = path.join(root, 'tiny');
  writeTinyModel(src, { modelType: 'opt', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, seed: 5 });

  it('compress --method rtn writes a GPTQ folder that info and ppl read', function () {
    const out = path.join(root, 'rtn4');
    const r = idp('compress', '--model', src, '--method', 'rtn', '--bits', '4', '--group-size', '32', '--sym', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /12 layers compressed \(12 quantized\)/);
    assert.match(r.stderr, /\[layer\] layer 2\/2 done/);
    const qc = JSON.parse(fs.readFileSync(path.join(out, 'quantize_config.json'), 'utf8'));
    assert.deepEqual([qc.bits, qc.group_size, qc.sym, qc.desc_act, qc.checkpoint_format], [4, 32, true, false, 'gptq']);
    const info = JSON.parse(idp('info', '--model', out, '--json').stdout);
    assert.match(info.quantization, /gptq 4-bit, group 32, 12 layers/);
    const stories = dataPath(this, ...STORIES, 'stories260K.gguf');
    const text = dataPath(this, 'corpora', 'tinystories', 'tinystories_sample.txt');
    const p = idp('ppl', '--model', stories, '--data', text, '--seqlen', '256', '--json');
    assert.equal(p.status, 0, p.stderr);
    const j = JSON.parse(p.stdout);
    assert.equal(j.windows, 7);
    assert.ok(j.ppl > 1 && j.ppl < 20, `ppl ${j.ppl}`);
  });

  it('bad input exits 2 with "idp: <file>: <problem>"; a missing file exits 3', () => {
    const r = idp('compress', '--model', src, '--method', 'rtn', '--bits', '4', '--group-size', '48', '--out', path.join(root, 'x'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^idp: .*group size 48 does not divide in_features 32/m);
    const g = idp('compress', '--model', src, '--method', 'gptq', '--bits', '4', '--out', path.join(root, 'x'));
    assert.equal(g.status, 2);
    assert.match(g.stderr, /needs calibration data/);
    const p = idp('ppl', '--model', src, '--data', path.join(root, 'missing.txt'));
    assert.equal(p.status === 2 || p.status === 3, true, p.stderr);
    assert.equal(fs.existsSync(path.join(root, 'x')), false);
  });

  it('Ctrl-C during a GPTQ run exits 130 and leaves no output folder', async function () {
    const stories = dataPath(this, ...STORIES, 'stories260K.gguf');
    const out = path.join(root, 'interrupted');
    const child = spawn(process.execPath, [CLI, 'compress', '--model', stories, '--method', 'gptq', '--bits', '4', '--group-size', '-1',
      '--calib', 'model', '--samples', '64', '--seqlen', '256', '--dense', '--out', out], { env });
    let err = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d) => {
        err += d;
        if (/\[layer\] layer 1\//.test(err) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.equal(code, 130, err);
    assert.match(err, /cancelled; no output written/);
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.startsWith('.') && f.includes('interrupted')), []);
  });
});
