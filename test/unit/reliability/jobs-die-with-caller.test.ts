// A job dies with its caller: `idp compress` relaunches itself with huge pages (runtime/huge-pages.ts), and
// SIGKILL of the `idp` the user started — what `timeout -s KILL`, a CI runner or a task manager does —
// must take the relaunched child with it, and no output folder may appear afterwards, ever. The same for
// the engine process the extension starts (server/main.ts) when the extension host is killed mid-job.
// Real processes on the embedded default model; every wait polls a condition with a deadline.

import { strict as assert } from 'assert';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT, tmpDir } from '../../helpers/data';
import { childrenOf, killIfRunning, running, waitFor } from '../../helpers/kill';
import { withoutHugePages } from '../../../src/engine/runtime/huge-pages';
import { skipUnless } from '../../helpers/skip';

const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const SERVER = path.join(REPO_ROOT, 'dist', 'server.js');
const CALIB = path.join(REPO_ROOT, 'README.md');
/** A GPTQ job of a few seconds: calibration, then four layers, then the write. */
const COMPRESS = ['compress', '--method', 'gptq', '--bits', '4', '--group-size', '64', '--calib', CALIB, '--samples', '32', '--seqlen', '128'];
/** How long a killed caller's job may take to notice. */
const GONE_WITHIN_MS = 5000;

/** The environment a user's shell gives `idp`: huge pages wanted, not yet set (so `idp` relaunches itself). */
function userEnv(): NodeJS.ProcessEnv {
  const env = withoutHugePages(process.env);
  delete env.IDP_HUGE_PAGES;
  return env;
}

/** Start `idp compress --out out`; resolves once stderr shows `marker`, with the relaunched child's pid. */
async function startCompress(out: string, marker: string): Promise<{ parent: ChildProcess; child: number; stderr: () => string }> {
  const parent = spawn(process.execPath, [CLI, ...COMPRESS, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'], env: userEnv() });
  let err = '';
  parent.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  parent.stdout!.resume();
  const child = await waitFor(() => childrenOf(parent.pid!)[0], 10000, 'the relaunched child');
  await waitFor(() => err.includes(marker), 60000, `"${marker}" on stderr (so far: ${err})`);
  return { parent, child, stderr: () => err };
}

const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;

describe('reliability: jobs die with their caller', function () {
  this.timeout(180000);
  // machine-dependent (CI is Linux), so a skip even on CI; first, so no other hook runs off Linux
  before(function () { skipUnless(this, process.platform === 'linux', 'the huge-pages relaunch and /proc are Linux-only'); });
  const dir = tmpDir('idp-kill-');

  it('an idp compress left alone writes its folder (the job below is a real one)', async () => {
    const out = path.join(dir, 'control');
    const { parent } = await startCompress(out, '[calibration]');
    await waitFor(() => exited(parent), 120000, 'idp compress to finish');
    assert.equal(parent.exitCode, 0);
    assert.ok(fs.existsSync(path.join(out, 'model.safetensors')));
  });

  // the kill lands during calibration, after the first layer, and late in the last layers
  const KILL_AT = ['[calibration]', 'layer 1/4 done', 'layer 2/4 done', 'layer 3/4 done'];
  for (const marker of KILL_AT) {
    it(`SIGKILL of idp at "${marker}": the relaunched job exits and no output folder ever appears`, async () => {
      const out = path.join(dir, `killed-${KILL_AT.indexOf(marker)}`);
      const { parent, child, stderr } = await startCompress(out, marker);
      try {
        assert.ok(running(child), 'the relaunched child runs when its parent is killed');
        parent.kill('SIGKILL');
        await waitFor(() => exited(parent), 5000, 'the killed parent');
        await waitFor(() => {
          assert.ok(!fs.existsSync(out), `${out} appeared after its caller was killed\n${stderr()}`);
          return !running(child);
        }, GONE_WITHIN_MS, `the orphaned child ${child} to exit (stderr: ${stderr()})`);
        assert.ok(!fs.existsSync(out), `${out} appeared after its caller was killed`);
      } finally {
        killIfRunning(child);
      }
    });
  }

  it('the engine process exits when the process that started it is killed mid-compress, writing nothing', async () => {
    // The extension host stands in as a small Node script holding the engine's stdio, as EngineClient does.
    const out = path.join(dir, 'engine-killed');
    const host = `
      const cp = require('child_process');
      const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = require(${JSON.stringify(require.resolve('vscode-jsonrpc/node'))});
      const engine = cp.spawn(process.execPath, [${JSON.stringify(SERVER)}], { stdio: ['pipe', 'pipe', 'inherit'] });
      const conn = createMessageConnection(new StreamMessageReader(engine.stdout), new StreamMessageWriter(engine.stdin));
      conn.onNotification('$/progress', (p) => { if (p.value && p.value.stage === 'layer') process.stderr.write('LAYER\\n'); });
      conn.listen();
      conn.sendRequest('idp/initialize', null).then(() => conn.sendRequest('idp/compress', {
        model: ${JSON.stringify(path.join(REPO_ROOT, 'models', 'default'))}, method: 'gptq', bits: 4, groupSize: 64,
        calib: [${JSON.stringify(CALIB)}], samples: 32, seqlen: 128, out: ${JSON.stringify(out)}, progressToken: 'p',
      })).catch((e) => process.stderr.write('request failed: ' + e.message + '\\n'));`;
    const parent = spawn(process.execPath, ['-e', host], { stdio: ['ignore', 'ignore', 'pipe'], env: userEnv() });
    let err = '';
    parent.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
    const engine = await waitFor(() => childrenOf(parent.pid!)[0], 10000, 'the engine process');
    try {
      await waitFor(() => err.includes('LAYER'), 60000, `the first layer's progress (stderr: ${err})`);
      parent.kill('SIGKILL');
      await waitFor(() => {
        assert.ok(!fs.existsSync(out), `${out} appeared after the engine's client was killed`);
        return !running(engine);
      }, GONE_WITHIN_MS, `the engine process ${engine} to exit`);
      assert.ok(!fs.existsSync(out));
    } finally {
      killIfRunning(engine);
    }
  });
});
