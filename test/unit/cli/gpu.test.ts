// `idp gpu setup / check / remove` and `--ep auto` as a user runs them: child processes, against a
// local NuGet feed (test/helpers/nuget-feed.ts), installing into a temporary folder (--bin-dir).

import { strict as assert } from 'assert';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { buildNupkg, NATIVE, NugetFeed, PROVIDER_FILES, standInEntries } from '../../helpers/nuget-feed';
import { ortRoot } from '../../../src/engine/runtime/gpu/ort-package';
import { CUDA_RECORD } from '../../../src/engine/runtime/gpu/cuda-install';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const ORT_VERSION = JSON.parse(fs.readFileSync(path.join(ortRoot(), 'package.json'), 'utf8')).version as string;

/** Runs idp without blocking this process (the feed answers from it). */
function idp(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('cli: idp gpu', function () {
  this.timeout(120000);
  let feed: NugetFeed;
  let entries: Record<string, Buffer>;

  before(async () => {
    entries = standInEntries(ORT_VERSION);
    feed = await new NugetFeed().start();
    feed.add('Microsoft.ML.OnnxRuntime.Gpu.Linux', ORT_VERSION, await buildNupkg(entries));
  });
  after(() => feed.stop());

  it('setup installs from the feed IDP_NUGET_INDEX names, says what CUDA still needs; remove takes the files away', async () => {
    const dir = tmpDir('idp-cli-gpu-');
    const r = await idp(['gpu', 'setup', '--bin-dir', dir], { IDP_NUGET_INDEX: feed.index });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`installed .* from Microsoft\\.ML\\.OnnxRuntime\\.Gpu\\.Linux ${ORT_VERSION.replace(/\./g, '\\.')} into ${dir} \\(SHA512 verified\\)`));
    assert.match(r.stderr, /idp: downloading .*\.nupkg/);
    for (const f of PROVIDER_FILES) assert.ok(fs.readFileSync(path.join(dir, f)).equals(entries[`${NATIVE}/${f}`]), f);
    if (!fs.readdirSync('/dev').some((n) => /^nvidia\d+$/.test(n))) assert.match(r.stdout, /CUDA still needs: an NVIDIA GPU/);
    const again = await idp(['gpu', 'setup', '--bin-dir', dir, '--json'], { IDP_NUGET_INDEX: feed.index });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).already, true);
    const rm = await idp(['gpu', 'remove', '--bin-dir', dir]);
    assert.equal(rm.status, 0, rm.stderr);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('refusals exit with the documented codes and name the file: foreign files (3), a bad checksum (3), an unreachable feed (4)', async () => {
    const dir = tmpDir('idp-cli-gpu-');
    fs.writeFileSync(path.join(dir, 'libonnxruntime_providers_cuda.so'), 'someone else\'s');
    const foreign = await idp(['gpu', 'setup', '--bin-dir', dir, '--index', feed.index]);
    assert.equal(foreign.status, 3, foreign.stderr);
    assert.match(foreign.stderr, /libonnxruntime_providers_cuda\.so: exists and was not installed by IDP Lab/);
    feed.opts = { corrupt: true };
    try {
      const bad = await idp(['gpu', 'setup', '--bin-dir', tmpDir('idp-cli-gpu-'), '--index', feed.index]);
      assert.equal(bad.status, 3, bad.stderr);
      assert.match(bad.stderr, /\.nupkg: SHA512 mismatch/);
    } finally {
      feed.opts = {};
    }
    const gone = await idp(['gpu', 'setup', '--bin-dir', tmpDir('idp-cli-gpu-'), '--index', 'http://127.0.0.1:9/v3/index.json']);
    assert.equal(gone.status, 4, gone.stderr);
    assert.match(gone.stderr, /http:\/\/127\.0\.0\.1:9\/v3\/index\.json: cannot reach the NuGet feed/);
    assert.ok(!fs.readdirSync(dir).includes(CUDA_RECORD));
  });

  it('check names what CUDA lacks here and what auto picks; generate --ep auto says which provider it runs on', async function () {
    const r = await idp(['gpu', 'check', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.ok(['cpu', 'webgpu', 'cuda'].includes(c.auto.ep));
    if (c.auto.ep !== 'cuda') assert.ok(c.cudaMissing.length > 0 && c.auto.passed[0].ep === 'cuda');
    const g = await idp(['generate', '--model', dataPath(this, ...STORIES, 'stories260K.gguf'), '--max-tokens', '4', '--ep', 'auto', '--json']);
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stderr, new RegExp(`idp: execution provider ${c.auto.ep} \\(auto`));
    assert.equal(JSON.parse(g.stdout).ids.length, 4);
  });
});
