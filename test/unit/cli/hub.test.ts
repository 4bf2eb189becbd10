// `idp generate --model ORG/NAME` as a user runs it: a child process against a local server that
// answers like the Hugging Face Hub (the embedded default model served as a repository), with its
// own HF cache. Downloads once (progress on stderr), then works offline with the server gone, and
// generates what the same model does from its local folder.

import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { FakeHub, folderFiles } from '../../helpers/hub-server';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');

/** Runs the CLI without blocking this process (the server answering it lives here). */
function idp(env: Record<string, string | undefined>, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const base = { ...process.env };
    for (const k of Object.keys(base)) if (/^(HF_|HUGGING)/.test(k)) delete base[k];
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env } as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill(), 90000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('cli: models from the Hugging Face Hub', function () {
  this.timeout(180000);
  const hub = new FakeHub();
  let env: Record<string, string | undefined>;

  before(async () => {
    hub.commit('idp-test/default-model', { ...folderFiles(DEFAULT_MODEL_DIR), '.gitattributes': '*.safetensors filter=lfs' });
    const endpoint = await hub.start();
    env = { HF_ENDPOINT: endpoint, HF_HOME: tmpDir('idp-cli-hf-'), IDP_CACHE: tmpDir('idp-cli-cache-') };
  });
  after(() => hub.stop());

  it('generate --model ORG/NAME downloads once, then runs offline with the server gone, as the local folder does', async () => {
    const args = ['generate', '--prompt', 'export function ', '--max-tokens', '8', '--json'];
    const local = await idp(env, ...args, '--model', DEFAULT_MODEL_DIR);
    assert.equal(local.status, 0, local.stderr);
    const want = JSON.parse(local.stdout).ids;

    const first = await idp(env, ...args, '--model', 'idp-test/default-model');
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout).ids, want);
    assert.match(first.stderr, /downloading idp-test\/default-model\/model\.safetensors: .* — done/);
    const snapshots = path.join(env.HF_HOME!, 'hub', 'models--idp-test--default-model', 'snapshots');
    assert.equal(fs.readdirSync(snapshots).length, 1);

    const requests = hub.requests.length;
    const again = await idp(env, ...args, '--model', 'idp-test/default-model');
    assert.equal(again.status, 0, again.stderr);
    assert.equal(hub.requests.length, requests, 'a cached model touches no network');
    assert.doesNotMatch(again.stderr, /downloading/);

    await hub.stop();
    const offline = await idp({ ...env, HF_HUB_OFFLINE: '1' }, ...args, '--model', 'idp-test/default-model');
    assert.equal(offline.status, 0, offline.stderr);
    assert.deepEqual(JSON.parse(offline.stdout).ids, want);

    const info = await idp({ ...env, HF_HUB_OFFLINE: '1' }, 'info', '--model', 'idp-test/default-model', '--json');
    assert.equal(info.status, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).hub.repo, 'idp-test/default-model');
    assert.match(JSON.parse(info.stdout).hub.commit, /^[0-9a-f]{40}$/);
  });

  it('a reference that is neither cached nor allowed to download exits 3 naming it', async () => {
    const r = await idp({ ...env, HF_HUB_OFFLINE: '1' }, 'generate', '--model', 'idp-test/not-cached', '--max-tokens', '1');
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /^idp: idp-test\/not-cached: not in the Hugging Face cache .*HF_HUB_OFFLINE/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
