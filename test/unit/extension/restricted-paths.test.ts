// Restricted Mode's one check (src/extension/trust.ts over server/request-paths.ts) on real files: every
// path a request reads — the bank, the model a bank names, comparison models (by path, or the source
// in idp-compress.json that `compare: true` stands for), tokenizers, data folders, `name=FILE` tasks,
// globs' base folders — is refused outside the default model, the lab and the staged data; symbolic
// links and `..` do not get out. And EngineClient runs it on every request before anything is sent.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { IdpError } from '../../../src/engine/errors';
import { dataDir, defaultModelPath } from '../../../src/engine/defaults';
import { engineAccess, readAllowed, requestProblem, TrustState } from '../../../src/extension/trust';
import { requestPaths } from '../../../src/server/request-paths';
import { EngineClient } from '../../../src/extension/engine-client';
import { Methods, WorkflowProgress } from '../../../src/protocol/engine-rpc';

const SERVER = path.resolve(__dirname, '..', '..', '..', 'src', 'server', 'main.js');

describe('extension: Restricted Mode checks every path of every request', () => {
  let root: string;
  let lab: string;
  let ws: string;
  let untrusted: TrustState;
  let trusted: TrustState;
  /** The DENIED error for a request, or undefined when allowed. */
  const problem = (t: TrustState, method: string, params: object, loadedModel?: string) => requestProblem(t, method, params, { loadedModel }) as IdpError | undefined;
  const refuses = (t: TrustState, method: string, params: object, file: string, loadedModel?: string) => {
    const e = problem(t, method, params, loadedModel);
    assert.ok(e instanceof IdpError, `${method} ${JSON.stringify(params)} was allowed`);
    assert.equal(e.code, 'DENIED');
    assert.equal(e.file, file);
  };

  before(() => {
    root = tmpDir('idp-restricted-');
    lab = path.join(root, 'globalStorage');
    ws = path.join(root, 'workspace');
    fs.mkdirSync(path.join(lab, 'runs', 'r1', 'bank'), { recursive: true });
    fs.mkdirSync(path.join(lab, 'runs', 'r2', 'model'), { recursive: true });
    fs.mkdirSync(path.join(ws, 'model'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'story.txt'), 'Once upon a time\n');
    fs.writeFileSync(path.join(ws, 'tokenizer.json'), '{}');
    fs.writeFileSync(path.join(ws, 'sciq.json'), '[]');
    // a bank in the lab that names a model in the workspace; a compressed model in the lab whose source is in the workspace
    fs.writeFileSync(path.join(lab, 'runs', 'r1', 'bank', 'bank.json'), JSON.stringify({ model: { source: path.join(ws, 'model') } }));
    fs.writeFileSync(path.join(lab, 'runs', 'r2', 'model', 'idp-compress.json'), JSON.stringify({ source: path.join(ws, 'model') }));
    untrusted = { trusted: false, labRoot: lab };
    trusted = { trusted: true, labRoot: path.join(ws, '.idp') };
  });

  it('the Inspector: a bank outside the lab, and the model the bank names, are refused', () => {
    const bank = path.join(lab, 'runs', 'r1', 'bank');
    assert.equal(problem(untrusted, Methods.inspect.method, { bank, text: 'x' }), undefined, 'a lab bank on the loaded (default) model');
    refuses(untrusted, Methods.inspect.method, { bank: path.join(ws, 'bank'), text: 'x' }, path.join(ws, 'bank'));
    // what the Inspector sends for a bank: bank.json's model.source as the model
    const source = JSON.parse(fs.readFileSync(path.join(bank, 'bank.json'), 'utf8')).model.source as string;
    refuses(untrusted, Methods.inspect.method, { bank, model: source, text: 'x' }, path.join(ws, 'model'));
    assert.equal(readAllowed(untrusted, bank), true);
    assert.equal(readAllowed(untrusted, path.join(ws, 'bank')), false);
  });

  it('comparison models: a path, or the source `compare: true` reads from idp-compress.json', () => {
    const bank = path.join(lab, 'runs', 'r1', 'bank');
    const compressed = path.join(lab, 'runs', 'r2', 'model');
    refuses(untrusted, Methods.inspect.method, { bank, compare: path.join(ws, 'model') }, path.join(ws, 'model'));
    refuses(untrusted, Methods.inspect.method, { bank, model: compressed, compare: true }, path.join(ws, 'model'));
    // without `model`, `compare: true` compares with the loaded model's source
    refuses(untrusted, Methods.inspect.method, { bank, compare: true }, path.join(ws, 'model'), compressed);
    assert.equal(problem(untrusted, Methods.inspect.method, { bank, compare: true }, defaultModelPath()), undefined, 'no idp-compress.json: nothing more read');
    assert.deepEqual(requestPaths(Methods.inspect.method, { bank, model: compressed, compare: true }).reads, [bank, compressed, path.join(ws, 'model')]);
  });

  it('the study: tokenizer, dataDir, name=FILE tasks, data and held-out globs are all checked', () => {
    const base = { model: defaultModelPath(), compress: 'rtn:4', methods: ['none'], tokens: 64, tasks: ['text_ppl'], heldout: [path.join(lab, 'runs', 'r1', 'bank', 'bank.json')] };
    assert.equal(problem(untrusted, Methods.study.method, base), undefined);
    refuses(untrusted, Methods.study.method, { ...base, tokenizer: path.join(ws, 'tokenizer.json') }, path.join(ws, 'tokenizer.json'));
    refuses(untrusted, Methods.study.method, { ...base, methods: ['none', `prompt:4@${path.join(ws, 'notes.md')}`, 'idp'] }, path.join(ws, 'notes.md'));
    refuses(untrusted, Methods.study.method, { ...base, tasks: ['arc_easy'], dataDir: ws }, ws);
    refuses(untrusted, Methods.study.method, { ...base, tasks: ['text_ppl', `sciq=${path.join(ws, 'sciq.json')}`] }, path.join(ws, 'sciq.json'));
    refuses(untrusted, Methods.study.method, { ...base, tasks: [`text_ppl=${ws}/**/*.txt`] }, ws);
    refuses(untrusted, Methods.study.method, { ...base, data: [`${ws}/*.txt`] }, ws);
    // `..` climbing out of the lab
    refuses(untrusted, Methods.study.method, { ...base, heldout: [`${lab}/../workspace/story.txt`] }, path.join(ws, 'story.txt'));
    // a paper task without a file reads the staged data folder: allowed
    assert.equal(problem(untrusted, Methods.study.method, { ...base, tasks: ['arc_easy'] }), undefined);
    assert.ok(requestPaths(Methods.study.method, { ...base, tasks: ['arc_easy'] }).reads.includes(dataDir()));
  });

  it('the other requests: load (model, tokenizer), generate (bank), compress (calibration), training (data, eval), bench (adapter, heldout, dataDir)', () => {
    const story = path.join(ws, 'story.txt');
    refuses(untrusted, Methods.load.method, { model: defaultModelPath(), tokenizer: path.join(ws, 'tokenizer.json') }, path.join(ws, 'tokenizer.json'));
    refuses(untrusted, Methods.generate.method, { prompt: 'x', bank: path.join(ws, 'bank') }, path.join(ws, 'bank'));
    refuses(untrusted, Methods.compress.method, { model: defaultModelPath(), method: 'gptq', calib: [story] }, story);
    assert.equal(problem(untrusted, Methods.compress.method, { model: defaultModelPath(), method: 'gptq', calib: 'model' }), undefined);
    refuses(untrusted, Methods.trainBank.method, { model: defaultModelPath(), data: 'model', eval: [story], tokens: 8, prompts: [4] }, story);
    refuses(untrusted, Methods.trainBank.method, { model: defaultModelPath(), promptData: ['model', [story]], tokens: 8, prompts: [4, 4] }, story);
    refuses(untrusted, Methods.trainBaseline.method, { model: defaultModelPath(), data: [story], tokens: 8, method: 'lora' }, story);
    refuses(untrusted, Methods.bench.method, { model: defaultModelPath(), adapter: path.join(ws, 'adapter'), tasks: ['text_ppl'] }, path.join(ws, 'adapter'));
    refuses(untrusted, Methods.bench.method, { model: defaultModelPath(), tasks: ['arc_easy'], dataDir: ws }, ws);
  });

  it('a Hugging Face Hub reference reads its folder in the HF cache: refused in Restricted Mode, allowed when trusted', () => {
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = path.join(root, 'hf-cache');
    try {
      const repoFolder = path.join(root, 'hf-cache', 'models--Qwen--Qwen2.5-0.5B');
      assert.deepEqual(requestPaths(Methods.load.method, { model: 'Qwen/Qwen2.5-0.5B@main' }).reads, [repoFolder]);
      refuses(untrusted, Methods.load.method, { model: 'Qwen/Qwen2.5-0.5B' }, repoFolder);
      refuses(untrusted, Methods.compress.method, { model: 'org/x-GGUF:Q8_0', method: 'rtn', out: path.join(lab, 'runs', 'q') }, path.join(root, 'hf-cache', 'models--org--x-GGUF'));
      refuses(untrusted, Methods.inspect.method, { bank: path.join(lab, 'runs', 'r1', 'bank'), compare: 'Qwen/Qwen2.5-0.5B', text: 'x' }, repoFolder);
      assert.equal(problem(trusted, Methods.load.method, { model: 'Qwen/Qwen2.5-0.5B' }), undefined);
      // an existing local path of the same shape stays a path
      const cwd = process.cwd();
      process.chdir(ws);
      try {
        fs.mkdirSync(path.join(ws, 'org', 'name'), { recursive: true });
        assert.deepEqual(requestPaths(Methods.load.method, { model: 'org/name' }).reads, [fs.realpathSync(path.join(ws, 'org', 'name'))]);
      } finally {
        process.chdir(cwd);
      }
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved;
    }
  });

  it('a symbolic link inside the lab that points outside is outside', () => {
    const link = path.join(lab, 'runs', 'escape');
    fs.symlinkSync(ws, link, 'dir');
    refuses(untrusted, Methods.bench.method, { model: defaultModelPath(), tasks: ['text_ppl'], heldout: [path.join(link, 'story.txt')] }, path.join(link, 'story.txt'));
    refuses(untrusted, Methods.load.method, { model: path.join(link, 'model') }, path.join(link, 'model'));
  });

  it('trusted: reads go anywhere, writes only strictly inside the lab; Restricted Mode adds the readable folders', () => {
    assert.equal(problem(trusted, Methods.study.method, { model: path.join(ws, 'model'), tokenizer: path.join(ws, 'tokenizer.json'), tasks: [`sciq=${ws}/sciq.json`] }), undefined);
    refuses(trusted, Methods.bench.method, { model: defaultModelPath(), tasks: ['text_ppl'], out: path.join(root, 'elsewhere.json') }, path.join(root, 'elsewhere.json'));
    refuses(trusted, Methods.compress.method, { model: defaultModelPath(), method: 'rtn', out: trusted.labRoot }, trusted.labRoot);
    assert.equal(problem(trusted, Methods.compress.method, { model: defaultModelPath(), method: 'rtn', out: path.join(trusted.labRoot, 'runs', 'x', 'model') }), undefined);
    // the bench report's .md and .samples.jsonl are writes too
    assert.deepEqual(requestPaths(Methods.bench.method, { out: '/l/b.json' }).writes, ['/l/b.json', '/l/b.md', '/l/b.samples.jsonl']);
    assert.deepEqual(engineAccess(trusted, 'jobs'), { writable: [trusted.labRoot] });
    assert.deepEqual(engineAccess(untrusted, 'editor'), { writable: [], readable: [defaultModelPath(), lab, dataDir()] });
  });

  it('ppl, bank compare, assemble and calibrate: what each reads and writes (calibrate rewrites its bank)', () => {
    const m = '/w/model';
    assert.deepEqual(requestPaths(Methods.ppl.method, { model: m, adapter: '/l/a', data: ['/w/wiki.txt', '/w/c4/*.jsonl'] }),
      { reads: [m, '/l/a', '/w/wiki.txt', '/w/c4'], writes: [] });
    assert.deepEqual(requestPaths(Methods.bankCompare.method, { model: m, bank: '/l/b', data: 'model', eval: ['/w/e.txt'], out: '/l/c' }),
      { reads: [m, '/l/b', '/w/e.txt'], writes: ['/l/c'] });
    assert.deepEqual(requestPaths(Methods.bankAssemble.method, { model: m, adapters: ['/l/p1', '/l/p2'], out: '/l/b2' }),
      { reads: [m, '/l/p1', '/l/p2'], writes: ['/l/b2'] });
    assert.deepEqual(requestPaths(Methods.bankCalibrate.method, { model: m, bank: '/l/b', promptData: ['/w/a.jsonl'] }),
      { reads: [m, '/w/a.jsonl'], writes: ['/l/b'] });
  });

  it('EngineClient refuses a request before sending it: no engine process is even started', async () => {
    const log: string[] = [];
    const client = new EngineClient({ serverScript: SERVER, log: (l) => log.push(l), access: () => engineAccess(untrusted, 'jobs') });
    try {
      const bank = path.join(lab, 'runs', 'r1', 'bank');
      const source = path.join(ws, 'model');
      await assert.rejects(client.inspect({ bank, model: source, text: 'x' }), (e: unknown) => e instanceof IdpError && e.code === 'DENIED' && e.file === source);
      await assert.rejects(client.load({ model: path.join(ws, 'model') }), (e: unknown) => e instanceof IdpError && e.code === 'DENIED');
      await assert.rejects(client.workflow(Methods.study, WorkflowProgress.study, {
        model: defaultModelPath(), tokenizer: path.join(ws, 'tokenizer.json'), compress: 'rtn:4', methods: ['none'], tokens: 64, tasks: ['text_ppl'], out: path.join(lab, 'runs', 's'),
      }), (e: unknown) => e instanceof IdpError && e.code === 'DENIED' && e.file === path.join(ws, 'tokenizer.json'));
      await assert.rejects(client.workflow(Methods.bench, WorkflowProgress.bench, {
        model: defaultModelPath(), tasks: ['text_ppl'], heldout: [path.join(lab, 'runs', 'r1', 'bank', 'bank.json')], out: path.join(ws, 'b.json'),
      }), (e: unknown) => e instanceof IdpError && e.code === 'DENIED' && e.file === path.join(ws, 'b.json'));
      assert.ok(!log.some((l) => /engine started/.test(l)), log.join('\n'));
    } finally {
      await client.dispose();
    }
  });
});
