// Huge pages for prepacked weights: the environment the engine's processes get, and the CLI-style
// relaunch (the child sees the tunable, its exit code and signals come back through the parent).

import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { HUGE_PAGES_TUNABLE, hugePagesOn, withHugePages, withoutHugePages } from '../../../src/engine/runtime/huge-pages';
import { skipUnless } from '../../helpers/skip';

const MODULE = path.resolve(__dirname, '../../../src/engine/runtime/huge-pages.js');

/** A script that relaunches itself, then prints its tunables and leaves as its arguments say. */
function script(): string {
  const file = path.join(tmpDir('idp-hugepages-'), 'relaunch.js');
  fs.writeFileSync(file, `
const { relaunchWithHugePages } = require(${JSON.stringify(MODULE)});
if (!relaunchWithHugePages()) {
  console.log(JSON.stringify({ pid: process.pid, ppid: process.ppid, tunables: process.env.GLIBC_TUNABLES ?? null }));
  if (process.argv[2] === 'wait') setTimeout(() => {}, 60000);
  else process.exitCode = Number(process.argv[2] ?? 0);
}
`);
  return file;
}

function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = withoutHugePages(process.env);
  delete env.IDP_HUGE_PAGES;
  return { ...env, ...extra };
}

describe('runtime: huge pages for prepacked weights', function () {
  this.timeout(30000);
  const linux = process.platform === 'linux';

  it('adds the tunable to tunables already set, once, and takes only it away', function () {
    skipUnless(this, linux, 'glibc tunables exist only on Linux');
    const env = withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
    assert.equal(env.GLIBC_TUNABLES, `glibc.malloc.arena_max=2:${HUGE_PAGES_TUNABLE}`);
    assert.ok(hugePagesOn(env));
    assert.equal(withHugePages(env).GLIBC_TUNABLES, env.GLIBC_TUNABLES);
    assert.equal(withoutHugePages(env).GLIBC_TUNABLES, 'glibc.malloc.arena_max=2');
    assert.equal('GLIBC_TUNABLES' in withoutHugePages({ GLIBC_TUNABLES: HUGE_PAGES_TUNABLE }), false);
    assert.equal(withHugePages({}).GLIBC_TUNABLES, HUGE_PAGES_TUNABLE);
  });

  it('IDP_HUGE_PAGES=0 leaves the environment alone', () => {
    const env = { IDP_HUGE_PAGES: '0' };
    assert.equal(withHugePages(env), env);
    assert.equal(hugePagesOn(env), false);
  });

  it('relaunches once: the child has the tunable and its exit code is the parent\'s', function () {
    skipUnless(this, linux, 'glibc tunables exist only on Linux');
    const r = spawnSync(process.execPath, [script(), '7'], { env: cleanEnv(), encoding: 'utf8' });
    assert.equal(r.status, 7, r.stderr);
    const out = JSON.parse(r.stdout.trim());
    assert.equal(out.tunables, HUGE_PAGES_TUNABLE);
    assert.notEqual(out.ppid, process.pid, 'the script ran in a relaunched child, not the process spawned here');
  });

  it('does not relaunch when the tunable is set or IDP_HUGE_PAGES=0', () => {
    for (const env of [cleanEnv({ GLIBC_TUNABLES: HUGE_PAGES_TUNABLE }), cleanEnv({ IDP_HUGE_PAGES: '0' })]) {
      const r = spawnSync(process.execPath, [script(), '0'], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout.trim()).ppid, process.pid);
    }
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`passes ${sig} on to the child once and ends by the same signal`, async function () {
      skipUnless(this, linux, 'glibc tunables exist only on Linux');
      const parent = spawn(process.execPath, [script(), 'wait'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
      const line = await new Promise<string>((ok) => parent.stdout!.once('data', (b: Buffer) => ok(b.toString())));
      const child = JSON.parse(line.trim()) as { pid: number };
      const ended = new Promise<NodeJS.Signals | null>((ok) => parent.once('exit', (_c, s) => ok(s)));
      parent.kill(sig);
      assert.equal(await ended, sig);
      assert.throws(() => process.kill(child.pid, 0), /ESRCH/, 'the relaunched child is gone too');
    });
  }
});
