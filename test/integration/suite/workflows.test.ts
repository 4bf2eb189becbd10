// In the real extension host, on the embedded default model with tiny budgets: the workflow commands
// end to end — Select Model → Compress Model (GPTQ 4-bit) → Train Prompt Bank → Run Benchmark (held-out
// text) → results on disk in the lab folder; Train Baseline; Compress through its QuickPicks; a
// cancelled job leaves nothing and no job running; a model that does not exist and bad arguments
// change nothing.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, EXT_ID, resetSettings, runDirs, stagingDirs, waitFor } from './helpers';
import { answer } from './dialogs';
import { suggested } from './inline';
import { defaultModelPath } from '../../../src/engine/defaults';

const readRun = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));

describe('extension host: workflow commands on the default model', function () {
  this.timeout(90000);
  let compressed: string;
  let bank: string;
  after(resetSettings);

  it('registers the workflow commands and the engine reports their capabilities', async () => {
    const a = await api();
    const all = await vscode.commands.getCommands(true);
    for (const c of ['idp.compress', 'idp.trainBank', 'idp.trainBaseline', 'idp.runBenchmark', 'idp.runStudy']) assert.ok(all.includes(c), `${c} is registered`);
    const caps = await a.engine.capabilities();
    for (const c of ['compress', 'trainBank', 'trainBaseline', 'bench', 'study']) assert.ok(caps.includes(c), `capability ${c}`);
  });

  it('the walkthrough leads from the model to a first study, every step a registered command with its page', async () => {
    const ext = vscode.extensions.getExtension(EXT_ID)!;
    const [walk] = ext.packageJSON.contributes.walkthroughs;
    const steps = walk.steps as Array<{ id: string; description: string; media: { markdown: string } }>;
    assert.deepEqual(steps.map((x) => x.id).slice(0, 6), ['model', 'generate', 'compress', 'bank', 'benchmark', 'study']);
    const all = await vscode.commands.getCommands(true);
    for (const step of steps) {
      const cmd = /\(command:([\w.]+)\)/.exec(step.description)?.[1];
      assert.ok(cmd && all.includes(cmd), `${step.id}: ${cmd} is registered`);
      assert.ok(fs.existsSync(path.join(ext.extensionPath, step.media.markdown)), `${step.id}: ${step.media.markdown}`);
    }
  });

  it('select → compress (GPTQ 4-bit): the model folder and run.json appear in the lab', async () => {
    const a = await api();
    const info = await vscode.commands.executeCommand<any>('idp.selectModel', defaultModelPath());
    assert.equal(info?.path, defaultModelPath());
    const root = a.labRoot();
    assert.equal(root, path.join(process.env.IDP_TEST_WORKSPACE!, '.idp'));
    const r = await vscode.commands.executeCommand<any>('idp.compress', { method: 'gptq', bits: 4, calib: 'model', samples: 4, seqlen: 64 });
    assert.ok(r, 'compressed');
    assert.ok(r.run.startsWith(path.join(root, 'runs')), r.run);
    compressed = r.value.model;
    assert.equal(compressed, path.join(r.run, 'model'));
    assert.ok(fs.existsSync(path.join(compressed, 'quantize_config.json')), 'GPTQ layout');
    const run = readRun(r.run);
    assert.equal(run.kind, 'compress');
    assert.equal(run.model, compressed);
    assert.equal(run.source, defaultModelPath());
    assert.equal(run.bits, 4);
    assert.equal(run.groupSize, 64, 'the largest group size dividing 192 and 512');
    assert.equal(run.result.quantized, 28);
    assert.deepEqual(stagingDirs(root), []);
    assert.equal(a.jobs.running.size, 0);
    // the job ran in the job engine, a process of its own: the interactive engine kept its model
    assert.notEqual(await a.work.processId(), await a.engine.processId());
    assert.equal(a.engine.model?.path, defaultModelPath());
  });

  it('train bank on the compressed model: bank.json in the lab, the bank active in the status bar', async () => {
    const a = await api();
    const r = await vscode.commands.executeCommand<any>('idp.trainBank', {
      model: compressed, prompts: [4, 8], data: 'model', tokens: 1024, seqlen: 64, batch: 4, sampleTokens: 1024,
    });
    assert.ok(r, 'trained');
    bank = r.value.bank;
    assert.equal(bank, path.join(r.run, 'bank'));
    const bj = JSON.parse(fs.readFileSync(path.join(bank, 'bank.json'), 'utf8'));
    assert.deepEqual(bj.prompts.map((p: { n: number }) => p.n), [4, 8]);
    assert.equal(bj.model.source, compressed);
    const run = readRun(r.run);
    assert.equal(run.kind, 'bank');
    assert.deepEqual(run.prompts, [4, 8]);
    assert.equal(run.params.paper, 12 * 192);
    await waitFor('the status bar to show the bank', () => a.status.text.includes('IDP 4+8'));
  });

  it('Generate with the active bank on its model: IDP picks a prompt, the status bar shows it', async () => {
    const a = await api();
    await vscode.commands.executeCommand('idp.selectModel', compressed);
    const r = await vscode.commands.executeCommand<any>('idp.generate', { prompt: 'export function ', maxTokens: 8 });
    assert.ok(r?.idp && [4, 8].includes(r.idp.n), JSON.stringify(r?.idp));
    assert.equal(r.idp.scores.length, 2);
    assert.equal(readRun(r.run).bank, bank);
    await waitFor('the status bar to show the picked prompt', () => a.status.text.includes(`IDP prompt ${r.idp.n}`));
  });

  it('inline completion on the bank\'s model completes with IDP and shows the prompt it picked', async () => {
    const a = await api();
    const inline = vscode.workspace.getConfiguration('idp.inlineCompletion');
    await inline.update('enable', true, vscode.ConfigurationTarget.Global);
    try {
      const doc = await vscode.workspace.openTextDocument({ language: 'typescript', content: 'export function add(a: number, b: number) {\n  return ' });
      const ed = await vscode.window.showTextDocument(doc);
      const end = doc.lineAt(1).range.end;
      ed.selection = new vscode.Selection(end, end);
      await waitFor('a completion with the picked prompt in the status bar', async () => {
        await suggested();
        return /\$\(sparkle\).* ms · .* tok\/s · prompt (4|8)\b/.test(a.status.text);
      }, 30000);
    } finally {
      await inline.update('enable', undefined, vscode.ConfigurationTarget.Global);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
      await vscode.commands.executeCommand('idp.selectModel', defaultModelPath());
    }
  });

  it('benchmark with the bank on held-out text: bench.json, bench.md and the samples in the lab', async () => {
    const heldout = path.join(vscode.extensions.getExtension(EXT_ID)!.extensionPath, 'src', 'extension', 'lab.ts');
    const r = await vscode.commands.executeCommand<any>('idp.runBenchmark', {
      model: compressed, bank, tasks: ['text_next_line', 'text_ppl'], heldout: [heldout], limit: 6,
    });
    assert.ok(r, 'benchmarked');
    for (const f of ['bench.json', 'bench.md', 'bench.samples.jsonl', 'run.json']) assert.ok(fs.existsSync(path.join(r.run, f)), f);
    const report = JSON.parse(fs.readFileSync(path.join(r.run, 'bench.json'), 'utf8'));
    assert.equal(report.status, 'complete');
    assert.equal(report.model.type, 'IDP');
    assert.deepEqual(Object.keys(report.tasks), ['text_next_line', 'text_ppl']);
    const run = readRun(r.run);
    assert.equal(run.kind, 'bench');
    assert.equal(run.bank, bank);
    assert.equal(run.results[0].task, 'text_next_line');
    assert.equal(run.results[0].n, 6);
    assert.ok(fs.readFileSync(path.join(r.run, 'bench.md'), 'utf8').includes('text_next_line'));
  });

  it('train a bank of languages: one prompt per kind of text, each on its own files, the selection calibrated', async () => {
    const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'idp-languages-'));
    const md: string[] = [];
    const json: string[] = [];
    for (let i = 0; i < 8; i++) {
      md.push(path.join(dir, `doc${i}.md`));
      fs.writeFileSync(md[i], `# Section ${i}\n\nThis page explains how to use the feature number ${i}. Read the notes below, then try it.\n\n- one\n- two\n`);
      json.push(path.join(dir, `pkg${i}.json`));
      fs.writeFileSync(json[i], JSON.stringify({ name: `package-${i}`, version: `1.${i}.0`, main: 'index.js', dependencies: { left: `^${i}.0.0`, right: '~2.1.0' } }, null, 2));
    }
    const r = await vscode.commands.executeCommand<any>('idp.trainBank', {
      model: compressed, prompts: [4, 4], promptData: [md, json], tokens: 256, seqlen: 32, batch: 4,
    });
    assert.ok(r, 'trained');
    const bj = JSON.parse(fs.readFileSync(path.join(r.value.bank, 'bank.json'), 'utf8'));
    assert.deepEqual(bj.prompts.map((p: { n: number }) => p.n), [4, 4]);
    assert.equal(bj.training.data.length, 2, 'one data key per prompt');
    // each kind's held-out documents calibrate the selection (or the reply says why not)
    assert.ok(r.value.calibration ? Array.isArray(bj.calibration) && bj.selectionLayer === r.value.calibration.layer : typeof r.value.calibrationSkipped === 'string',
      JSON.stringify({ calibration: r.value.calibration, skipped: r.value.calibrationSkipped }));
    assert.deepEqual(readRun(r.run).promptData, [md, json]);
  });

  it('train a LoRA baseline: a PEFT adapter in the lab', async () => {
    const r = await vscode.commands.executeCommand<any>('idp.trainBaseline', {
      method: 'lora', model: compressed, rank: 2, targets: ['q', 'v'], data: 'model', tokens: 512, seqlen: 32, batch: 4, sampleTokens: 512,
    });
    assert.ok(r, 'trained');
    assert.ok(fs.existsSync(path.join(r.value.adapter, 'adapter_config.json')));
    const run = readRun(r.run);
    assert.equal(run.kind, 'baseline');
    assert.equal(run.method, 'lora');
    assert.equal(run.params.trained, 4 * 2 * ((192 + 192) + (192 + 64)));
  });

  it('Run Study: compress → prompts → IDP → benchmark rows, study.json in the lab', async () => {
    const heldout = path.join(vscode.extensions.getExtension(EXT_ID)!.extensionPath, 'src', 'extension', 'lab.ts');
    const r = await vscode.commands.executeCommand<any>('idp.runStudy', {
      model: defaultModelPath(), compress: 'rtn:4', methods: ['none', 'prompt:4', 'prompt:8', 'idp'], tokens: 512, tasks: ['text_next_line'],
      heldout: [heldout], limit: 6, seqLen: 32, batch: 4, latency: false, similarity: false,
    });
    assert.ok(r, 'studied');
    const study = JSON.parse(fs.readFileSync(path.join(r.run, 'study', 'study.json'), 'utf8'));
    assert.equal(study.schema, 'idp-study/1');
    assert.equal(study.status, 'complete');
    assert.deepEqual(study.rows.map((x: { id: string }) => x.id), ['base', 'compressed', 'prompt-4', 'prompt-8', 'idp-4+8']);
    assert.ok(fs.existsSync(path.join(r.run, 'study', 'table.md')));
    // charts rendered by the engine process's own ES-module bundle (dist/svg-render.mjs), as in the .vsix
    assert.ok(study.charts.length > 0, 'charts');
    for (const c of study.charts as Array<{ svg: string }>) assert.match(fs.readFileSync(path.join(r.run, 'study', c.svg), 'utf8'), /^<svg/);
    const run = readRun(r.run);
    assert.equal(run.kind, 'study');
    assert.equal(run.compress, 'rtn:4:g64', 'a group size the default model allows');
  });

  it('Compress through its QuickPicks (current model, RTN 4-bit)', async () => {
    const pending = vscode.commands.executeCommand<any>('idp.compress');
    await answer('Model', { expect: /Current model/ }); // the current model first
    await answer('Compression method', { next: 2, expect: /^RTN 4-bit$/ }); // GPTQ 4-bit, GPTQ 3-bit, RTN 4-bit, …
    const r = await pending;
    assert.ok(r, 'compressed');
    const run = readRun(r.run);
    assert.equal(run.method, 'rtn');
    assert.equal(run.bits, 4);
    assert.equal(run.source, defaultModelPath());
  });

  it('a cancelled bank training leaves nothing in the lab and no job running', async () => {
    const a = await api();
    const root = a.labRoot();
    const before = runDirs(root);
    const pending = vscode.commands.executeCommand<any>('idp.trainBank', {
      model: compressed, prompts: [4], data: 'model', tokens: 10_000_000, seqlen: 64, batch: 2, sampleTokens: 512,
    });
    await waitFor('the job', () => a.jobs.running.size === 1);
    await waitFor('a hidden staging folder', () => stagingDirs(root).length === 1);
    await waitFor('the job to report training progress', () => [...a.jobs.running.values()][0]?.last?.tokensPerSecond);
    assert.equal(await vscode.commands.executeCommand('idp.cancelJob'), true);
    assert.equal(await pending, undefined);
    assert.deepEqual(runDirs(root), before, 'no run folder');
    assert.deepEqual(stagingDirs(root), [], 'no staging folder');
    assert.equal(a.jobs.running.size, 0, 'no job (or progress notification) left');
  });

  it('a model that does not exist: a NOT_FOUND error naming it, nothing written; bad arguments are refused', async () => {
    const a = await api();
    const root = a.labRoot();
    const before = runDirs(root);
    const missing = path.join(process.env.IDP_TEST_WORKSPACE!, 'missing', 'model');
    // what the user is told (error message, log): the engine's NOT_FOUND error naming the path
    const told = (title: RegExp) => {
      assert.equal(a.jobs.lastFailure?.message, `${missing}: no such file or folder`);
      assert.match(a.jobs.lastFailure!.title, title);
    };
    assert.equal(await vscode.commands.executeCommand('idp.compress', { model: missing, method: 'rtn', bits: 4 }), undefined);
    told(/^Compressing RTN 4-bit of /);
    assert.equal(await vscode.commands.executeCommand('idp.trainBank', { model: missing, prompts: [4], tokens: 64 }), undefined);
    told(/^Training an IDP bank/);
    assert.equal(await vscode.commands.executeCommand('idp.runBenchmark', { model: missing, tasks: ['text_ppl'], heldout: [missing] }), undefined);
    told(/^Benchmarking /);
    assert.equal(await vscode.commands.executeCommand('idp.compress', { modle: defaultModelPath() }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.trainBaseline', 'lora'), undefined);
    assert.deepEqual(runDirs(root), before);
    assert.deepEqual(stagingDirs(root), []);
    assert.equal(a.jobs.running.size, 0);
  });
});
