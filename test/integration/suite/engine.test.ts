// In the real extension host: activation, Select Model (arguments and the real QuickPick), Generate
// (arguments and the real InputBox), bad input, cancel, the engine restarted after it is killed.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, reference, resetSettings, runDirs, stories, waitFor } from './helpers';
import { answer } from './dialogs';
import { defaultModelPath } from '../../../src/engine/defaults';

const IDP_COMMANDS = ['idp.selectModel', 'idp.showModelInfo', 'idp.generate', 'idp.cancelJob', 'idp.restartEngine', 'idp.showLog'];

describe('extension host: engine and command flows', function () {
  this.timeout(120000);
  after(resetSettings);

  it('activates, registers every command, and runs its engine in a separate process', async () => {
    const a = await api();
    const all = await vscode.commands.getCommands(true);
    for (const c of IDP_COMMANDS) assert.ok(all.includes(c), `${c} is registered`);
    const pid = await a.engine.processId();
    assert.notEqual(pid, process.pid);
    assert.ok((await a.engine.capabilities()).includes('generate'));
  });

  it('Select Model with a path loads it, reports it and shows it in the status bar', async () => {
    const a = await api();
    const info = await vscode.commands.executeCommand<any>('idp.selectModel', stories());
    assert.equal(info?.architecture, 'LlamaForCausalLM');
    assert.equal(info.path, stories());
    assert.equal(a.engine.model?.path, stories());
    await waitFor('status bar', () => a.status.text.includes('stories260K') && a.status.text.includes('cpu'));
    // a model other than the default is remembered in the settings
    assert.equal(vscode.workspace.getConfiguration('idp').get('modelPath'), stories());
  });

  it('Select Model through its QuickPick: the first entry is the default model', async () => {
    const pending = vscode.commands.executeCommand<any>('idp.selectModel');
    await answer('Model to run', { expect: /Current model|Default model/ });
    const info = await pending;
    assert.equal(info?.path, defaultModelPath(), 'the embedded default model (models/default)');
    assert.equal(info?.architecture, 'LlamaForCausalLM');
    // the default model is not written into the settings
    assert.equal(vscode.workspace.getConfiguration('idp').get('modelPath'), '');
    // the flows below check stories260K's known text: load it again
    await vscode.commands.executeCommand('idp.selectModel', stories());
  });

  it('Select Model refuses a missing path and a file that is not a model, changing nothing', async () => {
    const a = await api();
    const before = a.engine.model;
    const setting = vscode.workspace.getConfiguration('idp').get('modelPath');
    const ws = process.env.IDP_TEST_WORKSPACE!;
    assert.equal(await vscode.commands.executeCommand('idp.selectModel', path.join(ws, 'missing', 'model.gguf')), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.selectModel', path.join(ws, 'not-a-model.bin')), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.selectModel', 42), undefined);
    assert.equal(vscode.workspace.getConfiguration('idp').get('modelPath'), setting, 'the setting is unchanged');
    assert.deepEqual(a.engine.model, before, 'the loaded model is unchanged');
    assert.equal(a.jobs.running.size, 0, 'no job (or progress notification) is left running');
  });

  it('Generate produces the model text (the llama2.c greedy sample) and records the run on disk', async () => {
    const a = await api();
    const ref = reference();
    const r = await vscode.commands.executeCommand<any>('idp.generate', { prompt: '', maxTokens: 24 });
    assert.deepEqual(r.ids, ref.generated_ids.slice(0, 24));
    assert.ok(ref.generated_text.startsWith(r.text) && r.text.length > 20, r.text);
    assert.ok(r.run.startsWith(path.join(process.env.IDP_TEST_WORKSPACE!, '.idp', 'runs')), r.run);
    const run = JSON.parse(fs.readFileSync(path.join(r.run, 'run.json'), 'utf8'));
    assert.equal(run.kind, 'generate');
    assert.equal(run.text, r.text);
    assert.equal(run.model, stories());
    assert.equal(a.labRoot(), path.join(process.env.IDP_TEST_WORKSPACE!, '.idp'));
  });

  it('Generate through its InputBox uses the remembered prompt', async () => {
    await vscode.commands.executeCommand('idp.generate', { prompt: 'Once upon a time', maxTokens: 4 });
    const pending = vscode.commands.executeCommand<any>('idp.generate');
    await answer('Prompt'); // the InputBox, with the remembered prompt
    const r = await pending;
    assert.ok(r, 'generated');
    const run = JSON.parse(fs.readFileSync(path.join(r.run, 'run.json'), 'utf8'));
    assert.equal(run.prompt, 'Once upon a time');
  });

  it('a cancelled generation writes nothing and leaves no job running', async () => {
    const a = await api();
    const root = a.labRoot();
    const before = runDirs(root);
    const pending = vscode.commands.executeCommand<any>('idp.generate', { prompt: 'Once', maxTokens: 400, temperature: 1 });
    await waitFor('the job', () => a.jobs.running.size === 1);
    assert.equal(await vscode.commands.executeCommand('idp.cancelJob'), true);
    assert.equal(await pending, undefined);
    assert.deepEqual(runDirs(root), before);
    assert.equal(a.jobs.running.size, 0);
    assert.equal(fs.readdirSync(path.join(root, 'runs')).filter((n) => n.endsWith('.tmp')).length, 0);
  });

  it('the engine is restarted after it is killed, with the model loaded again', async () => {
    const a = await api();
    await vscode.commands.executeCommand('idp.selectModel', stories());
    const pid = await a.engine.processId();
    process.kill(pid, 'SIGKILL');
    await waitFor('the status bar to say the engine is down or back', () => a.status.text.length > 0);
    const pid2 = await waitFor('a new engine process', async () => {
      const p = await a.engine.processId().catch(() => undefined);
      return p !== undefined && p !== pid ? p : undefined;
    });
    assert.notEqual(pid2, pid);
    await waitFor('the model reloaded', () => a.engine.model?.path === stories());
    const r = await vscode.commands.executeCommand<any>('idp.generate', { prompt: '', maxTokens: 5 });
    assert.deepEqual(r.ids, reference().generated_ids.slice(0, 5));
    await waitFor('status bar shows the model again', () => a.status.text.includes('stories260K'));
  });

  it('Restart Engine starts a new process; Show Log and Show Model Info run', async () => {
    const a = await api();
    const pid = await a.engine.processId();
    const pid2 = await vscode.commands.executeCommand<number>('idp.restartEngine');
    assert.ok(pid2 && pid2 !== pid);
    await vscode.commands.executeCommand('idp.showLog');
    const info = await vscode.commands.executeCommand<any>('idp.showModelInfo');
    assert.equal(info?.layers, 5);
  });
});
