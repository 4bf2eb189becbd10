// Bad input to the runtime: typed errors, never a crash or a hang.

import { strict as assert } from 'assert';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate, promptIds } from '../../../src/engine/runtime/generate';
import { createSession, whyNotAvailable } from '../../../src/engine/runtime/session';
import { IdpError } from '../../../src/engine/errors';
import { skipBecause } from '../../helpers/skip';

const isCode = (code: string) => (e: unknown) => e instanceof IdpError && e.code === code;

describe('runtime: bad input', () => {
  const dir = tmpDir('idp-rt-errors-');
  let llama: CausalLM;
  let gpt2: CausalLM;

  before(async () => {
    writeTinyModel(path.join(dir, 'llama'), { ...TINY_SPECS.llamaGqa, maxPositions: 16 });
    writeTinyModel(path.join(dir, 'gpt2'), TINY_SPECS.gpt2);
    llama = new CausalLM(await loadModel(path.join(dir, 'llama')), { threads: 1 });
    gpt2 = new CausalLM(await loadModel(path.join(dir, 'gpt2')), { threads: 1 });
  });

  it('a prompt longer than the context', async () => {
    await assert.rejects(generate(llama, undefined, [new Array(17).fill(3)], { maxTokens: 1 }), isCode('INPUT'));
    await assert.rejects(llama.logits([new Array(17).fill(3)]), isCode('INPUT'));
  });

  it('generation stops at the end of the context with finish "context"', async () => {
    const r = await generate(llama, undefined, [new Array(10).fill(3)], { maxTokens: 50, stopIds: [] });
    assert.equal(r.rows[0].finish, 'context');
    assert.equal(r.rows[0].ids.length, 7);   // 10 prompt + 6 cached decode inputs = 16 positions, 7 tokens sampled
  });

  it('an empty prompt', async () => {
    await assert.rejects(generate(llama, undefined, [[]]), isCode('INPUT'));
    await assert.rejects(generate(llama, undefined, []), isCode('INPUT'));
    // GPT-2 has no BOS to condition on: empty text is an error; Llama starts from BOS
    assert.throws(() => promptIds(gpt2, undefined, ''), isCode('INPUT'));
    assert.deepEqual(promptIds(llama, undefined, ''), [1]);
  });

  it('text without a tokenizer', () => {
    assert.throws(() => promptIds(llama, undefined, 'hello'), isCode('INPUT'));
  });

  it('token ids outside the vocabulary', async () => {
    await assert.rejects(llama.logits([[1, 96]]), isCode('INPUT'));
    await assert.rejects(llama.logits([[1, -1]]), isCode('INPUT'));
    await assert.rejects(llama.logits([[1, 2.5]]), isCode('INPUT'));
  });

  it('a negative or fractional token budget', async () => {
    await assert.rejects(generate(llama, undefined, [[1]], { maxTokens: -1 }), isCode('INPUT'));
    await assert.rejects(generate(llama, undefined, [[1]], { maxTokens: 1.5 }), isCode('INPUT'));
  });

  it('max tokens 0 generates nothing', async () => {
    const r = await generate(llama, undefined, [[1]], { maxTokens: 0 });
    assert.deepEqual(r.rows[0].ids, []);
  });

  it('an execution provider that cannot run here is a RUNTIME error that says why', async function () {
    const why = whyNotAvailable('cuda');
    // machine-dependent (a GPU machine has the CUDA EP files), not a CI prerequisite: skips even on CI
    if (!why) skipBecause(this, 'the CUDA EP can load on this machine, so there is no provider error to check');
    await assert.rejects(createSession(new Uint8Array(0), dir, { ep: 'cuda' }), (e: unknown) =>
      isCode('RUNTIME')(e) && /cuda/i.test((e as Error).message) && /install/.test((e as Error).message));
  });

  it('cancellation stops a run between steps (sampling) or chunks (greedy)', async () => {
    let n = 0;
    const sampled = await generate(llama, undefined, [[1]], { maxTokens: 12, temperature: 1, stopIds: [], onToken: () => n++, isCancelled: () => n >= 3 });
    assert.equal(sampled.rows[0].finish, 'cancelled');
    assert.equal(sampled.rows[0].ids.length, 3);
    n = 0;
    const greedy = await generate(llama, undefined, [[1]], { maxTokens: 15, stopIds: [], onToken: () => n++, isCancelled: () => n >= 3 });
    assert.equal(greedy.rows[0].finish, 'cancelled');
    assert.ok(greedy.rows[0].ids.length >= 3 && greedy.rows[0].ids.length < 15, String(greedy.rows[0].ids.length));
  });
});
