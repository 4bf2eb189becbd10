// The output lock and the staging sweeps, judged against real processes: a lock whose owner is alive is
// respected (by the engine and by a real `idp compress`), one whose owner is dead — or whose pid now
// belongs to a process started at another time — is taken over, one from another host never is; and a
// sweep (the engine's, the extension's start-up sweep) leaves a live owner's staging folder alone.

import { strict as assert } from 'assert';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { claimOutput } from '../../../src/engine/formats/output-folder';
import { lockOutput, lockPathFor } from '../../../src/engine/formats/output-lock';
import { stagingPath, sweepStaging, tempFolderBeside } from '../../../src/engine/formats/atomic-folder';
import { currentOwner, startToken } from '../../../src/engine/process/process-identity';
import { isIdpError } from '../../../src/engine/errors';
import { Lab } from '../../../src/extension/lab';

const CLI = path.resolve(__dirname, '..', '..', '..', '..', 'dist', 'cli.js');
const LAB = path.resolve(__dirname, '..', '..', '..', 'src', 'extension', 'lab.js');
const root = tmpDir('idp-out-lock-');

/** A real process that stays alive until killed; resolves once it has printed `ready` (and whatever it printed). */
function liveProcess(script = 'process.stdout.write("ready\\n")'): Promise<{ child: ChildProcess; out: string }> {
  const child = spawn(process.execPath, ['-e', `${script}; setInterval(() => {}, 1 << 30)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; if (out.includes('ready\n')) resolve({ child, out }); });
    child.on('error', reject);
  });
}

const kill = (c: ChildProcess) => new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill('SIGKILL'); });

/** The pid of a process that has exited (spawned here and waited for). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function writeLock(target: string, owner: { pid: number; start: string; host: string }): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(lockPathFor(target), JSON.stringify({ ...owner, nonce: 'test', target, since: new Date().toISOString() }));
}

function refusedAsLocked(fn: () => unknown, pid: number): void {
  assert.throws(fn, (e: unknown) => isIdpError(e) && e.code === 'INPUT' && new RegExp(`locked by process ${pid} `).test(e.message));
}

describe('reliability: the output lock and the staging sweeps', function () {
  this.timeout(120000);

  it('start tokens: this process has one, a dead pid has none', () => {
    assert.equal(typeof startToken(process.pid), 'string');
    assert.equal(startToken(process.pid), currentOwner().start);
    assert.equal(startToken(deadPid()), undefined);
  });

  it('a live owner\'s lock is respected — also by a real idp compress, which exits 2 before any compute', async () => {
    const { child } = await liveProcess();
    const target = path.join(root, 'held');
    writeLock(target, { pid: child.pid!, start: startToken(child.pid!)!, host: os.hostname() });
    try {
      refusedAsLocked(() => claimOutput(target, { kind: 'compress', mode: 'replace' }), child.pid!);
      const r = spawnSync(process.execPath, [CLI, 'compress', '--method', 'rtn', '--bits', '4', '--group-size', '64', '--out', target], { encoding: 'utf8' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`locked by process ${child.pid} `));
      assert.doesNotMatch(r.stderr, /\[layer\]/);
      assert.ok(!fs.existsSync(target), 'nothing written');
      assert.ok(fs.existsSync(lockPathFor(target)), 'the holder\'s lock is kept');
    } finally {
      await kill(child);
    }
    // the holder is gone now: its lock is stale and the next writer takes it over
    const claim = claimOutput(target, { kind: 'compress', mode: 'replace' });
    assert.equal(JSON.parse(fs.readFileSync(lockPathFor(target), 'utf8')).pid, process.pid);
    claim.release();
    assert.ok(!fs.existsSync(lockPathFor(target)), 'released');
  });

  it('stale locks are taken over: owner dead, or its pid reused by a process started at another time', () => {
    const target = path.join(root, 'stale');
    for (const owner of [
      { pid: deadPid(), start: '1', host: os.hostname() },
      { pid: process.pid, start: `${currentOwner().start}0`, host: os.hostname() },   // same pid, another start: not the owner
    ]) {
      writeLock(target, owner);
      const lock = lockOutput(target);
      assert.equal(JSON.parse(fs.readFileSync(lock.file, 'utf8')).start, currentOwner().start);
      lock.release();
    }
  });

  it('a lock from another host is never taken over, even with a pid that is dead here', () => {
    const target = path.join(root, 'remote');
    const pid = deadPid();
    writeLock(target, { pid, start: '1', host: `not-${os.hostname()}` });
    refusedAsLocked(() => lockOutput(target), pid);
    assert.ok(fs.existsSync(lockPathFor(target)));
  });

  it('one process cannot take its own live lock twice', () => {
    const target = path.join(root, 'twice');
    const lock = lockOutput(target);
    refusedAsLocked(() => lockOutput(target), process.pid);
    lock.release();
    lockOutput(target).release();
  });

  it('the engine sweep removes only staging folders whose owner is gone', async () => {
    const target = path.join(root, 'model');
    const mine = tempFolderBeside(target);                        // this (live) process's
    const { child, out } = await liveProcess(`const a = require(${JSON.stringify(path.resolve(__dirname, '..', '..', '..', 'src', 'engine', 'formats', 'atomic-folder.js'))}); ` +
      `process.stdout.write(a.tempFolderBeside(${JSON.stringify(target)}) + "\\n" + "ready\\n")`);
    const theirs = out.split('\n')[0];
    const dead = path.join(root, path.basename(stagingPath(target)).replace(`.${process.pid}-${currentOwner().start}-`, `.${deadPid()}-1-`));
    fs.mkdirSync(dead);
    try {
      assert.ok(fs.existsSync(theirs), theirs);
      assert.equal(sweepStaging(root), 1);
      assert.ok(fs.existsSync(mine) && fs.existsSync(theirs) && !fs.existsSync(dead), 'live owners\' staging kept, the dead one\'s removed');
      tempFolderBeside(target);                                  // a new write sweeps too: still keeps the live ones
      assert.ok(fs.existsSync(theirs));
    } finally {
      await kill(child);
    }
    assert.ok(sweepStaging(root) >= 1);
    assert.ok(!fs.existsSync(theirs), 'removed once its owner is gone');
  });

  it('the extension\'s start-up sweep leaves a run another window is staging', async () => {
    const lab = new Lab(path.join(root, 'lab'));
    const { child, out } = await liveProcess(`const { Lab } = require(${JSON.stringify(LAB)}); ` +
      `process.stdout.write(new Lab(${JSON.stringify(lab.root)}).stageRun("compress").dir + "\\n" + "ready\\n")`);
    const staging = out.split('\n')[0];
    try {
      assert.equal(lab.sweep(), 0);
      assert.ok(fs.existsSync(staging), 'the other window\'s job is untouched');
    } finally {
      await kill(child);
    }
    assert.equal(lab.sweep(), 1);
    assert.ok(!fs.existsSync(staging), 'swept once that window is gone');
  });
});
