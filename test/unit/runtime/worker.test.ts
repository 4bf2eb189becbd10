// The engine in a worker thread: the caller's event loop keeps running during a long generation,
// results equal in-process generation, cancel works, errors arrive typed.

import { strict as assert } from 'assert';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { RemoteLM } from '../../../src/engine/runtime/worker-host';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate } from '../../../src/engine/runtime/generate';
import { IdpError } from '../../../src/engine/errors';

describe('runtime: engine worker thread', function () {
  this.timeout(60000);
  const dir = path.join(tmpDir('idp-worker-'), 'm');
  let remote: RemoteLM;

  before(async () => {
    // a model big enough that a generation takes a while
    writeTinyModel(dir, { ...TINY_SPECS.llamaGqa, hiddenSize: 256, numHeads: 8, numKvHeads: 4, intermediateSize: 1024, numLayers: 4, vocabSize: 2000, maxPositions: 512 });
    remote = await RemoteLM.start(dir, { threads: 1 });
  });
  after(() => remote?.close());

  it('reports the loaded model', () => {
    assert.equal(remote.info.layers, 4);
  });

  it('generates what the in-process engine generates, streaming tokens', async () => {
    const streamed: number[] = [];
    const r = await remote.generate({ ids: [[1, 5, 9]], options: { maxTokens: 20, stopIds: [] } }, (_row, id) => streamed.push(id));
    const local = await generate(new CausalLM(await loadModel(dir), { threads: 1 }), undefined, [[1, 5, 9]], { maxTokens: 20, stopIds: [] });
    assert.deepEqual(r.rows[0].ids, local.rows[0].ids);
    assert.deepEqual(streamed, r.rows[0].ids);
  });

  it('does not block the caller: timers keep firing during a long run', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = Date.now();
    const r = await remote.generate({ ids: [[1]], options: { maxTokens: 400, stopIds: [] } });
    clearInterval(timer);
    const ms = Date.now() - t0;
    assert.equal(r.rows[0].ids.length, 400);
    // a blocked loop would tick ~0 times; allow for a loaded machine
    assert.ok(ticks >= ms / 5 / 4, `${ticks} ticks in ${ms} ms`);
  });

  it('cancels a run in flight', async () => {
    let seen = 0;
    const run = remote.generate({ ids: [[1]], options: { maxTokens: 480, stopIds: [] } }, () => {
      if (++seen === 5) remote.cancel();
    });
    const r = await run;
    assert.equal(r.rows[0].finish, 'cancelled');
    assert.ok(r.rows[0].ids.length < 480);
  });

  it('errors cross the thread boundary typed', async () => {
    await assert.rejects(remote.generate({ ids: [[]] }), (e: unknown) => e instanceof IdpError && e.code === 'INPUT');
    await assert.rejects(RemoteLM.start(path.join(dir, 'nope')), (e: unknown) => e instanceof IdpError && e.code === 'NOT_FOUND');
  });
});
