// Hub references end to end through loadModel, against a local server that answers like the Hub
// (test/helpers/hub-server.ts) and a temporary HF cache: what is downloaded, how the cache is laid
// out, when the network is touched, resuming, corruption, pinned revisions, a cache written by
// huggingface_hub's rules, GGUF quantizations, gated repositories, cancel.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { IdpError } from '../../../src/engine/errors';
import { loadModel } from '../../../src/engine/models/load';
import { modelFolder } from '../../../src/engine/models/config';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { resolveModel } from '../../../src/engine/hub/resolve';
import { compressModel } from '../../../src/engine/compress/compress';
import { REPO_ROOT, tmpDir } from '../../helpers/data';
import { FakeHub, folderFiles, gitSha1, sha256 } from '../../helpers/hub-server';
import { tinyConfig, writeTinyHf } from '../../helpers/tiny-hf';
import { writeLlamaGguf } from '../../helpers/gguf-writer';
import { mulberry32 } from '../../helpers/prng';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'hf');
const REPO = 'idp-test/tiny-llama';
const FOLDER = 'models--idp-test--tiny-llama';

const ENV_KEYS = ['HF_HUB_CACHE', 'HF_HOME', 'HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'IDP_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HUGGING_FACE_HUB_TOKEN'];
const isErr = (c: string, re?: RegExp) => (e: unknown) => e instanceof IdpError && e.code === c && (!re || re.test(e.message));
const silent = { onProgress: () => undefined };

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p, r);
      else out.push(r);
    }
  };
  if (fs.existsSync(root)) walk(root, '');
  return out;
}

describe('hub: Hugging Face references through loadModel', function () {
  this.timeout(60000);
  const hub = new FakeHub();
  const llama = folderFiles(path.join(FIXTURES, 'llama'), ['config.json', 'generation_config.json', 'model.safetensors']);
  const tied = folderFiles(path.join(FIXTURES, 'llama-tied'), ['config.json', 'model.safetensors']);
  const weightsSha = sha256(llama['model.safetensors']);
  let v1 = '';
  let v2 = '';
  let cache = '';
  const saved: Record<string, string | undefined> = {};
  const folder = () => path.join(cache, FOLDER);

  before(async () => {
    for (const k of ENV_KEYS) saved[k] = process.env[k];
    for (const k of ENV_KEYS) delete process.env[k];
    process.env.IDP_CACHE = tmpDir('idp-hub-conv-');
    process.env.HF_HOME = tmpDir('idp-hf-home-');   // no token file there
    // v1: the tied fixture; v2 (main): the untied one, with files the loader must not fetch
    v1 = hub.commit(REPO, { ...tied, 'README.md': '# tiny' }, { tags: ['v1.0'] });
    v2 = hub.commit(REPO, { ...llama, 'README.md': '# tiny', 'pytorch_model.bin': Buffer.alloc(64, 7), '.gitattributes': '*.safetensors filter=lfs' });
    process.env.HF_ENDPOINT = await hub.start();
  });
  after(async () => {
    await hub.stop();
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  beforeEach(() => {
    cache = tmpDir('idp-hf-cache-');
    process.env.HF_HUB_CACHE = cache;
    delete process.env.HF_HUB_OFFLINE;
    delete process.env.HF_TOKEN;
  });

  it('downloads config, weights and side files once, in huggingface_hub\'s layout, and loads them', async () => {
    const from = hub.requests.length;
    const lines: string[] = [];
    const m = await loadModel(REPO, { hub: { onProgress: (p) => lines.push(`${p.file} ${p.fileBytes}/${p.fileSize} ${p.bytes}/${p.total}`) } });
    assert.equal(m.source, REPO);
    assert.equal(m.hub!.repo, REPO);
    assert.equal(m.hub!.revision, 'main');
    assert.equal(m.hub!.commit, v2);
    assert.equal(m.hub!.file, undefined);
    assert.equal(m.hub!.snapshot, path.join(folder(), 'snapshots', v2));
    assert.equal(m.config.numLayers, 2);
    const local = await loadModel(path.join(FIXTURES, 'llama'));
    assert.deepEqual([...m.weights.keys()].sort(), [...local.weights.keys()].sort());
    // ONNX Runtime refuses external data behind links that leave its folder: the weights are read from
    // the blobs, relative to the repository's cache folder; config and tokenizer from the snapshot
    assert.equal(m.weightsDir, fs.realpathSync(folder()));
    assert.equal(modelFolder(m), path.join(folder(), 'snapshots', v2));
    const [hubLogits, localLogits] = await Promise.all([m, local].map(async (x) => {
      const lm = new CausalLM(x, { ep: 'cpu', threads: 1 });
      try {
        return (await lm.logits([[1, 5, 9, 14]]))[0];
      } finally {
        await lm.release();
      }
    }));
    assert.deepEqual(hubLogits, localLogits);

    // the layout: refs/main → commit; blobs by sha256 (LFS) and git sha1 (regular); relative links
    assert.equal(fs.readFileSync(path.join(folder(), 'refs', 'main'), 'utf8'), v2);
    const snap = path.join(folder(), 'snapshots', v2);
    assert.equal(fs.readlinkSync(path.join(snap, 'model.safetensors')), `../../blobs/${weightsSha}`);
    assert.equal(fs.readlinkSync(path.join(snap, 'config.json')), `../../blobs/${gitSha1(llama['config.json'])}`);
    assert.deepEqual(listTree(snap), ['config.json', 'generation_config.json', 'model.safetensors']);
    assert.deepEqual(listTree(path.join(folder(), 'blobs')).sort(), [gitSha1(llama['config.json']), gitSha1(llama['generation_config.json']), weightsSha].sort());
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) assert.ok(fs.existsSync(path.join(folder(), '.no_exist', v2, f)), f);
    // never the pickle, the README or .gitattributes
    const asked = hub.since(from).join('\n');
    assert.doesNotMatch(asked, /pytorch_model\.bin|README|gitattributes/);
    assert.equal(hub.since(from).filter((r) => r === `GET /cdn/${weightsSha}`).length, 1);
    assert.ok(lines.some((l) => l.startsWith(`model.safetensors ${llama['model.safetensors'].length}/${llama['model.safetensors'].length}`)), lines.join('\n'));
    assert.equal(m.hub!.downloaded, llama['model.safetensors'].length + llama['config.json'].length + llama['generation_config.json'].length);
  });

  it('a cached reference touches no network; offline with the server gone it loads the same', async () => {
    await loadModel(REPO, { hub: silent });
    const from = hub.requests.length;
    const again = await loadModel(REPO, { hub: silent });
    assert.deepEqual(hub.since(from), [], 'no request for a cached model');
    assert.equal(again.hub!.downloaded, 0);
    process.env.HF_HUB_OFFLINE = '1';
    const endpoint = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = await closedPort();
    try {
      const off = await loadModel(REPO, { hub: silent });
      assert.equal(off.hub!.commit, v2);
      assert.equal(modelFolder(off), path.join(folder(), 'snapshots', v2));
    } finally {
      process.env.HF_ENDPOINT = endpoint;
    }
  });

  it('offline and not cached: a NOT_FOUND error naming the reference and the cache, no request', async () => {
    process.env.HF_HUB_OFFLINE = '1';
    const from = hub.requests.length;
    await assert.rejects(loadModel(REPO), isErr('NOT_FOUND', /^idp-test\/tiny-llama: not in the Hugging Face cache .*HF_HUB_OFFLINE/));
    assert.deepEqual(hub.since(from), []);
  });

  it('a connection cut mid-body is resumed with a Range request, and the file verifies', async () => {
    hub.cutOnce(weightsSha, 1000);
    const from = hub.requests.length;
    const m = await loadModel(REPO, { hub: silent });
    assert.equal(m.hub!.commit, v2);
    const gets = hub.requests.slice(from).filter((r) => r.path === `/cdn/${weightsSha}`);
    assert.deepEqual(gets.map((r) => r.range), [undefined, 'bytes=1000-']);
    assert.equal(sha256(fs.readFileSync(path.join(folder(), 'blobs', weightsSha))), weightsSha);
    assert.deepEqual(listTree(path.join(folder(), 'blobs')).filter((f) => f.endsWith('.incomplete')), []);
  });

  it('a partial file left by an earlier run is resumed from its length', async () => {
    const half = llama['model.safetensors'].length >> 1;
    fs.mkdirSync(path.join(folder(), 'blobs'), { recursive: true });
    fs.writeFileSync(path.join(folder(), 'blobs', `${weightsSha}.incomplete`), llama['model.safetensors'].subarray(0, half));
    const from = hub.requests.length;
    const m = await loadModel(REPO, { hub: silent });
    assert.equal(m.hub!.commit, v2);
    const gets = hub.requests.slice(from).filter((r) => r.path === `/cdn/${weightsSha}`);
    assert.deepEqual(gets.map((r) => r.range), [`bytes=${half}-`]);
    assert.equal(sha256(fs.readFileSync(path.join(folder(), 'blobs', weightsSha))), weightsSha);
  });

  it('a corrupted download is rejected naming the file, and nothing that looks complete is left', async () => {
    hub.corrupt(weightsSha);
    try {
      await assert.rejects(loadModel(REPO, { hub: silent }), (e: unknown) => {
        assert.ok(e instanceof IdpError && e.code === 'FORMAT', String(e));
        assert.equal(e.file, path.join(folder(), 'snapshots', v2, 'model.safetensors'));
        assert.match(e.message, new RegExp(`does not match its sha256 \\(expected ${weightsSha}, got [0-9a-f]{64}\\).*removed`));
        return true;
      });
      const blobs = listTree(path.join(folder(), 'blobs'));
      assert.ok(!blobs.some((b) => b.startsWith(weightsSha)), `no blob and no partial file for it: ${blobs}`);
      assert.ok(!fs.existsSync(path.join(folder(), 'snapshots', v2, 'model.safetensors')));
      assert.ok(!fs.existsSync(path.join(folder(), 'refs', 'main')), 'the revision is not recorded');
      process.env.HF_HUB_OFFLINE = '1';
      await assert.rejects(loadModel(REPO, { hub: silent }), isErr('NOT_FOUND'), 'offline, the broken model is not taken as cached');
      delete process.env.HF_HUB_OFFLINE;
    } finally {
      hub.repair(weightsSha);
    }
    const m = await loadModel(REPO, { hub: silent });
    assert.equal(m.hub!.commit, v2, 'a retry once the server is fixed works');
  });

  it('a revision pinned by commit or tag loads that commit; main moves independently', async () => {
    const old = await loadModel(`${REPO}@${v1}`, { hub: silent });
    assert.equal(old.hub!.commit, v1);
    assert.equal(old.config.tieWordEmbeddings, true);
    assert.ok(!fs.existsSync(path.join(folder(), 'refs', v1)), 'a commit needs no ref');
    const tag = await loadModel(`${REPO}@v1.0`, { hub: silent });
    assert.equal(tag.hub!.commit, v1);
    assert.equal(fs.readFileSync(path.join(folder(), 'refs', 'v1.0'), 'utf8'), v1);
    const main = await loadModel(REPO, { hub: silent });
    assert.equal(main.hub!.commit, v2);
    assert.equal(main.config.tieWordEmbeddings, false);
    // all three cached: offline, each still resolves to its own commit
    process.env.HF_HUB_OFFLINE = '1';
    assert.equal((await loadModel(`${REPO}@${v1}`, { hub: silent })).hub!.commit, v1);
    assert.equal((await loadModel(`${REPO}@v1.0`, { hub: silent })).hub!.commit, v1);
    assert.equal((await loadModel(REPO, { hub: silent })).hub!.commit, v2);
    await assert.rejects(loadModel(`${REPO}@v9`, { hub: silent }), isErr('NOT_FOUND'));
  });

  it('an unknown repository or revision: NOT_FOUND saying so', async () => {
    await assert.rejects(loadModel('idp-test/nope', { hub: silent }), isErr('NOT_FOUND', /no such local file or folder, and no such model on the Hugging Face Hub/));
    await assert.rejects(loadModel(`${REPO}@nobranch`, { hub: silent }), isErr('NOT_FOUND', /no such revision/));
  });

  it('reads a cache laid out by huggingface_hub\'s rules without any network', async () => {
    // as transformers leaves it: blobs by etag, relative links, refs/main, .no_exist markers, .locks
    const commit = 'c0ffee'.padEnd(40, '0');
    const f = path.join(cache, 'models--someone--tiny-opt');
    const files = folderFiles(path.join(FIXTURES, 'opt'), ['config.json', 'model.safetensors']);
    fs.mkdirSync(path.join(f, 'blobs'), { recursive: true });
    fs.mkdirSync(path.join(f, 'snapshots', commit), { recursive: true });
    fs.mkdirSync(path.join(f, 'refs'), { recursive: true });
    fs.mkdirSync(path.join(f, '.no_exist', commit), { recursive: true });
    fs.mkdirSync(path.join(cache, '.locks', 'models--someone--tiny-opt'), { recursive: true });
    for (const [name, data] of Object.entries(files)) {
      const etag = name.endsWith('.safetensors') ? sha256(data) : gitSha1(data);
      fs.writeFileSync(path.join(f, 'blobs', etag), data);
      fs.symlinkSync(`../../blobs/${etag}`, path.join(f, 'snapshots', commit, name));
    }
    fs.writeFileSync(path.join(f, 'refs', 'main'), commit);
    for (const n of ['tokenizer.json', 'tokenizer_config.json']) fs.writeFileSync(path.join(f, '.no_exist', commit, n), '');
    process.env.HF_ENDPOINT = await closedPort();
    try {
      const m = await loadModel('someone/tiny-opt');
      assert.equal(m.hub!.commit, commit);
      assert.equal(m.config.arch, 'opt');
      assert.equal(m.hub!.downloaded, 0);
      // the same without the .no_exist markers is not complete: online it asks the Hub (here: unreachable) …
      fs.rmSync(path.join(f, '.no_exist'), { recursive: true });
      await assert.rejects(loadModel('someone/tiny-opt', { hub: silent }), isErr('RUNTIME', /cannot reach/));
      // … offline it loads what is there
      process.env.HF_HUB_OFFLINE = '1';
      assert.equal((await loadModel('someone/tiny-opt')).hub!.commit, commit);
    } finally {
      process.env.HF_ENDPOINT = hub.endpoint;
    }
  });

  it('a GGUF repository: ORG/NAME:QUANT downloads only that file; no tag picks Q4_K_M', async () => {
    const dir = tmpDir('idp-hub-gguf-');
    const spec = { vocab: 32, hidden: 32, layers: 1, heads: 2, kvHeads: 1, ffn: 64, tokens: Array.from({ length: 32 }, (_, i) => (i < 3 ? ['<unk>', '<s>', '</s>'][i] : `▁t${i}`)) };
    const rand = mulberry32(3);
    const w = (_n: string, shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() - 0.5);
    writeLlamaGguf(path.join(dir, 'a.gguf'), spec, w, 'F32');
    writeLlamaGguf(path.join(dir, 'b.gguf'), spec, w, 'Q8_0');
    const a = fs.readFileSync(path.join(dir, 'a.gguf'));
    const b = fs.readFileSync(path.join(dir, 'b.gguf'));
    const repo = 'idp-test/tiny-GGUF';
    hub.commit(repo, { 'README.md': '#', 'tiny-Q4_K_M.gguf': a, 'tiny-Q8_0.gguf': b, 'tiny-IQ4_XS.gguf': Buffer.concat([a, Buffer.from('x')]), 'mmproj-tiny-f16.gguf': Buffer.from('GGUFnot') });
    const from = hub.requests.length;
    const m = await loadModel(`${repo}:q8_0`, { hub: silent });
    assert.equal(m.format, 'gguf');
    assert.equal(m.hub!.file, 'tiny-Q8_0.gguf');
    assert.equal(m.source, `${repo}:q8_0`);
    const fetched = hub.since(from).filter((r) => r.startsWith('GET /cdn/'));
    assert.deepEqual(fetched, [`GET /cdn/${sha256(b)}`]);
    // no tag: the default, Q4_K_M — not the Q8_0 already cached
    assert.equal((await loadModel(repo, { hub: silent })).hub!.file, 'tiny-Q4_K_M.gguf');
    assert.deepEqual(hub.since(from).filter((r) => r.startsWith('GET /cdn/')), [`GET /cdn/${sha256(b)}`, `GET /cdn/${sha256(a)}`]);
    await assert.rejects(loadModel(`${repo}:Q5_K_M`, { hub: silent }), isErr('NOT_FOUND', /there are: .*tiny-Q8_0\.gguf/));
    // both cached: offline, each tag finds its file
    process.env.HF_HUB_OFFLINE = '1';
    assert.equal((await loadModel(`${repo}:Q8_0`, { hub: silent })).hub!.file, 'tiny-Q8_0.gguf');
    assert.equal((await loadModel(repo, { hub: silent })).hub!.file, 'tiny-Q4_K_M.gguf');
  });

  it('sharded safetensors: the index, then every shard it names', async () => {
    const dir = tmpDir('idp-hub-shards-');
    writeTinyHf(dir, tinyConfig('qwen2'), { shards: 3 });
    const files = folderFiles(dir);
    assert.ok(Object.keys(files).includes('model.safetensors.index.json'));
    hub.commit('idp-test/sharded', files);
    const m = await loadModel('idp-test/sharded', { hub: silent });
    const shards = Object.keys(files).filter((f) => f.endsWith('.safetensors'));
    assert.equal(shards.length, 3);
    for (const s of shards) assert.ok(fs.lstatSync(path.join(m.hub!.snapshot, s)).isSymbolicLink(), s);
    assert.equal(m.config.modelType, 'qwen2');
    const from = hub.requests.length;
    await loadModel('idp-test/sharded', { hub: silent });
    assert.deepEqual(hub.since(from), []);
  });

  it('refuses a repository with only pickled weights before downloading anything', async () => {
    hub.commit('idp-test/pickled', { 'config.json': llama['config.json'], 'pytorch_model.bin': Buffer.alloc(128, 1) });
    const from = hub.requests.length;
    await assert.rejects(loadModel('idp-test/pickled', { hub: silent }), isErr('UNSUPPORTED', /only pickled PyTorch weights/));
    assert.deepEqual(hub.since(from), ['GET /api/models/idp-test/pickled/revision/main']);
  });

  it('a gated repository needs HF_TOKEN, sent as a bearer token', async () => {
    hub.commit('idp-test/gated', llama);
    hub.gate('idp-test/gated', 'hf_secret');
    await assert.rejects(loadModel('idp-test/gated', { hub: silent }), isErr('INPUT', /gated.*HF_TOKEN/));
    process.env.HF_TOKEN = 'hf_secret';
    const from = hub.requests.length;
    const m = await loadModel('idp-test/gated', { hub: silent });
    assert.equal(m.hub!.repo, 'idp-test/gated');
    assert.ok(hub.requests.slice(from).every((r) => r.auth === 'Bearer hf_secret'));
  });

  it('cancel (AbortSignal) stops the download, keeps the partial file, and the next run resumes it', async () => {
    const ac = new AbortController();
    hub.cutOnce(weightsSha, 2000);   // a stall point: the first connection ends after 2000 bytes
    await assert.rejects(loadModel(REPO, { hub: { signal: ac.signal, onProgress: (p) => { if (p.file === 'model.safetensors') ac.abort(); } } }),
      isErr('INPUT', /cancelled/));
    const part = path.join(folder(), 'blobs', `${weightsSha}.incomplete`);
    assert.ok(fs.existsSync(part) && fs.statSync(part).size > 0, 'the partial file stays');
    assert.ok(!fs.existsSync(path.join(folder(), 'refs', 'main')));
    const have = fs.statSync(part).size;
    const from = hub.requests.length;
    await loadModel(REPO, { hub: silent });
    assert.deepEqual(hub.requests.slice(from).filter((r) => r.path === `/cdn/${weightsSha}`).map((r) => r.range), [`bytes=${have}-`]);
  });

  it('compressing a Hub model writes its own config and records the reference as the source', async () => {
    const out = path.join(tmpDir('idp-hub-rtn-'), 'rtn4');
    const r = await compressModel(REPO, { method: 'rtn', bits: 4, groupSize: 16, out });
    assert.equal(r.cancelled, false);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    const want = JSON.parse(llama['config.json'].toString('utf8'));
    assert.equal(cfg.model_type, want.model_type);
    assert.deepEqual(cfg.rope_parameters, want.rope_parameters, 'the snapshot\'s config.json, not one rebuilt from the parsed config');
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'idp-compress.json'), 'utf8')).source, REPO);
    assert.equal((await loadModel(out)).config.numLayers, 2);
  });

  it('an existing local path always wins over a reference of the same name', async () => {
    const dir = tmpDir('idp-hub-local-');
    fs.cpSync(path.join(FIXTURES, 'opt'), path.join(dir, 'idp-test', 'tiny-llama'), { recursive: true });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const from = hub.requests.length;
      const r = await resolveModel(REPO);
      assert.deepEqual(r, { path: REPO });
      const m = await loadModel(REPO);
      assert.equal(m.hub, undefined);
      assert.equal(m.config.arch, 'opt');
      assert.deepEqual(hub.since(from), []);
    } finally {
      process.chdir(cwd);
    }
  });
});
