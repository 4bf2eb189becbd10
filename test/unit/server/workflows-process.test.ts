// The workflow requests through a real engine process (EngineClient, vscode-jsonrpc over stdio) on
// the embedded default model with tiny budgets: compress (GPTQ 4-bit) → train an IDP bank on the
// compressed model → benchmark it on held-out text; a LoRA baseline; streamed progress; a cancelled
// bank leaves no bank.json; a missing model is a NOT_FOUND error naming the path; a bank with one data file
// per prompt comes back calibrated.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { tmpDir } from '../../helpers/data';
import { EngineClient } from '../../../src/extension/engine-client';
import { IdpError } from '../../../src/engine/errors';
import { embeddedModelPath } from '../../../src/engine/defaults';
import { Methods, WorkflowProgress } from '../../../src/protocol/engine-rpc';
import type { BenchProgressValue, CompressProgressValue, TrainProgressValue } from '../../../src/protocol/engine-rpc';

const SERVER = path.resolve(__dirname, '..', '..', '..', 'src', 'server', 'main.js');
/** Held-out text for the default code model: this project's own sources (it was trained on npm packages). */
const HELDOUT = path.resolve(__dirname, '..', '..', '..', '..', 'src', 'extension', 'lab.ts');

describe('server: workflow requests in the engine process', function () {
  this.timeout(120000);
  let client: EngineClient;
  let dir: string;
  const model = embeddedModelPath();

  before(() => {
    dir = tmpDir('idp-workflows-');
    client = new EngineClient({ serverScript: SERVER });
  });
  after(() => client?.dispose());

  it('reports the workflow capabilities', async () => {
    const caps = await client.capabilities();
    for (const c of ['compress', 'trainBank', 'trainBaseline', 'bench', 'study']) assert.ok(caps.includes(c), `${c} in ${caps}`);
  });

  it('trains a bank with one data file per prompt and calibrates its selection (promptData)', async () => {
    const files = ['json', 'ts'].map((kind) => {
      const f = path.join(dir, `${kind}.jsonl`);
      const doc = (k: number) => (kind === 'json' ? JSON.stringify({ id: k, ok: k % 2 === 0 }) : `export const v${k} = (x: number) => x * ${k};`);
      fs.writeFileSync(f, Array.from({ length: 80 }, (_, k) => JSON.stringify({ text: doc(k) })).join('\n') + '\n');
      return f;
    });
    const tp: TrainProgressValue[] = [];
    const b = await client.workflow(Methods.trainBank, WorkflowProgress.trainBank, {
      model, prompts: [4, 4], promptData: files.map((f) => [f]), tokens: 256, seqlen: 16, batch: 4, out: path.join(dir, 'own'),
    }, (v) => tp.push(v));
    assert.equal(b.status, 'done');
    assert.ok(b.calibration, b.calibrationSkipped);
    assert.equal(b.calibration!.layers.length, 4);
    assert.ok(tp.some((v) => v.phase === 'calibrate'), 'calibration progress');
    const j = JSON.parse(fs.readFileSync(path.join(b.dir, 'bank.json'), 'utf8'));
    assert.equal(j.selectionLayer, b.calibration!.layer);
    assert.equal(j.training.data.length, 2);
  });

  it('compress → train bank → benchmark, with progress at every step', async () => {
    const cp: CompressProgressValue[] = [];
    const c = await client.workflow(Methods.compress, WorkflowProgress.compress, {
      model, method: 'gptq', bits: 4, groupSize: 64, calib: 'model', samples: 4, seqlen: 64, out: path.join(dir, 'gptq4'),
    }, (v) => cp.push(v));
    assert.equal(c.cancelled, false);
    assert.equal(c.quantized, c.modules);
    assert.ok(c.meanRelError! > 0 && c.meanRelError! < c.meanBaselineRelError!, `GPTQ ${c.meanRelError} beats RTN ${c.meanBaselineRelError}`);
    assert.ok(fs.existsSync(path.join(c.out, 'quantize_config.json')));
    // the extension passes no symmetry: the engine's default is the checkpoint every GPTQ loader reads
    assert.deepEqual(c.loaders?.map((x) => [x.loader, x.reads]), [['AutoGPTQ', true], ['GPTQModel', true], ['transformers', true]]);
    assert.ok(cp.some((v) => v.stage === 'layer' && v.layersDone === v.layers && v.layers === 4), JSON.stringify(cp.slice(-2)));

    const tp: TrainProgressValue[] = [];
    const b = await client.workflow(Methods.trainBank, WorkflowProgress.trainBank, {
      model: c.out, prompts: [4, 8], data: 'model', tokens: 1024, seqlen: 64, batch: 4, sampleTokens: 1024, out: path.join(dir, 'bank'),
    }, (v) => tp.push(v));
    assert.equal(b.status, 'done');
    assert.deepEqual(b.prompts.map((p) => [p.n, p.start]), [[4, 4], [8, 0]]);
    assert.equal(b.params.paper, 12 * 192);
    assert.ok(fs.existsSync(path.join(b.dir, 'bank.json')));
    assert.ok(tp.some((v) => v.phase === 'train' && v.tokensPerSecond! > 0 && v.prompt === 1), 'training progress of the second prompt');
    assert.ok(tp.every((v, i) => i === 0 || v.fraction >= tp[i - 1].fraction - 1e-9), 'fraction never goes back');

    // generation with the bank on its model: IDP picks one of the prompts
    await client.load({ model: c.out });
    const g = await client.generate({ prompt: 'export function ', maxTokens: 4, bank: b.dir });
    assert.ok(g.idp && [4, 8].includes(g.idp.n) && g.idp.scores.length === 2, JSON.stringify(g.idp));
    assert.equal((await client.generate({ prompt: 'export function ', maxTokens: 4 })).idp, undefined);
    // a completion with the bank: the context left after the bank's positions is what the input may fill
    const long = fs.readFileSync(HELDOUT, 'utf8').repeat(3);
    const f = await client.generate({ fim: { prefix: long, suffix: '' }, maxTokens: 8, bank: b.dir });
    assert.ok(f.idp && f.ids.length > 0, 'a long completion context fits beside the bank');

    const bp: BenchProgressValue[] = [];
    const r = await client.workflow(Methods.bench, WorkflowProgress.bench, {
      model: c.out, bank: b.dir, tasks: ['text_next_line', 'text_ppl'], heldout: [HELDOUT], limit: 6, out: path.join(dir, 'bench', 'idp.json'),
    }, (v) => bp.push(v));
    assert.equal(r.status, 'complete');
    assert.deepEqual(r.results.map((x) => [x.task, x.metric]), [['text_next_line', 'acc'], ['text_ppl', 'word_perplexity']]);
    assert.ok(r.results[0].value >= 0 && r.results[0].value <= 1 && r.results[0].n === 6);
    const report = JSON.parse(fs.readFileSync(r.files.json, 'utf8'));
    assert.equal(report.model.type, 'IDP');
    assert.ok(fs.existsSync(r.files.md) && fs.existsSync(r.files.samples));
    assert.ok(bp.length > 0 && bp[bp.length - 1].fraction === 1);
  });

  it('trains a LoRA baseline into a PEFT adapter', async () => {
    const r = await client.workflow(Methods.trainBaseline, WorkflowProgress.trainBaseline, {
      model, method: 'lora', rank: 2, targets: ['q', 'v'], data: 'model', tokens: 512, seqlen: 32, batch: 4, sampleTokens: 512, out: path.join(dir, 'lora'),
    });
    assert.equal(r.status, 'done');
    assert.ok(r.adapter && fs.existsSync(path.join(r.adapter, 'adapter_config.json')));
    assert.equal(r.trainable, 4 * 2 * ((192 + 192) + (192 + 64)), 'rank 2 on q [192→192] and v [192→64] in 4 layers')
    assert.ok(r.trainable > 0 && r.params?.trained === r.trainable, `${r.trainable} vs ${JSON.stringify(r.params)}`);
  });

  it('a cancelled bank stops and writes no bank.json; the engine serves the next request', async () => {
    const cts = new CancellationTokenSource();
    const out = path.join(dir, 'bank-cancelled');
    const pending = client.workflow(Methods.trainBank, WorkflowProgress.trainBank, {
      model, prompts: [4], data: 'model', tokens: 1_000_000, seqlen: 64, batch: 2, sampleTokens: 512, out,
    }, (v) => { if (v.phase === 'train') cts.cancel(); }, cts.token);
    const r = await pending;
    assert.equal(r.status, 'cancelled');
    assert.ok(!fs.existsSync(path.join(out, 'bank.json')));
    assert.ok((await client.capabilities()).includes('bench'));
  });

  it('a study runs through runStudy with streamed stages; a cancel comes back as status cancelled', async () => {
    const cts = new CancellationTokenSource();
    const stages: string[] = [];
    const r = await client.workflow(Methods.study, WorkflowProgress.study, {
      model, compress: 'rtn:4', methods: ['none', 'prompt:4'], tokens: 8192, tasks: ['text_ppl'], heldout: [HELDOUT], out: path.join(dir, 'study'),
      limit: 2, seqLen: 32, batch: 1, latency: false, similarity: false,
    }, (v) => { stages.push(v.stage); if (v.stage === 'train') cts.cancel(); }, cts.token);
    assert.equal(r.status, 'cancelled');
    assert.equal(r.compress, 'rtn:4:g64');
    assert.ok(stages.includes('compress') && stages.includes('train'), stages.join(' '));
  });

  it('a model that does not exist is a NOT_FOUND error naming it; bad parameters are INPUT errors', async () => {
    const missing = path.join(dir, 'no-such-model');
    await assert.rejects(client.workflow(Methods.compress, WorkflowProgress.compress, { model: missing, method: 'rtn', bits: 4, out: path.join(dir, 'x') }),
      (e: unknown) => e instanceof IdpError && e.code === 'NOT_FOUND' && e.file === missing);
    assert.ok(!fs.existsSync(path.join(dir, 'x')));
    await assert.rejects(client.workflow(Methods.bench, WorkflowProgress.bench, { model, tasks: ['text_ppl'], out: path.join(dir, 'b.json'), extra: 1 } as never),
      (e: unknown) => e instanceof IdpError && e.code === 'INPUT' && /unknown parameter 'extra'/.test(e.message));
  });
});
