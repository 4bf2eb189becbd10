// Two real `idp` processes aimed at one output folder, started together, without --overwrite. Exactly
// one may win each pair; the other must get a typed error (exit 2) before doing any compute — from the
// output's lock while the winner works, or from "exists" once it has finished — and the folder must be
// the winner's, complete, and load.

import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';

const CLI = path.resolve(__dirname, '..', '..', '..', '..', 'dist', 'cli.js');
const root = tmpDir('idp-out-races-');

interface Run { status: number | null; stdout: string; stderr: string }

function idp(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('error', reject);
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The pair's winner; asserts the other lost with a typed error and did no compute (`computeLine` absent). */
function oneWinner(pair: Run[], computeLine: RegExp): number {
  const won = pair.map((r, i) => (r.status === 0 ? i : -1)).filter((i) => i >= 0);
  assert.equal(won.length, 1, `exactly one winner, got exits ${pair.map((r) => r.status)}:\n${pair.map((r) => r.stderr).join('\n---\n')}`);
  const loser = pair[1 - won[0]];
  assert.equal(loser.status, 2, loser.stderr);
  assert.match(loser.stderr, /^idp: .*: (the output is locked by process \d+|the output folder exists and is not empty|cannot resume)/m, loser.stderr);
  assert.doesNotMatch(loser.stderr, /\n\s+at |internal error/);
  assert.doesNotMatch(loser.stderr, computeLine, 'the loser was refused before any compute');
  return won[0];
}

const leftovers = () => fs.readdirSync(root).filter((n) => n.endsWith('.tmp') || n.endsWith('.idp-lock') || n.includes('.tmp-'));

describe('reliability: two idp processes, one output folder', function () {
  this.timeout(600000);
  const counts = { compress: 0, train: 0 };
  after(() => console.log(`      (${counts.compress} compress pairs and ${counts.train} train pairs raced, one winner each)`));

  it('idp compress × 2 to the same --out (8 pairs): one winner, the folder complete and loadable', async () => {
    for (let i = 0; i < 8; i++) {
      const out = path.join(root, `c${i}`);
      const args = (bits: string) => ['compress', '--method', 'rtn', '--bits', bits, '--group-size', '64', '--out', out];
      const pair = await Promise.all([idp(args('4')), idp(args('8'))]);
      const w = oneWinner(pair, /\[layer\]/);
      const report = JSON.parse(fs.readFileSync(path.join(out, 'idp-compress.json'), 'utf8'));
      assert.equal(report.bits, w === 0 ? 4 : 8, 'the folder is the winner\'s');
      const m = await loadModel(out);
      assert.equal(m.config.numLayers, 4);
      counts.compress++;
    }
    assert.deepEqual(leftovers(), [], 'no staging folder or lock left');
  });

  it('idp train × 2 with different settings to the same --out (4 pairs): one winner, its settings in the result', async () => {
    for (let i = 0; i < 4; i++) {
      const out = path.join(root, `t${i}`);
      const args = (lr: string) => ['train', '--method', 'prompt', '--prompt-tokens', '2', '--data', 'model', '--tokens', '64', '--seqlen', '16',
        '--batch', '2', '--sample-tokens', '128', '--lr', lr, '--out', out];
      const pair = await Promise.all([idp(args('0.01')), idp(args('0.02'))]);
      const w = oneWinner(pair, /sampling|step \d/);
      const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
      assert.equal(result.settings.lr, w === 0 ? 0.01 : 0.02, 'the folder is the winner\'s');
      assert.ok(fs.existsSync(path.join(out, 'adapter', 'adapter_model.safetensors')));
      counts.train++;
    }
    assert.deepEqual(leftovers(), [], 'no staging folder or lock left');
  });
});
