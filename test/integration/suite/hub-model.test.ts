// In the real extension host: IDP: Select Model with a Hugging Face Hub id, against the local Hub-like
// server (test/helpers/hub-server.ts) started here, in the host. The driver (run.ts) gives the host a
// fresh HF_HUB_CACHE per session and an HF_ENDPOINT nobody listens on; this suite points HF_ENDPOINT at
// its server while it runs. The first selection downloads into the HF cache layout (refs/main,
// blobs named by ETag, snapshot links) and the engine loads it; the second makes no request at all.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { api, resetSettings, waitFor } from './helpers';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { FakeHub, folderFiles, gitSha1, sha256 } from '../../helpers/hub-server';
import { defaultModelPath } from '../../../src/engine/defaults';

const REPO_ID = 'idp-test/default-model';

describe('extension host: Select Model with a Hugging Face Hub id', function () {
  this.timeout(120000);
  const hub = new FakeHub();
  let commit: string;
  let savedEndpoint: string | undefined;
  const cache = () => process.env.HF_HUB_CACHE!;
  const repoDir = () => path.join(cache(), 'models--idp-test--default-model');

  before(async function () {
    assert.ok(process.env.HF_HUB_CACHE, 'the driver (run.ts) gives the host HF_HUB_CACHE');
    commit = hub.commit(REPO_ID, { ...folderFiles(DEFAULT_MODEL_DIR), '.gitattributes': '*.safetensors filter=lfs' });
    savedEndpoint = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = await hub.start();
  });
  after(async () => {
    if (savedEndpoint === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = savedEndpoint;
    await hub.stop();
    await resetSettings();
    await vscode.commands.executeCommand('idp.selectModel', defaultModelPath());
  });

  it('downloads the model into the HF cache layout and the engine loads it', async () => {
    const a = await api();
    assert.ok(!fs.existsSync(repoDir()), `the session's HF cache starts without ${REPO_ID}`);
    const info = await vscode.commands.executeCommand<any>('idp.selectModel', REPO_ID);
    assert.ok(info, `loaded (${a.jobs.lastFailure?.message ?? 'no failure'})`);
    assert.equal(info.architecture, 'LlamaForCausalLM');
    // what was asked of the server: the listing of main, then the files (the safetensors through its CDN redirect)
    const asked = hub.since(0);
    assert.ok(asked.includes(`GET /api/models/${REPO_ID}/revision/main`), asked.join('\n'));
    const weights = fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'model.safetensors'));
    assert.ok(asked.includes(`GET /cdn/${sha256(weights)}`), asked.join('\n'));
    // huggingface_hub's layout: refs/main holds the commit, blobs are named by ETag, the snapshot links to them
    assert.equal(fs.readFileSync(path.join(repoDir(), 'refs', 'main'), 'utf8').trim(), commit);
    const snapshot = path.join(repoDir(), 'snapshots', commit);
    const link = path.join(snapshot, 'model.safetensors');
    assert.ok(fs.lstatSync(link).isSymbolicLink(), `${link} is a link into blobs/`);
    assert.equal(fs.realpathSync(link), fs.realpathSync(path.join(repoDir(), 'blobs', sha256(weights))));
    assert.ok(fs.readFileSync(link).equals(weights), 'the weights are the served bytes');
    const config = fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'config.json'));
    assert.ok(fs.existsSync(path.join(repoDir(), 'blobs', gitSha1(config))), 'config.json stored under its git blob sha1');
    // the engine has it loaded, the status bar says so, the setting keeps the id
    assert.ok(a.engine.model, 'the engine reports a model');
    assert.ok(a.engine.model.path === REPO_ID || a.engine.model.path.startsWith(snapshot), `engine model ${a.engine.model.path}`);
    assert.equal(vscode.workspace.getConfiguration('idp').get('modelPath'), REPO_ID);
    await waitFor(`the status bar to show the model (${a.status.text})`, () => a.status.text.includes('default-model'));
    const r = await vscode.commands.executeCommand<any>('idp.generate', { prompt: 'export function ', maxTokens: 4 });
    assert.ok(r && r.ids.length === 4, `generated with the Hub model (${a.jobs.lastFailure?.message ?? 'no failure'})`);
  });

  it('a second selection loads it from the cache without a request to the server', async () => {
    const a = await api();
    const before = hub.requests.length;
    const info = await vscode.commands.executeCommand<any>('idp.selectModel', REPO_ID);
    assert.ok(info, `loaded again (${a.jobs.lastFailure?.message ?? 'no failure'})`);
    assert.equal(info.architecture, 'LlamaForCausalLM');
    assert.deepEqual(hub.since(before), [], 'no request for a cached model');
    assert.equal(fs.readdirSync(path.join(repoDir(), 'snapshots')).length, 1);
  });
});
