// `idp gpu setup`'s engine: the CUDA provider files fetched from a NuGet v3 feed (a real local HTTP
// server answering as nuget.org does, serving a stand-in package built here) into a temporary copy of
// onnxruntime-node's binding folder — never the real one.

import { strict as assert } from 'assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { buildNupkg, NATIVE, NugetFeed, PROVIDER_FILES, standInEntries } from '../../helpers/nuget-feed';
import { IdpError } from '../../../src/engine/errors';
import { cudaPackagePlan, ortBinDir, ortRoot } from '../../../src/engine/runtime/gpu/ort-package';
import { CUDA_RECORD, cudaFilesStatus, readCudaRecord, removeCuda, setupCuda, SetupProgress } from '../../../src/engine/runtime/gpu/cuda-install';

const ORT_VERSION = JSON.parse(fs.readFileSync(path.join(ortRoot(), 'package.json'), 'utf8')).version as string;
const ID = 'Microsoft.ML.OnnxRuntime.Gpu.Linux';
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** A fresh copy of the real binding folder's files (what the setup must leave alone). */
function bindingCopy(): string {
  const dir = tmpDir('idp-gpu-bin-');
  for (const f of fs.readdirSync(ortBinDir())) {
    if (!f.startsWith('libonnxruntime_providers_') && f !== CUDA_RECORD) fs.copyFileSync(path.join(ortBinDir(), f), path.join(dir, f));
  }
  return dir;
}

const listing = (dir: string) => fs.readdirSync(dir).sort().map((f) => `${f}:${sha256(fs.readFileSync(path.join(dir, f)))}`);

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<IdpError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof IdpError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected a ${code} error`);
}

describe('gpu: CUDA provider setup from a NuGet feed', function () {
  this.timeout(60000);
  let entries: Record<string, Buffer>;
  let nupkg: Buffer;
  let feed: NugetFeed;
  const realBefore = listing(ortBinDir());

  before(async () => {
    entries = standInEntries(ORT_VERSION);
    nupkg = await buildNupkg(entries);
  });

  beforeEach(async () => {
    feed = await new NugetFeed().start();
    feed.add(ID, ORT_VERSION, nupkg);
  });

  afterEach(() => feed.stop());

  after(() => {
    // the real binding folder was never written to
    assert.deepEqual(listing(ortBinDir()), realBefore);
  });

  it('plans what onnxruntime-node\'s own install metadata names, for its own version', () => {
    const plan = cudaPackagePlan({ index: 'http://example.invalid/v3/index.json' });
    assert.equal(plan.id, ID);
    assert.equal(plan.version, ORT_VERSION);
    assert.equal(plan.ortVersion, ORT_VERSION);
    assert.deepEqual(plan.files.map((f) => f.name).sort(), [...PROVIDER_FILES].sort());
    for (const f of plan.files) assert.equal(f.entry, `${NATIVE}/${f.name}`);
    assert.equal(cudaPackagePlan().index, process.env.IDP_NUGET_INDEX || 'https://api.nuget.org/v3/index.json');
  });

  it('off linux/x64 the plan is UNSUPPORTED, saying so', () => {
    for (const [platform, arch] of [['darwin', 'arm64'], ['win32', 'x64'], ['linux', 'arm64']]) {
      assert.throws(() => cudaPackagePlan({ platform, arch }), (e: unknown) =>
        e instanceof IdpError && e.code === 'UNSUPPORTED' && e.message.includes(`linux/x64 only`) && e.message.includes(`${platform}/${arch}`));
    }
  });

  it('downloads, verifies and installs exactly the three files, with a record of them; a second run does nothing; remove takes them away', async () => {
    const dir = bindingCopy();
    const before = listing(dir);
    const progress: SetupProgress[] = [];
    const r = await setupCuda({ binDir: dir, index: feed.index, onProgress: (p) => progress.push(p) });
    assert.equal(r.already, false);
    assert.equal(r.verified, true);
    assert.equal(r.version, ORT_VERSION);
    assert.match(r.hashSource ?? '', /\/catalog\//);
    for (const f of PROVIDER_FILES) assert.ok(fs.readFileSync(path.join(dir, f)).equals(entries[`${NATIVE}/${f}`]), f);
    // nothing else came out of the package (its libonnxruntime.so stays in it), no staging or download left behind
    const after = fs.readdirSync(dir).sort();
    assert.deepEqual(after, [...before.map((l) => l.split(':')[0]), ...PROVIDER_FILES, CUDA_RECORD].sort());
    for (const l of before) assert.ok(listing(dir).includes(l), `${l} unchanged`);
    const rec = readCudaRecord(dir)!;
    assert.equal(rec.package, ID);
    assert.equal(rec.sha512, crypto.createHash('sha512').update(nupkg).digest('base64'));
    assert.equal(rec.pending, undefined);
    for (const f of PROVIDER_FILES) assert.equal(rec.files[f].sha256, sha256(entries[`${NATIVE}/${f}`]));
    // progress: each phase in order, the download counted up to the package's size
    const phases = progress.map((p) => p.phase).filter((p, i, a) => a[i - 1] !== p);
    assert.deepEqual(phases, ['resolve', 'download', 'extract', 'install']);
    const last = progress.filter((p) => p.phase === 'download').pop()!;
    assert.equal(last.bytes, nupkg.length);
    assert.equal(last.total, nupkg.length);
    assert.deepEqual(cudaFilesStatus({ binDir: dir }).missing, []);
    assert.deepEqual(cudaFilesStatus({ binDir: dir }).installedBy, { package: ID, version: ORT_VERSION, verified: true });

    const n = feed.requests.length;
    const again = await setupCuda({ binDir: dir, index: feed.index });
    assert.equal(again.already, true);
    assert.equal(feed.requests.length, n, 'no request when the files are in place');

    const forced = await setupCuda({ binDir: dir, index: feed.index, force: true });
    assert.equal(forced.already, false);
    assert.equal(feed.nupkgRequests().length, 2);

    const gone = removeCuda({ binDir: dir });
    assert.deepEqual(gone.removed.sort(), [...PROVIDER_FILES].sort());
    assert.deepEqual(gone.kept, []);
    assert.deepEqual(listing(dir), before);
  });

  it('a download that does not match the catalog\'s SHA512 is a FORMAT error naming the URL, and nothing is installed', async () => {
    for (const opts of [{ corrupt: true }, { wrongHash: true }]) {
      feed.opts = opts;
      const dir = bindingCopy();
      const before = listing(dir);
      const e = await rejectsWith(setupCuda({ binDir: dir, index: feed.index }), 'FORMAT', /SHA512 mismatch/);
      assert.ok(e.message.includes(`${feed.base}/flat/microsoft.ml.onnxruntime.gpu.linux/${ORT_VERSION}/microsoft.ml.onnxruntime.gpu.linux.${ORT_VERSION}.nupkg`), e.message);
      assert.deepEqual(listing(dir), before, JSON.stringify(opts));
    }
  });

  it('a feed that states no hash is refused before downloading (UNSUPPORTED); verify: false installs it, recorded unverified', async () => {
    for (const opts of [{ noHash: true }, { noRegistration: true }]) {
      feed.opts = opts;
      const dir = bindingCopy();
      const before = listing(dir);
      await rejectsWith(setupCuda({ binDir: dir, index: feed.index }), 'UNSUPPORTED', /states no SHA512.*--no-verify/);
      assert.equal(feed.nupkgRequests().length, 0);
      assert.deepEqual(listing(dir), before);
      const r = await setupCuda({ binDir: dir, index: feed.index, verify: false });
      assert.equal(r.verified, false);
      assert.equal(readCudaRecord(dir)!.verified, false);
      for (const f of PROVIDER_FILES) assert.ok(fs.readFileSync(path.join(dir, f)).equals(entries[`${NATIVE}/${f}`]));
      feed.requests.length = 0;
    }
  });

  it('files of those names that IDP Lab did not put there are never touched: DENIED, naming them, with no download', async () => {
    const dir = bindingCopy();
    const foreign = Buffer.from('installed by onnxruntime-node\'s own script');
    fs.writeFileSync(path.join(dir, 'libonnxruntime_providers_shared.so'), foreign);
    const before = listing(dir);
    await rejectsWith(setupCuda({ binDir: dir, index: feed.index }), 'DENIED', /libonnxruntime_providers_shared\.so: exists and was not installed by IDP Lab/);
    assert.deepEqual(feed.requests, []);
    assert.deepEqual(listing(dir), before);

    // a file IDP Lab installed and someone then changed is no longer IDP Lab's either
    const dir2 = bindingCopy();
    await setupCuda({ binDir: dir2, index: feed.index });
    fs.appendFileSync(path.join(dir2, 'libonnxruntime_providers_cuda.so'), 'patched');
    const patched = listing(dir2);
    await rejectsWith(setupCuda({ binDir: dir2, index: feed.index, force: true }), 'DENIED', /libonnxruntime_providers_cuda\.so: exists and was not installed/);
    assert.deepEqual(listing(dir2), patched);
    const r = removeCuda({ binDir: dir2 });
    assert.deepEqual(r.kept, ['libonnxruntime_providers_cuda.so']);
    assert.ok(fs.existsSync(path.join(dir2, 'libonnxruntime_providers_cuda.so')));
  });

  it('a cancel mid-download leaves the folder as it was', async () => {
    feed.opts = { trickleMs: 30 };
    const dir = bindingCopy();
    const before = listing(dir);
    const ac = new AbortController();
    const p = setupCuda({ binDir: dir, index: feed.index, signal: ac.signal, onProgress: (x) => { if (x.phase === 'download' && (x.bytes ?? 0) > 0) ac.abort(); } });
    await rejectsWith(p, 'INPUT', /cancelled: nothing was installed/);
    assert.deepEqual(listing(dir), before);
  });

  it('a version the feed lacks is NOT_FOUND naming the version list; a package without the files is FORMAT naming the entry', async () => {
    const other = await new NugetFeed().start();
    try {
      other.add(ID, '1.0.0', nupkg);
      const dir = bindingCopy();
      await rejectsWith(setupCuda({ binDir: dir, index: other.index }), 'NOT_FOUND', new RegExp(`/flat/microsoft\\.ml\\.onnxruntime\\.gpu\\.linux/index\\.json: the feed has no ${ID} ${ORT_VERSION.replace(/\./g, '\\.')}`));
    } finally {
      await other.stop();
    }
    const partial = { ...entries };
    delete partial[`${NATIVE}/libonnxruntime_providers_cuda.so`];
    feed.add(ID, ORT_VERSION, await buildNupkg(partial));
    const dir = bindingCopy();
    const before = listing(dir);
    await rejectsWith(setupCuda({ binDir: dir, index: feed.index }), 'FORMAT', /\.nupkg: the package has no runtimes\/linux-x64\/native\/libonnxruntime_providers_cuda\.so/);
    assert.deepEqual(listing(dir), before);
  });

  it('a feed address that is not an http(s) URL is bad input, naming it', async () => {
    await rejectsWith(setupCuda({ binDir: bindingCopy(), index: 'file:///etc/passwd' }), 'INPUT', /^file:\/\/\/etc\/passwd: the NuGet service index .* must be an http\(s\) URL/);
  });

  it('an unreachable feed is a RUNTIME error naming the URL', async () => {
    const url = `${feed.base}/v3/index.json`;
    await feed.stop();
    await rejectsWith(setupCuda({ binDir: bindingCopy(), index: url }), 'RUNTIME', new RegExp(`${url.replace(/[./]/g, '\\$&')}: cannot reach the NuGet feed`));
    feed = await new NugetFeed().start();   // for afterEach
  });
});
