// In the real extension host: Train Baseline and Run Benchmark driven through their QuickPicks and
// InputBoxes (no arguments), as Compress's are in workflows.test.ts — on the embedded default model,
// the results read back from the lab folder; a dialog dismissed at any step starts no job and writes
// nothing. Runs before workflows.test.ts, so the lab holds no compressed model yet and the current
// model (the default one) is the first model offered.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, EXT_ID, resetSettings, runDirs } from './helpers';
import { answer } from './dialogs';
import { defaultModelPath } from '../../../src/engine/defaults';

const readRun = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));

/** Runs `dialog` against `command` started without arguments; checks it started no job and wrote nothing. */
async function dismissed(command: string, dialog: () => Promise<void>): Promise<void> {
  const a = await api();
  const root = a.labRoot();
  const before = fs.existsSync(path.join(root, 'runs')) ? fs.readdirSync(path.join(root, 'runs')).sort() : [];
  let jobEvents = 0;
  const sub = a.jobs.onDidChange(() => jobEvents++);
  try {
    const pending = vscode.commands.executeCommand<unknown>(command);
    await dialog();
    assert.equal(await pending, undefined, `${command} returns nothing`);
  } finally {
    sub.dispose();
  }
  assert.equal(jobEvents, 0, 'no job was started');
  assert.equal(a.jobs.running.size, 0);
  const after = fs.existsSync(path.join(root, 'runs')) ? fs.readdirSync(path.join(root, 'runs')).sort() : [];
  assert.deepEqual(after, before, 'no run folder, no staging folder');
}

describe('extension host: Train Baseline and Run Benchmark through their dialogs', function () {
  this.timeout(180000);
  // held-out text for the benchmark: a TypeScript file in the workspace ("Workspace text")
  let heldout: string;
  let adapter: string;

  before(async () => {
    await resetSettings();
    const a = await api();
    const compressed = runDirs(a.labRoot()).filter((d) => fs.existsSync(path.join(a.labRoot(), 'runs', d, 'run.json')) && readRun(path.join(a.labRoot(), 'runs', d)).kind === 'compress');
    assert.deepEqual(compressed, [], 'no compressed model in the lab yet (it would be offered first)');
    heldout = path.join(process.env.IDP_TEST_WORKSPACE!, 'heldout.ts');
    fs.copyFileSync(path.join(vscode.extensions.getExtension(EXT_ID)!.extensionPath, 'src', 'extension', 'lab.ts'), heldout);
  });
  after(async () => {
    fs.rmSync(heldout, { force: true });
    await resetSettings();
  });

  it('Train Baseline: dismissing the method QuickPick or the tokens InputBox starts nothing', async () => {
    await dismissed('idp.trainBaseline', () => answer('Baseline method', { dismiss: true }));
    await dismissed('idp.trainBaseline', async () => {
      await answer('Baseline method', { expect: /^LoRA$/ }); // the default, first
      await answer('Model', { expect: /Current model/ }); // the current (default) model
      await answer('Training data', { expect: /Workspace text/ }); // first; then Sampled from the model, Browse…
      await answer('Training tokens', { dismiss: true }); // the tokens InputBox
    });
  });

  it('Train Baseline through its dialogs: prompt tuning on the default model, data sampled from it, the default budget', async () => {
    const a = await api();
    const pending = vscode.commands.executeCommand<any>('idp.trainBaseline');
    await answer('Baseline method', { next: 1, expect: /^Prompt tuning$/ }); // LoRA, Prompt tuning, Prefix tuning
    await answer('Model', { expect: /Current model/ }); // the embedded default one
    await answer('Training data', { next: 1, expect: /Sampled from the model/ }); // Workspace text, Sampled…, Browse…
    await answer('Training tokens'); // training tokens: 32,768 (the default)
    const r = await pending;
    assert.ok(r, `trained (${a.jobs.lastFailure?.message ?? 'no failure'})`);
    assert.ok(r.run.startsWith(path.join(a.labRoot(), 'runs')), r.run);
    const run = readRun(r.run);
    assert.equal(run.kind, 'baseline');
    assert.equal(run.method, 'prompt');
    assert.equal(run.promptTokens, 100);
    assert.equal(run.rank, null);
    assert.equal(run.model, defaultModelPath());
    assert.equal(run.data, 'model');
    assert.equal(run.tokens, 32768);
    assert.equal(run.params.trained, 100 * 192, 'one soft prompt of 100 tokens × 192');
    adapter = r.value.adapter;
    assert.equal(adapter, path.join(r.run, 'train', 'adapter'));
    const cfg = JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.peft_type, 'PROMPT_TUNING');
    assert.equal(cfg.num_virtual_tokens, 100);
    assert.ok(fs.existsSync(path.join(adapter, 'adapter_model.safetensors')));
    assert.equal(a.jobs.running.size, 0);
  });

  it('Run Benchmark: dismissing the model QuickPick or the documents InputBox starts nothing', async () => {
    await dismissed('idp.runBenchmark', () => answer('Model', { dismiss: true }));
    await dismissed('idp.runBenchmark', async () => {
      await answer('Model', { expect: /Current model/ });
      await answer('Run the model with', { expect: /The model alone/ });
      await answer('Tasks'); // multi-select; the defaults are checked
      await answer('Held-out text', { expect: /Workspace text/ });
      await answer('Documents per task', { dismiss: true }); // documents per task
    });
  });

  it('Run Benchmark through its dialogs: the default model with the trained baseline on the workspace text', async () => {
    const a = await api();
    assert.ok(adapter, 'the baseline trained above');
    const pending = vscode.commands.executeCommand<any>('idp.runBenchmark');
    await answer('Model', { expect: /Current model/ }); // the current (default) model
    await answer('Run the model with', { next: 1, expect: /^\$\(beaker\) / }); // the model alone, then the baseline trained above
    await answer('Tasks'); // text_next_line, text_lambada and text_ppl checked
    await answer('Held-out text', { expect: /Workspace text/ });
    await answer('Documents per task'); // documents per task: 100
    const r = await pending;
    assert.ok(r, `benchmarked (${a.jobs.lastFailure?.message ?? 'no failure'})`);
    for (const f of ['bench.json', 'bench.md', 'bench.samples.jsonl', 'run.json']) assert.ok(fs.existsSync(path.join(r.run, f)), f);
    const run = readRun(r.run);
    assert.equal(run.kind, 'bench');
    assert.equal(run.model, defaultModelPath());
    assert.equal(run.adapter, adapter, 'the baseline picked in "Run the model with"');
    assert.equal(run.bank, null);
    assert.deepEqual(run.tasks, ['text_next_line', 'text_lambada', 'text_ppl']);
    assert.equal(run.limit, 100);
    assert.ok(run.heldout.includes(heldout), `the workspace's text files: ${run.heldout}`);
    const report = JSON.parse(fs.readFileSync(path.join(r.run, 'bench.json'), 'utf8'));
    assert.equal(report.status, 'complete');
    assert.deepEqual(Object.keys(report.tasks), ['text_next_line', 'text_lambada', 'text_ppl']);
    const nextLine = run.results.find((x: { task: string }) => x.task === 'text_next_line');
    assert.equal(nextLine.n, 100, 'a subsample of 100 documents');
    assert.equal(a.jobs.running.size, 0);
  });
});
