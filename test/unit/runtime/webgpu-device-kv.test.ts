// The KV cache kept in GPU memory between WebGPU runs (CausalLM option deviceKv, runtime/device-kv.ts):
// the cache tensors stay 'gpu-buffer' between steps, are freed when replaced, and greedy decoding gives the
// CPU's tokens — single rows and a left-padded batch. On whatever adapter the machine has (CI: lavapipe).

import { strict as assert } from 'assert';
import { dataPath, STORIES } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate } from '../../../src/engine/runtime/generate';
import { createSession } from '../../../src/engine/runtime/session';
import { IdpError } from '../../../src/engine/errors';
import { requirePrereq } from '../../helpers/skip';

describe('runtime: WebGPU KV cache in GPU memory (deviceKv)', function () {
  this.timeout(120000);
  let gpu: CausalLM;
  let cpu: CausalLM;

  before(async function () {
    const model = await loadModel(dataPath(this, ...STORIES, 'stories260K.gguf'));
    gpu = new CausalLM(model, { ep: 'webgpu', deviceKv: true });
    cpu = new CausalLM(model, { threads: 1 });
    try {
      await gpu.session('last');
    } catch (e) {
      assert.ok(e instanceof IdpError && e.code === 'RUNTIME' && /webgpu/.test(e.message), String(e));
      requirePrereq(this, `no WebGPU adapter (a Vulkan device, e.g. Mesa's lavapipe): ${e.message}`);
    }
  });

  after(async () => {
    await gpu?.release();
    await cpu?.release();
  });

  it('keeps the cache on the device between steps and frees what a step replaces', async () => {
    assert.equal(gpu.deviceKv(), true);
    const state = gpu.newState(1);
    await gpu.prefill(state, [[1, 403, 407]], [[true, true, true]]);
    const first = state.past.slice();
    assert.ok(first.every((t) => t.location === 'gpu-buffer'), first.map((t) => t.location).join());
    assert.deepEqual(first[0].dims, [1, gpu.config.numKvHeads, 3, gpu.config.headDim]);
    await gpu.step(state, [[261]], [[true]], 'last');
    assert.deepEqual(state.past[0].dims, [1, gpu.config.numKvHeads, 4, gpu.config.headDim]);
    assert.ok(state.past.every((t) => t.location === 'gpu-buffer'));
    assert.ok(first.every((t) => t.location === 'none'));   // the replaced cache was freed (dispose())
  });

  it('greedy decode gives the CPU tokens', async () => {
    const g = await generate(gpu, undefined, [[1]], { maxTokens: 24 });
    const c = await generate(cpu, undefined, [[1]], { maxTokens: 24 });
    assert.deepEqual(g.rows[0].ids, c.rows[0].ids);
  });

  it('a left-padded batch, prefill in chunks, gives the CPU tokens', async () => {
    const prompts = [[1, 403, 407, 261, 378], [1, 432]];
    const chunked = new CausalLM(gpu.model, { ep: 'webgpu', deviceKv: true, prefillChunk: 2 });
    try {
      const g = await generate(chunked, undefined, prompts, { maxTokens: 10 });
      const c = await generate(cpu, undefined, prompts, { maxTokens: 10 });
      assert.deepEqual(g.rows.map((r) => r.ids), c.rows.map((r) => r.ids));
    } finally {
      await chunked.release();
    }
  });

  it('is refused on other execution providers with a typed error', async () => {
    await assert.rejects(createSession(new Uint8Array(0), '.', { ep: 'cpu', outputsOnDevice: ['x'] }),
      (e: unknown) => e instanceof IdpError && e.code === 'RUNTIME' && /webgpu/.test(e.message));
    assert.equal(new CausalLM(gpu.model, { deviceKv: true }).deviceKv(), false);   // cpu: the option does nothing
  });
});
