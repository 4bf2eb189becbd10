// In the real extension host: IDP: Enable CUDA against a local NuGet-like feed (test/helpers/nuget-feed.ts,
// serving a stand-in Microsoft.ML.OnnxRuntime.Gpu.Linux package) started here, installing into a temporary
// copy of onnxruntime-node's binding folder (IDP_ORT_BIN_DIR, docs/gpu.md) — never the real one. The job
// finishes, the provider files and IDP Lab's record are there, and the engine process is started again.

import { strict as assert } from 'assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, waitFor } from './helpers';
import { skipUnless } from '../../helpers/skip';
import { buildNupkg, NATIVE, NugetFeed, standInEntries } from '../../helpers/nuget-feed';
import { CUDA_RECORD, readCudaRecord } from '../../../src/engine/runtime/gpu/cuda-install';
import { ortBinDir, ortRoot } from '../../../src/engine/runtime/gpu/ort-package';

const ID = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
const INSTALLED = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'];
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const listing = (dir: string) => fs.readdirSync(dir).sort().map((f) => `${f}:${sha256(fs.readFileSync(path.join(dir, f)))}`);

describe('extension host: IDP: Enable CUDA from a local NuGet feed into a copy of the binding folder', function () {
  this.timeout(120000);
  const feed = new NugetFeed();
  const saved: Record<string, string | undefined> = {};
  let entries: Record<string, Buffer>;
  let version: string;
  let dir: string;
  let realDir: string;
  let realBefore: string[];

  before(async function () {
    skipUnless(this, process.platform === 'linux' && process.arch === 'x64', 'the CUDA provider setup is linux/x64 only (UNSUPPORTED elsewhere)');
    version = JSON.parse(fs.readFileSync(path.join(ortRoot(), 'package.json'), 'utf8')).version;
    entries = standInEntries(version);
    await feed.start();
    feed.add(ID, version, await buildNupkg(entries));
    realDir = ortBinDir();
    realBefore = listing(realDir);
    // the binding folder's own files, without any provider files or record
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-host-ort-bin-'));
    for (const f of fs.readdirSync(realDir)) {
      if (!f.startsWith('libonnxruntime_providers_') && f !== CUDA_RECORD) fs.copyFileSync(path.join(realDir, f), path.join(dir, f));
    }
    for (const k of ['IDP_NUGET_INDEX', 'IDP_ORT_BIN_DIR']) saved[k] = process.env[k];
    process.env.IDP_NUGET_INDEX = feed.index;
    process.env.IDP_ORT_BIN_DIR = dir;
    // never the real folder: stop here unless the override is honoured
    assert.equal(ortBinDir(), dir, 'IDP_ORT_BIN_DIR names the folder the setup installs into');
  });

  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await feed.stop();
    // engines started from here on see the real binding folder again
    await vscode.commands.executeCommand('idp.restartEngine');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('downloads, verifies and installs the provider files with their record, then restarts the engine', async () => {
    const a = await api();
    const pid = await a.engine.processId();
    const r = await vscode.commands.executeCommand<any>('idp.enableCuda');
    assert.ok(r, `the job finished (${a.jobs.lastFailure?.message ?? 'no failure'})`);
    assert.equal(r.dir, dir);
    assert.equal(r.already, false);
    assert.equal(r.verified, true);
    assert.equal(r.package, ID);
    assert.equal(r.version, version);
    assert.deepEqual([...r.files].sort(), INSTALLED);
    assert.equal(a.jobs.running.size, 0, 'no job left running');
    assert.deepEqual(feed.nupkgRequests().length, 1, 'the package was downloaded once');
    // the files are the package's entries, byte for byte, and the record describes them
    const rec = readCudaRecord(dir);
    assert.ok(rec, `${CUDA_RECORD} written`);
    assert.equal(rec.package, ID);
    assert.equal(rec.version, version);
    assert.equal(rec.verified, true);
    assert.equal(rec.pending, undefined, 'no install left half-done');
    for (const f of INSTALLED) {
      const want = entries[`${NATIVE}/${f}`];
      assert.ok(fs.readFileSync(path.join(dir, f)).equals(want), `${f} is the package's entry`);
      assert.deepEqual(rec.files[f], { entry: `${NATIVE}/${f}`, size: want.length, sha256: sha256(want) });
    }
    assert.ok(!fs.existsSync(path.join(dir, 'libonnxruntime.so')) || !fs.readFileSync(path.join(dir, 'libonnxruntime.so')).equals(entries[`${NATIVE}/libonnxruntime.so`]),
      'only the provider entries are extracted');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no staging files left');
    // the engine process is started again, so that it sees the files
    const pid2 = await waitFor('the engine to be started again', async () => {
      const p = await a.engine.processId().catch(() => undefined);
      return p !== undefined && p !== pid ? p : undefined;
    });
    assert.notEqual(pid2, pid);
    assert.deepEqual(listing(realDir), realBefore, 'the real binding folder is untouched');
  });

  it('a second run finds the files in place and downloads nothing', async () => {
    const before = feed.nupkgRequests().length;
    const r = await vscode.commands.executeCommand<any>('idp.enableCuda');
    assert.ok(r);
    assert.equal(r.already, true);
    assert.equal(feed.nupkgRequests().length, before);
  });
});
