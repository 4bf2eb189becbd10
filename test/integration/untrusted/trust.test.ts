// In the real extension host with the workspace in Restricted Mode (workspace trust on, folder not
// trusted): settings cannot point the engine at files — idp.modelPath is ignored even in the user
// settings (VS Code itself ignores the workspace's: it is a restricted setting), Select Model and the
// workflow commands refuse other paths — while the default
// model still loads and the lab goes to the extension's global storage, not the workspace.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, runDirs } from '../suite/helpers';
import { defaultModelPath } from '../../../src/engine/defaults';

describe('extension host: an untrusted workspace', function () {
  this.timeout(60000);
  const ws = () => process.env.IDP_TEST_WORKSPACE!;
  const other = () => path.join(ws(), 'not-a-model.bin');

  after(async () => {
    const c = vscode.workspace.getConfiguration('idp');
    await c.update('modelPath', undefined, vscode.ConfigurationTarget.Global);
  });

  it('runs in Restricted Mode, the manifest declares limited support and idp.modelPath restricted', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const a = await api();
    const pkg = vscode.extensions.getExtension('idp-lab.idp-lab')!.packageJSON;
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.deepEqual(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations, ['idp.modelPath']);
    assert.ok(!a.labRoot().startsWith(ws()), `the lab (${a.labRoot()}) is not in the untrusted workspace`);
  });

  it('idp.modelPath set in the user settings does not reach the engine: the default model loads', async () => {
    await vscode.workspace.getConfiguration('idp').update('modelPath', other(), vscode.ConfigurationTarget.Global);
    assert.equal(vscode.workspace.getConfiguration('idp').get('modelPath'), other(), 'the user setting is there');
    const info = await vscode.commands.executeCommand<any>('idp.showModelInfo');
    assert.equal(info?.path, defaultModelPath());
  });

  it('Select Model and the workflow commands refuse files; nothing is written', async () => {
    const a = await api();
    const before = runDirs(a.labRoot());
    assert.equal(await vscode.commands.executeCommand('idp.selectModel', other()), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.compress', { model: other(), method: 'rtn', bits: 4 }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.trainBank', { model: defaultModelPath(), data: [path.join(ws(), 'story.txt')], tokens: 64 }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.runBenchmark', { model: defaultModelPath(), tasks: ['text_ppl'], heldout: [path.join(ws(), 'story.txt')] }), undefined);
    assert.deepEqual(runDirs(a.labRoot()), before);
    assert.equal(a.jobs.lastFailure, undefined, 'refused before any job started');
    assert.ok(!fs.existsSync(path.join(ws(), '.idp')), 'nothing in the workspace');
  });

  it('Select Model refuses a Hugging Face Hub id, saying why; nothing is downloaded', async () => {
    const a = await api();
    // the warning the user sees, as the extension shows it (the real call still runs)
    const shown: string[] = [];
    const real = vscode.window.showWarningMessage;
    (vscode.window as { showWarningMessage: unknown }).showWarningMessage = (m: string, ...rest: unknown[]) => {
      shown.push(m);
      return (real as (...x: unknown[]) => Thenable<unknown>)(m, ...rest);
    };
    try {
      assert.equal(await vscode.commands.executeCommand('idp.selectModel', 'idp-test/default-model'), undefined);
    } finally {
      (vscode.window as { showWarningMessage: unknown }).showWarningMessage = real;
    }
    assert.deepEqual(shown, ['IDP: this workspace is not trusted, so models from the Hugging Face Hub (downloads and the Hugging Face cache) are off: ' +
      'only the default model can be loaded. Trust the workspace to use them.']);
    assert.equal(a.jobs.lastFailure, undefined, 'refused before any job started');
    assert.notEqual(a.engine.model?.path, 'idp-test/default-model');
    assert.deepEqual(fs.readdirSync(process.env.HF_HUB_CACHE!), [], 'nothing in the HF cache');
  });

  it('the default model can still be compressed, into global storage', async () => {
    const a = await api();
    const r = await vscode.commands.executeCommand<any>('idp.compress', { model: defaultModelPath(), method: 'rtn', bits: 4 });
    assert.ok(r, 'compressed');
    assert.ok(r.run.startsWith(path.join(a.labRoot(), 'runs')), r.run);
    assert.ok(!r.run.startsWith(ws()));
  });
});
