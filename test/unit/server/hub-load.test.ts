// The engine process loading a Hugging Face Hub reference (idp/load { model: "ORG/NAME" }), as the
// extension sends it: downloaded from a local Hub-like server into a temporary HF cache, its progress
// in the engine's log (stderr), generation from it; and an engine confined to Restricted Mode's
// folders refusing the reference before anything is downloaded.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { FakeHub, folderFiles } from '../../helpers/hub-server';
import { EngineClient } from '../../../src/extension/engine-client';
import { IdpError } from '../../../src/engine/errors';

const SERVER = path.resolve(__dirname, '..', '..', '..', 'src', 'server', 'main.js');
const REPO = 'idp-test/default-model';

describe('server: the engine process loads Hub references', function () {
  this.timeout(120000);
  const hub = new FakeHub();
  let env: NodeJS.ProcessEnv;
  const clients: EngineClient[] = [];
  const client = (o: Partial<ConstructorParameters<typeof EngineClient>[0]> = {}, log: string[] = []) => {
    const c = new EngineClient({ serverScript: SERVER, env, log: (l) => log.push(l), ...o });
    clients.push(c);
    return c;
  };

  before(async () => {
    hub.commit(REPO, folderFiles(DEFAULT_MODEL_DIR));
    const base = { ...process.env };
    for (const k of Object.keys(base)) if (/^(HF_|HUGGING)/.test(k)) delete base[k];
    env = { ...base, HF_ENDPOINT: await hub.start(), HF_HOME: tmpDir('idp-engine-hf-'), IDP_CACHE: tmpDir('idp-engine-cache-') };
  });
  after(async () => {
    for (const c of clients) c.dispose();
    await hub.stop();
  });

  it('idp/load with ORG/NAME downloads it (progress in the log), describes it and generates from it', async () => {
    const log: string[] = [];
    const c = client({}, log);
    const info = await c.load({ model: REPO });
    assert.equal(info.path, REPO);
    assert.equal(info.hub?.repo, REPO);
    assert.match(info.hub?.commit ?? '', /^[0-9a-f]{40}$/);
    assert.ok(log.some((l) => /downloading idp-test\/default-model\/model\.safetensors: .* — done/.test(l)), log.join('\n'));
    const r = await c.generate({ prompt: 'export function ', maxTokens: 4 });
    assert.equal(r.ids.length, 4);
    const snapshots = path.join(env.HF_HOME!, 'hub', 'models--idp-test--default-model', 'snapshots');
    assert.deepEqual(fs.readdirSync(snapshots), [info.hub!.commit]);
  });

  it('an engine confined to Restricted Mode\'s folders refuses a Hub reference (DENIED, naming its cache folder) and downloads nothing', async () => {
    const lab = tmpDir('idp-engine-lab-');
    const c = client({ access: () => ({ writable: [lab], readable: [DEFAULT_MODEL_DIR, lab] }) });
    const from = hub.requests.length;
    // (the client checks first, with this process's HF settings; the engine checks again with its own)
    await assert.rejects(c.load({ model: 'idp-test/other' }), (e: unknown) =>
      e instanceof IdpError && e.code === 'DENIED' && path.basename(e.file ?? '') === 'models--idp-test--other' && /outside the folders this engine may read/.test(e.message));
    assert.deepEqual(hub.since(from), []);
  });
});
