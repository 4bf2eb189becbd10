// Bounded inputs: sizes and patterns read from files, and values in engine requests, cannot make the engine
// allocate without bound, spin for minutes or fail with an untyped internal error. Real files (copies of
// the embedded default model with one thing changed), a real engine process, real ORT.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT, tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { EngineClient } from '../../../src/extension/engine-client';
import { IdpError } from '../../../src/engine/errors';
import { embeddedModelPath } from '../../../src/engine/defaults';
import { loadModel } from '../../../src/engine/models/load';
import { readSafetensorsHeader } from '../../../src/engine/formats/safetensors';
import { loadTokenizerJson } from '../../../src/engine/tokenizers/hf';
import { Methods, WorkflowProgress } from '../../../src/protocol/engine-rpc';

const SERVER = path.resolve(__dirname, '..', '..', '..', 'src', 'server', 'main.js');
const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const OUT_SRC = path.resolve(__dirname, '..', '..', '..', 'src');
const dir = tmpDir('idp-bounded-');

/** A copy of the embedded default model with config.json edited by `edit`. */
function modelWith(name: string, edit: (c: Record<string, unknown>) => void): string {
  const d = path.join(dir, name);
  fs.cpSync(embeddedModelPath(), d, { recursive: true });
  const c = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
  edit(c);
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(c));
  return d;
}

/** Greedy ids and the peak RSS of a fresh process that loads `model` and generates 8 tokens. */
function generateInChild(model: string): { ids?: number[]; maxRssMiB: number; error?: { code?: string; message: string } } {
  const script = `
    const { loadModel } = require(${JSON.stringify(path.join(OUT_SRC, 'engine', 'models', 'load.js'))});
    const { CausalLM } = require(${JSON.stringify(path.join(OUT_SRC, 'engine', 'runtime', 'lm.js'))});
    const { generate } = require(${JSON.stringify(path.join(OUT_SRC, 'engine', 'runtime', 'generate.js'))});
    (async () => {
      const out = {};
      try {
        const m = await loadModel(${JSON.stringify(model)});
        const lm = new CausalLM(m, { threads: 1 });
        const r = await generate(lm, m.tokenizer, [m.tokenizer.encode('export function add(a, b) {')], { maxTokens: 8 });
        out.ids = r.rows[0].ids;
      } catch (e) {
        out.error = { code: e.code, message: e.message };
      }
      out.maxRssMiB = process.resourceUsage().maxRSS / 1024;
      process.stdout.write(JSON.stringify(out));
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000, env: { ...process.env, IDP_HUGE_PAGES: '0' } });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('reliability: bounded inputs', function () {
  this.timeout(120000);

  describe('max_position_embeddings sizes nothing', () => {
    let baseline: ReturnType<typeof generateInChild>;
    before(() => { baseline = generateInChild(embeddedModelPath()); });

    it('1e12 positions: a CONFIG error naming config.json, at once (not an internal error after allocating)', () => {
      const d = modelWith('pos-1e12', (c) => { c.max_position_embeddings = 1e12; });
      const r = generateInChild(d);
      assert.equal(r.error?.code, 'CONFIG', JSON.stringify(r));
      assert.ok(r.error!.message.startsWith(path.join(d, 'config.json')), r.error!.message);
    });

    it('1,048,576 positions (a long-context model\'s claim): loads and generates within the normal memory', () => {
      const r = generateInChild(modelWith('pos-1m', (c) => { c.max_position_embeddings = 1_048_576; }));
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      assert.deepEqual(r.ids, baseline.ids);
      if (process.env.IDP_VERBOSE) console.log(`peak RSS: ${r.maxRssMiB.toFixed(0)} MiB with 1,048,576 positions, ${baseline.maxRssMiB.toFixed(0)} MiB as shipped`);
      assert.ok(r.maxRssMiB < baseline.maxRssMiB + 48, `peak RSS ${r.maxRssMiB.toFixed(0)} MiB vs ${baseline.maxRssMiB.toFixed(0)} MiB as shipped`);
    });

    it('just beyond float32\'s exact integers (2^24 + 1): a CONFIG error naming config.json and the limit', async () => {
      const d = modelWith('pos-too-many', (c) => { c.max_position_embeddings = 2 ** 24 + 1; });
      await expectIdpError(() => loadModel(d), 'CONFIG', path.join(d, 'config.json'), /max_position_embeddings .* exceeds the limit of 16,777,216/);
    });
  });

  it('a tokenizer.json regex that backtracks catastrophically ((a+)+$): a FORMAT error within seconds', async () => {
    const d = path.join(dir, 'regex-bomb');
    fs.cpSync(embeddedModelPath(), d, { recursive: true });
    const file = path.join(d, 'tokenizer.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    json.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }, json.pre_tokenizer] };
    fs.writeFileSync(file, JSON.stringify(json));
    const tok = loadTokenizerJson(file);
    assert.ok(tok.encode('export const aaa = 1;\n').length > 3, 'ordinary text still encodes');
    const t0 = Date.now();
    await expectIdpError(() => tok.encode(`${'a'.repeat(31)}!`), 'FORMAT', file, /\(a\+\)\+\$.*took more than/);
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  });

  it('a BPE tokenizer whose vocab is a list: FORMAT at load (idp info exits 3 naming tokenizer.json)', async () => {
    const d = path.join(dir, 'vocab-list');
    fs.cpSync(embeddedModelPath(), d, { recursive: true });
    const file = path.join(d, 'tokenizer.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    json.model.vocab = Object.keys(json.model.vocab);
    fs.writeFileSync(file, JSON.stringify(json));
    await expectIdpError(() => loadModel(d), 'FORMAT', file, /"model\.vocab" of a BPE model must be an object/);
    const r = spawnSync(process.execPath, [CLI, 'info', '--model', d], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /tokenizer\.json/);
  });

  it('a 150 MB safetensors header: FORMAT naming the 100 MiB header limit, not the file size', async () => {
    const f = path.join(dir, 'big-header.safetensors');
    const n = 150 * 1024 * 1024;
    const fd = fs.openSync(f, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(n));
    fs.writeSync(fd, len);
    fs.ftruncateSync(fd, 8 + n + 1024);   // sparse: the header fits the file, only the limit refuses it
    fs.closeSync(fd);
    const e = await expectIdpError(() => readSafetensorsHeader(f), 'FORMAT', f, /header length 157,286,400 bytes \(150 MiB\) exceeds the limit of 104,857,600 bytes \(100 MiB\)/);
    assert.doesNotMatch(e.message, /does not fit/);
  });

  it('an output folder follows the umask like any folder (not 0700)', () => {
    const out = path.join(dir, 'compressed');
    const r = spawnSync(process.execPath, [CLI, 'compress', '--method', 'rtn', '--bits', '8', '--group-size', '64', '--out', out],
      { encoding: 'utf8', timeout: 60000, env: { ...process.env, IDP_HUGE_PAGES: '0' } });
    assert.equal(r.status, 0, r.stderr);
    const plain = path.join(dir, 'plain-mkdir');
    fs.mkdirSync(plain);
    assert.equal((fs.statSync(out).mode & 0o777).toString(8), (fs.statSync(plain).mode & 0o777).toString(8));
  });

  describe('engine requests', () => {
    let client: EngineClient;
    before(() => { client = new EngineClient({ serverScript: SERVER }); });
    after(() => client?.dispose());

    it('load with tokenizer: 42 → INPUT error (not an internal error)', async () => {
      await assert.rejects(client.load({ model: embeddedModelPath(), tokenizer: 42 as unknown as string }),
        (e: unknown) => e instanceof IdpError && e.code === 'INPUT' && /tokenizer must be a tokenizer file path, got 42/.test(e.message));
    });

    it('a LoRA baseline with rank 1e9 → INPUT error naming the limit', async () => {
      await assert.rejects(client.workflow(Methods.trainBaseline, WorkflowProgress.trainBaseline, {
        model: embeddedModelPath(), method: 'lora', rank: 1e9, targets: ['q', 'v'], data: 'model', tokens: 256, seqlen: 32, batch: 4, sampleTokens: 256,
        out: path.join(dir, 'lora-huge'),
      }), (e: unknown) => e instanceof IdpError && e.code === 'INPUT' && /LoRA rank 1000000000 exceeds 64/.test(e.message));
      assert.ok(!fs.existsSync(path.join(dir, 'lora-huge')));
    });

    it('a 10 MB FIM prefix: answered within 2 s, as if only its tail had been sent', async () => {
      await client.load({ model: embeddedModelPath(), threads: 1 });
      const line = 'export function add(a: number, b: number): number { return a + b; }\n';
      const huge = line.repeat(Math.ceil(10e6 / line.length));
      const tail = huge.slice(-20000);
      const want = await client.generate({ fim: { prefix: tail, suffix: '' }, maxTokens: 4 });
      const t0 = Date.now();
      const got = await client.generate({ fim: { prefix: huge, suffix: '' }, maxTokens: 4 });
      const ms = Date.now() - t0;
      assert.deepEqual(got.ids, want.ids);
      assert.ok(ms < 2000, `${ms} ms for a 10 MB prefix`);
      const h = await client.health();
      assert.ok(h.rssBytes < 600 * 2 ** 20, `engine RSS ${(h.rssBytes / 2 ** 20).toFixed(0)} MiB`);
    });
  });
});
