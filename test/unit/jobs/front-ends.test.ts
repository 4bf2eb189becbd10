// Every job (engine/jobs) through both front ends on the embedded default model with tiny budgets: the
// `idp` command (a child process: flags → options) and the engine process (JSON-RPC over stdio:
// request → options). The same inputs give the same results — the same figures in the replies, the same
// bytes in the files — because neither front end holds any of the work.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { EngineClient } from '../../../src/extension/engine-client';
import { Methods, WorkflowProgress } from '../../../src/protocol/engine-rpc';

const OUT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(OUT, 'src', 'cli', 'main.js');
const SERVER = path.join(OUT, 'src', 'server', 'main.js');
/** Held-out text for the default code model: this project's own sources. */
const SOURCES = path.resolve(OUT, '..', 'src');
const HELDOUT = path.join(SOURCES, 'extension', 'lab.ts');

/** `idp …` with --json: its JSON output. */
function idp(...args: string[]): unknown {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, `idp ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A result without what differs from run to run (timings) and with `dirs` (each front end's output) named alike. */
function stable(x: unknown, dirs: string[]): unknown {
  const VOLATILE = new Set(['timings', 'loadMs', 'seconds', 'tokensPerSecond', 'tokensPerSec', 'created', 'layerSeconds', 'calibrationSeconds', 'totalSeconds', 'requestsPerSecond']);
  if (typeof x === 'string') return dirs.reduce((s, d) => s.split(d).join('<out>'), x);
  if (Array.isArray(x)) return x.map((v) => stable(v, dirs));
  if (x && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).filter(([k]) => !VOLATILE.has(k)).map(([k, v]) => [k, stable(v, dirs)]));
  }
  return x;
}

const same = (cli: unknown, engine: unknown, dirs: string[], what: string) => assert.deepEqual(stable(engine, dirs), stable(cli, dirs), what);
const bytes = (f: string) => fs.readFileSync(f);
/** A safetensors file's tensor data (its header names the build that wrote it). */
const tensorData = (f: string) => { const b = bytes(f); return b.subarray(8 + Number(b.readBigUInt64LE(0))); };

describe('jobs: the CLI and the engine process run the same job', function () {
  this.timeout(300000);
  const root = tmpDir('idp-jobs-');
  const model = DEFAULT_MODEL_DIR;
  let engine: EngineClient;
  const at = (name: string) => [path.join(root, 'cli', name), path.join(root, 'engine', name)];

  before(() => {
    fs.mkdirSync(path.join(root, 'cli'));
    fs.mkdirSync(path.join(root, 'engine'));
    engine = new EngineClient({ serverScript: SERVER, log: () => undefined });
  });
  after(() => engine?.dispose());

  it('compress: RTN with the automatic group size, the same folder bytes', async () => {
    const [a, b] = at('rtn4');
    const cli = idp('compress', '--model', model, '--method', 'rtn', '--bits', '4', '--out', a);
    const rpc = await engine.workflow(Methods.compress, WorkflowProgress.compress, { model, method: 'rtn', bits: 4, out: b });
    same(cli, rpc, [a, b], 'compress result');
    assert.equal(rpc.groupSize, 64, 'the default model is 192 wide: group 64');
    for (const f of ['model.safetensors', 'quantize_config.json']) assert.ok(bytes(path.join(a, f)).equals(bytes(path.join(b, f))), f);
  });

  it('train: a LoRA baseline, the same steps, losses and adapter bytes', async () => {
    const [a, b] = at('lora');
    const cli = idp('train', '--model', model, '--method', 'lora', '--rank', '2', '--targets', 'q,v', '--data', 'model', '--sample-tokens', '512',
      '--tokens', '256', '--seqlen', '16', '--batch', '4', '--lr', '0.01', '--out', a);
    const rpc = await engine.workflow(Methods.trainBaseline, WorkflowProgress.trainBaseline, {
      model, method: 'lora', rank: 2, targets: ['q', 'v'], data: 'model', sampleTokens: 512, tokens: 256, seqlen: 16, batch: 4, lr: 0.01, out: b,
    });
    same(cli, rpc, [a, b], 'train result');
    assert.equal(rpc.status, 'done');
    const w = (d: string) => bytes(path.join(d, 'adapter', 'adapter_model.safetensors'));
    assert.ok(w(a).equals(w(b)), 'adapter weights');
  });

  let bank = '';   // the CLI's bank: the later jobs read it through both front ends

  it('bank train: the same prompts, losses and K/V', async () => {
    const [a, b] = at('bank');
    bank = a;
    const cli = idp('bank', 'train', '--model', model, '--prompts', '3,5', '--data', 'model', '--sample-tokens', '512', '--tokens', '256',
      '--seqlen', '16', '--batch', '4', '--lr', '0.03', '--out', a);
    const rpc = await engine.workflow(Methods.trainBank, WorkflowProgress.trainBank, {
      model, prompts: [3, 5], data: 'model', sampleTokens: 512, tokens: 256, seqlen: 16, batch: 4, lr: 0.03, out: b,
    });
    same(cli, rpc, [a, b], 'bank train result');
    for (const f of ['prompts.safetensors', 'kv.safetensors']) assert.ok(tensorData(path.join(a, f)).equals(tensorData(path.join(b, f))), f);
  });

  it('bank eval: the same routing and NLL per file', async () => {
    const a = bank;
    const data = [HELDOUT, path.join(SOURCES, 'extension', 'paths.ts')];
    const ev = idp('bank', 'eval', '--model', model, '--bank', a, '--data', ...data, '--expect', '0,1', '--max-tokens', '48');
    const evr = await engine.workflow(Methods.bankEval, WorkflowProgress.bankEval, { model, bank: a, data, expect: [0, 1], maxTokens: 48 });
    same(ev, evr, [], 'bank eval result');
  });

  it('info: the description idp info prints is the one idp/load reports', async () => {
    const cli = idp('info', '--model', model) as Record<string, unknown>;
    const loaded = await engine.load({ model }) as unknown as Record<string, unknown>;
    const { executionProviderAuto: auto, ...facts } = cli;
    assert.ok(auto && typeof auto === 'object' && 'ep' in auto, 'what --ep auto picks');
    same(facts, Object.fromEntries(Object.keys(facts).map((k) => [k, loaded[k]])), [], 'model description');
    assert.equal(typeof cli.fim, 'boolean');
  });

  it('generate: the same continuation greedy, sampled with a stop text, with a bank, from ids, and filling in the middle', async () => {
    const prompt = 'export function ';
    await engine.load({ model });
    // the CLI's --json also says which ids the input was laid out as (the engine process's reply does not carry them)
    const cli = (...args: string[]) => { const { input, ...r } = idp('generate', '--model', model, ...args) as { input: number[] }; assert.ok(Array.isArray(input)); return r; };
    const greedy = cli('--prompt', prompt, '--max-tokens', '12');
    same(greedy, await engine.generate({ prompt, maxTokens: 12 }), [], 'greedy');
    const sampled = cli('--prompt', prompt, '--max-tokens', '24', '--temperature', '0.8', '--top-k', '20', '--top-p', '0.9',
      '--seed', '7', '--stop', '(') as { text: string };
    same(sampled, await engine.generate({ prompt, maxTokens: 24, temperature: 0.8, topK: 20, topP: 0.9, seed: 7, stop: ['('] }), [], 'sampled');
    assert.ok(!sampled.text.includes('('), 'cut at the stop text');
    const ids = [1, 764, 462, 36];
    same(cli('--ids', ids.join(','), '--max-tokens', '8'), await engine.generate({ ids, maxTokens: 8 }), [], 'ids');
    const suffix = ') {\n  return a + b;\n}\n';
    same(cli('--prompt', prompt, '--fim-suffix', suffix, '--max-tokens', '8'), await engine.generate({ fim: { prefix: prompt, suffix }, maxTokens: 8 }), [], 'fim');
    const banked = cli('--prompt', prompt, '--max-tokens', '8', '--bank', bank) as { idp?: { selected: number } };
    same(banked, await engine.generate({ prompt, maxTokens: 8, bank }), [], 'with a bank');
    assert.ok(banked.idp && [0, 1].includes(banked.idp.selected), 'IDP picked one of the two prompts');
  });

  it('bench with a bank: the same report, the bank recorded under model.bank by both', async () => {
    const a = bank;
    const [ja, jb] = [path.join(root, 'cli', 'bench.json'), path.join(root, 'engine', 'bench.json')];
    const bench = idp('bench', '--model', model, '--bank', a, '--score', 'mean', '--tasks', 'text_next_line,text_ppl', '--heldout', HELDOUT, '--limit', '4', '--out', ja);
    const benchr = await engine.workflow(Methods.bench, WorkflowProgress.bench, {
      model, bank: a, score: 'mean', tasks: ['text_next_line', 'text_ppl'], heldout: [HELDOUT], limit: 4, out: jb,
    });
    const report = JSON.parse(fs.readFileSync(jb, 'utf8'));
    same(bench, report, [ja.replace(/\.json$/, ''), jb.replace(/\.json$/, '')], 'bench report');
    assert.deepEqual(report.model.bank.prompts, [3, 5]);
    assert.equal(report.model.bank.score, 'mean');
    assert.equal(report.model.adapter, undefined, 'a bank is not recorded as an adapter');
    assert.equal(benchr.results.length, 2);
  });

  it('inspect: the report the CLI prints is the engine\'s', async () => {
    const a = bank;
    const ids = [1, 5, 9, 14, 20, 33, 2];
    const ins = idp('inspect', '--model', model, '--bank', a, '--ids', ids.join(','));
    const insr = await engine.inspect({ model, bank: a, ids });
    same(ins, insr.report, [], 'inspect report');
  });

  it('ppl: the same windows and perplexity', async () => {
    const data = [HELDOUT];
    const cli = idp('ppl', '--model', model, '--data', ...data, '--seqlen', '32', '--max-windows', '3', '--batch', '2');
    const rpc = await engine.workflow(Methods.ppl, WorkflowProgress.ppl, { model, data, seqlen: 32, maxWindows: 3, batch: 2 });
    same(cli, rpc, [], 'ppl result');
    assert.equal(rpc.windows, 3);
  });

  it('bank compare: the same methods, NLL and parameter counts', async () => {
    const [a, b] = at('compare');
    const cli = idp('bank', 'compare', '--model', model, '--bank', bank, '--data', 'model', '--sample-tokens', '512', '--tokens', '128',
      '--seqlen', '16', '--batch', '4', '--lr', '0.03', '--out', a);
    const rpc = await engine.workflow(Methods.bankCompare, WorkflowProgress.bankCompare, {
      model, bank, data: 'model', sampleTokens: 512, tokens: 128, seqlen: 16, batch: 4, lr: 0.03, out: b,
    });
    same(cli, rpc, [a, b], 'bank compare result');
  });

  it('bank assemble: the same bank from the same prompt adapter', async () => {
    const run = path.join(root, 'cli', 'prompt3');
    idp('train', '--model', model, '--method', 'prompt', '--prompt-tokens', '3', '--data', 'model', '--sample-tokens', '512', '--tokens', '128',
      '--seqlen', '16', '--batch', '4', '--lr', '0.03', '--out', run);
    const [a, b] = at('assembled');
    const cli = idp('bank', 'assemble', run, run, '--model', model, '--out', a);
    const rpc = await engine.workflow(Methods.bankAssemble, WorkflowProgress.bankAssemble, { model, adapters: [run, run], out: b });
    same(cli, rpc, [a, b], 'bank assemble result');
    assert.deepEqual(rpc.prompts, [3, 3]);
    for (const f of ['prompts.safetensors', 'kv.safetensors']) assert.ok(tensorData(path.join(a, f)).equals(tensorData(path.join(b, f))), f);
  });

  it('bank calibrate: the same layer choice and bank.json on copies of one bank', async () => {
    const [a, b] = at('calibrated');
    for (const d of [a, b]) fs.cpSync(bank, d, { recursive: true });
    // one JSONL per prompt, its documents a source file's paragraphs (a text file is one document: too few)
    const promptData = [HELDOUT, path.join(SOURCES, 'extension', 'paths.ts')].map((src, i) => {
      const docs = fs.readFileSync(src, 'utf8').split(/\n\s*\n/).filter((d) => d.trim().length > 40).slice(0, 4);
      const f = path.join(root, `prompt${i}.jsonl`);
      fs.writeFileSync(f, docs.map((text) => JSON.stringify({ text })).join('\n') + '\n');
      return f;
    });
    const cli = idp('bank', 'calibrate', '--model', model, '--bank', a, ...promptData.flatMap((d) => ['--prompt-data', d]), '--max-docs', '2', '--max-tokens', '32');
    const rpc = await engine.workflow(Methods.bankCalibrate, WorkflowProgress.bankCalibrate, { model, bank: b, promptData, maxDocs: 2, maxTokens: 32 });
    same(cli, rpc, [a, b], 'bank calibrate result');
    const settings = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'bank.json'), 'utf8')) as Record<string, unknown>;
    same(settings(a), settings(b), [a, b], 'bank.json');
  });

  it('study: the same study.json rows, and the automatic group size in its spec', async () => {
    const [a, b] = at('study');
    const cli = idp('study', '--model', model, '--compress', 'rtn:4', '--methods', 'none,prompt:4', '--tokens', '256', '--tasks', 'text_ppl',
      '--heldout', HELDOUT, '--limit', '2', '--seqlen', '16', '--batch', '4', '--no-latency', '--no-similarity', '--out', a) as { rows: unknown[] };
    const rpc = await engine.workflow(Methods.study, WorkflowProgress.study, {
      model, compress: 'rtn:4', methods: ['none', 'prompt:4'], tokens: 256, tasks: ['text_ppl'], heldout: [HELDOUT], limit: 2, seqLen: 16, batch: 4,
      latency: false, similarity: false, out: b,
    });
    assert.equal(rpc.compress, 'rtn:4:g64');
    const report = JSON.parse(fs.readFileSync(path.join(b, 'study.json'), 'utf8'));
    const rows = (r: { rows: unknown[] }) => r.rows.map((x) => { const { reused: _r, bench: _b, ...y } = x as Record<string, unknown>; return y; });
    same(rows(cli), rows(report), [a, b], 'study rows');
    assert.deepEqual(report.compression, (cli as unknown as { compression: unknown }).compression);
  });
});

describe('jobs: a new user\'s first commands on stories260K (llama2.c .bin, its tokenizer named tok512.bin)', function () {
  this.timeout(120000);
  const root = tmpDir('idp-jobs-stories-');

  it('idp study --compress gptq:3 picks the group size the 64/172-wide layers allow', function () {
    const bin = dataPath(this, ...STORIES, 'stories260K.bin');
    const tok = dataPath(this, ...STORIES, 'tok512.bin');
    const text = dataPath(this, 'corpora', 'tinystories', 'tinystories_sample.txt');
    const r = idp('study', '--model', bin, '--tokenizer', tok, '--compress', 'gptq:3', '--methods', 'none,prompt:4', '--tokens', '1024', '--tasks', 'text_ppl',
      '--heldout', text, '--limit', '2', '--seqlen', '32', '--batch', '4', '--calib-samples', '4', '--no-latency', '--no-similarity', '--quiet',
      '--out', path.join(root, 'study')) as { status: string; compression: { spec: string; description: string }; rows: Array<{ status: string }> };
    assert.equal(r.status, 'complete');
    assert.equal(r.compression.spec, 'gptq:3:g-1', '172 is no multiple of 32: one group per row');
    assert.ok(r.rows.every((x) => x.status === 'done'), JSON.stringify(r.rows));
  });

  it('idp compress --tokenizer reads a llama2.c model whose tokenizer is not tokenizer.bin', function () {
    const bin = dataPath(this, ...STORIES, 'stories260K.bin');
    const tok = dataPath(this, ...STORIES, 'tok512.bin');
    const r = idp('compress', '--model', bin, '--tokenizer', tok, '--method', 'gptq', '--bits', '4', '--calib', 'model', '--samples', '4', '--seqlen', '32',
      '--dense', '--out', path.join(root, 'gptq4')) as { groupSize: number; cancelled: boolean };
    assert.equal(r.cancelled, false);
    assert.equal(r.groupSize, -1);
  });
});
