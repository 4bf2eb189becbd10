// In the real extension host, in Restricted Mode: every path the extension would hand the engine goes
// through the one check (src/extension/trust.ts). The IDP Inspector refuses a bank from the workspace,
// the workspace model a lab bank names as its source, and a comparison model from the workspace —
// though each is a real, loadable model; Run Study refuses a tokenizer, a data folder and a
// `name=FILE` task from the workspace before any job starts; the job engine refuses an output outside
// the lab. Meanwhile the lab's own bank still inspects on the default model.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, runDirs } from '../suite/helpers';
import { defaultModelPath, embeddedModelPath } from '../../../src/engine/defaults';
import { Methods, WorkflowProgress } from '../../../src/protocol/engine-rpc';
import type { InspectorView } from '../../../src/protocol/webview/inspector';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
/** The extension's IdpError (its own bundled class, so by its fields): DENIED, naming `file`. */
const denied = (e: unknown, file: string) => (e as { code?: string }).code === 'DENIED' && (e as { file?: string }).file === file;

describe('extension host: Restricted Mode checks every path the extension hands the engine', function () {
  this.timeout(180000);
  const ws = () => process.env.IDP_TEST_WORKSPACE!;
  /** A real model in the untrusted workspace (a copy of the default one). */
  const wsModel = () => path.join(ws(), 'model');
  let bank: string;
  let foreign: string;

  before(async () => {
    const a = await api();
    assert.equal(vscode.workspace.isTrusted, false);
    fs.cpSync(embeddedModelPath(), wsModel(), { recursive: true });
    bank = path.join(a.labRoot(), 'runs', 'bank-restricted-test', 'bank');
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'cli.js'), 'bank', 'train', '--data', 'model', '--prompts', '4,8', '--tokens', '256',
      '--seqlen', '32', '--batch', '4', '--sample-tokens', '2048', '--out', bank], { encoding: 'utf8', timeout: 120000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    assert.equal(r.status, 0, r.stderr);
    // a bank in the lab whose bank.json names the workspace's model as its source
    foreign = path.join(a.labRoot(), 'runs', 'bank-foreign-source', 'bank');
    fs.cpSync(bank, foreign, { recursive: true });
    const json = JSON.parse(fs.readFileSync(path.join(foreign, 'bank.json'), 'utf8'));
    json.model.source = wsModel();
    fs.writeFileSync(path.join(foreign, 'bank.json'), JSON.stringify(json, null, 2));
  });
  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  const inspect = (arg: object) => vscode.commands.executeCommand<InspectorView | undefined>('idp.openInspector', arg);

  it('the Inspector works with the lab\'s own bank on the default model', async () => {
    const view = await inspect({ bank, text: 'export function add(a: number, b: number) {' });
    assert.ok(view, 'inspected');
    assert.equal(view.bank, bank);
  });

  it('the Inspector refuses a bank from the workspace, the workspace model a bank names, and a comparison model from the workspace', async () => {
    const a = await api();
    const wsBank = path.join(ws(), 'bank');
    fs.cpSync(bank, wsBank, { recursive: true });
    assert.equal(await inspect({ bank: wsBank, text: 'let x = 1;' }), undefined, 'a bank from the workspace');
    assert.equal(await inspect({ bank: foreign, text: 'let x = 1;' }), undefined, 'the workspace model named in a lab bank');
    assert.equal(await inspect({ bank, text: 'let x = 1;', compare: wsModel() }), undefined, 'a comparison model from the workspace');
    // the editor's engine never loaded the workspace's model
    const health = await a.engine.health();
    assert.notEqual(health.model, wsModel());
    await assert.rejects(a.engine.inspect({ bank, model: wsModel(), text: 'x' }), (e: unknown) => denied(e, wsModel()));
  });

  it('Run Study refuses a tokenizer, a data folder and a name=FILE task from the workspace before any job starts', async () => {
    const a = await api();
    const before = runDirs(a.labRoot());
    const base = { model: defaultModelPath(), compress: 'rtn:4', methods: ['none'], tokens: 64, limit: 2 };
    const heldout = [path.join(bank, 'bank.json')];
    assert.equal(await vscode.commands.executeCommand('idp.runStudy', { ...base, tasks: ['text_ppl'], heldout, tokenizer: path.join(wsModel(), 'tokenizer.json') }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.runStudy', { ...base, tasks: ['arc_easy'], dataDir: ws() }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.runStudy', { ...base, tasks: [`sciq=${path.join(ws(), 'story.txt')}`] }), undefined);
    assert.equal(await vscode.commands.executeCommand('idp.runStudy', { ...base, tasks: ['text_ppl'], heldout: [`${ws()}/**/*.txt`] }), undefined);
    assert.equal(a.jobs.lastFailure, undefined, 'refused before any job started');
    assert.deepEqual(runDirs(a.labRoot()), before);
  });

  it('the job engine writes only into the lab', async () => {
    const a = await api();
    const out = path.join(ws(), 'bench.json');
    await assert.rejects(
      a.work.workflow(Methods.bench, WorkflowProgress.bench, { model: defaultModelPath(), tasks: ['text_ppl'], heldout: [path.join(bank, 'bank.json')], limit: 2, out }),
      (e: unknown) => denied(e, out),
    );
    assert.ok(!fs.existsSync(out));
  });
});
