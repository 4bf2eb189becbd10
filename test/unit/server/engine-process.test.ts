// The engine process as the extension uses it: a real child process speaking vscode-jsonrpc over
// stdio, driven through EngineClient. Typed requests, streamed progress, cancellation, typed
// errors across the wire, and restarts after the process is killed or stops answering.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { EngineClient, MAX_RESTARTS } from '../../../src/extension/engine-client';
import { IdpError } from '../../../src/engine/errors';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate, promptIds } from '../../../src/engine/runtime/generate';
import type { GenerateProgress, ModelInfo } from '../../../src/protocol/engine-rpc';

const SERVER = path.resolve(__dirname, '..', '..', '..', 'src', 'server', 'main.js');

const isIdp = (code: string, re?: RegExp) => (e: unknown) =>
  e instanceof IdpError && e.code === code && (!re || re.test(e.message)) || assert.fail(`expected IdpError ${code} ${re ?? ''}, got ${e}`);

function waitFor<T>(what: string, poll: () => T | undefined, ms = 20000): Promise<T> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = poll();
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('server: engine process over JSON-RPC', function () {
  this.timeout(60000);
  let model: string;
  let client: EngineClient;
  const log: string[] = [];
  const crashes: Array<{ reason: string; restarting: boolean }> = [];
  const restarted: Array<ModelInfo | null> = [];

  before(function () {
    model = dataPath(this, ...STORIES, 'stories260K.gguf');
    client = new EngineClient({
      serverScript: SERVER, log: (l) => log.push(l), cancelGraceMs: 1500,
      onCrash: (reason, restarting) => crashes.push({ reason, restarting }),
      onRestarted: (info) => restarted.push(info),
    });
  });
  after(() => client?.dispose());

  it('starts lazily, reports its capabilities, and loads a model', async () => {
    assert.ok((await client.capabilities()).includes('generate'));
    assert.equal(await client.info(), null);
    const info = await client.load({ model });
    assert.equal(info.architecture, 'LlamaForCausalLM');
    assert.equal(info.layers, 5);
    assert.equal(info.ep, 'cpu');
    assert.equal(info.fim, false);
    assert.deepEqual(await client.info(), info);
    assert.match(log.join('\n'), /engine started \(pid \d+/);
  });

  it('loads with executionProvider auto: runs on the provider chosen, and says why not the ones before it', async () => {
    const info = await client.load({ model, ep: 'auto' });
    const order = ['cuda', 'webgpu', 'cpu'];
    assert.ok(order.includes(info.ep), info.ep);
    assert.equal(info.epSetting, 'auto');
    assert.deepEqual(info.epPassed!.map((p) => p.ep), order.slice(0, order.indexOf(info.ep)));
    for (const p of info.epPassed!) assert.ok(p.reason.length > 10, p.reason);
    const cpu = await client.load({ model });   // the tests below run on the CPU
    assert.equal(cpu.ep, 'cpu');
    assert.equal(cpu.epSetting, 'cpu');
    assert.equal(cpu.epPassed, undefined);
  });

  it('generates exactly what the in-process engine generates, streaming progress', async () => {
    const seen: GenerateProgress[] = [];
    const r = await client.generate({ prompt: 'Once upon a time', maxTokens: 40 }, (p) => seen.push(p));
    const m = await loadModel(model);
    const lm = new CausalLM(m, { threads: 1 });
    const local = await generate(lm, m.tokenizer, [promptIds(lm, m.tokenizer, 'Once upon a time')], { maxTokens: 40 });
    assert.deepEqual(r.ids, local.rows[0].ids);
    assert.equal(r.text, local.rows[0].text);
    assert.ok(seen.length >= 1, 'at least the last token is reported');
    const last = seen[seen.length - 1];
    assert.ok(r.text.startsWith(last.text));
    assert.equal(last.maxTokens, 40);
    assert.ok(last.tokensPerSecond > 0);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].tokens > seen[i - 1].tokens);
  });

  it('gives the continuation as it reads after the prompt (the first word keeps its space)', async () => {
    const m = await loadModel(model);
    const lm = new CausalLM(m, { threads: 1 });
    for (const prompt of ['Lily and Tom', 'Once upon a time, there was a little girl named Lily.\n She']) {
      const r = await client.generate({ prompt, maxTokens: 8 });
      const ids = promptIds(lm, m.tokenizer, prompt);
      assert.equal(m.tokenizer!.decode(ids) + r.text, m.tokenizer!.decode([...ids, ...r.ids]), prompt);
      assert.match(r.text, /^ /, `${JSON.stringify(r.text)} starts a new word`);
    }
  });

  it('completes a cursor context (prefix only for a model without FIM tokens), cutting a long prefix to fit', async () => {
    const r = await client.generate({ fim: { prefix: 'Once upon a time', suffix: ' The end.' }, maxTokens: 6 });
    const plain = await client.generate({ prompt: 'Once upon a time', maxTokens: 6 });
    assert.equal(r.text, plain.text);
    const long = 'Lily and Tom played in the park. '.repeat(200);
    const cut = await client.generate({ fim: { prefix: long, suffix: '' }, maxTokens: 4 });
    assert.equal(cut.ids.length, 4);
    await assert.rejects(client.generate({ prompt: long, maxTokens: 4 }), isIdp('INPUT', /longer than the model's context/));
  });

  it('cancels a generation in flight (JSON-RPC $/cancelRequest)', async () => {
    const cts = new CancellationTokenSource();
    let n = 0;
    const r = await client.generate({ maxTokens: 500, temperature: 1, seed: 3 }, (p) => { n = p.tokens; if (p.tokens >= 3) cts.cancel(); }, cts.token);
    assert.ok(n >= 3);
    assert.ok(r.finish === 'cancelled' || r.ids.length < 500, `finish ${r.finish} after ${r.ids.length} tokens`);
  });

  it('carries typed errors: missing file, a file that is not a model, bad parameters', async () => {
    const dir = tmpDir('idp-server-');
    await assert.rejects(client.load({ model: path.join(dir, 'nope.gguf') }), (e: unknown) => isIdp('NOT_FOUND')(e) && (e as IdpError).file === path.join(dir, 'nope.gguf'));
    const notModel = path.join(dir, 'notes.txt');
    fs.writeFileSync(notModel, 'just some text, not a model\n');
    await assert.rejects(client.load({ model: notModel }), isIdp('FORMAT'));
    const fakeGguf = path.join(dir, 'x.gguf');
    fs.writeFileSync(fakeGguf, 'hello');
    await assert.rejects(client.load({ model: fakeGguf }), isIdp('FORMAT', /GGUF/));
    await assert.rejects(client.load({ model: '' }), isIdp('INPUT'));
    await assert.rejects(client.load({ model, ep: 'tpu' as never }), isIdp('INPUT', /execution provider/));
    await assert.rejects(client.generate({ maxTokens: -1 }), isIdp('INPUT', /maxTokens/));
    await assert.rejects(client.generate({ stop: [''] }), isIdp('INPUT', /stop/));
    await assert.rejects(client.generate('hello' as never), isIdp('INPUT'));
    // a failed load leaves the loaded model in place
    assert.equal((await client.info())?.path, path.resolve(model));
    assert.equal(crashes.length, 0);
  });

  it('never blocks the caller: timers run during a long generation', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = Date.now();
    await client.generate({ maxTokens: 400, temperature: 1, seed: 1, stop: [] });
    clearInterval(timer);
    const ms = Date.now() - t0;
    assert.ok(ticks >= Math.floor(ms / 5 / 4), `${ticks} ticks in ${ms} ms`);
  });

  it('says so when the process is killed, fails the pending request, restarts and reloads the model', async () => {
    const pid = await client.processId();
    let killed = false;
    const pending = client.generate({ maxTokens: 500, temperature: 1, seed: 5 }, () => {
      if (!killed) { killed = true; process.kill(pid, 'SIGKILL'); }
    });
    await assert.rejects(pending, isIdp('RUNTIME', /died/));
    await waitFor('restart', () => restarted.length === 1);
    assert.equal(crashes.length, 1);
    assert.match(crashes[0].reason, /killed \(SIGKILL/);
    assert.equal(crashes[0].restarting, true);
    assert.equal(restarted[0]?.path, path.resolve(model), 'the model is loaded again');
    const pid2 = await client.processId();
    assert.notEqual(pid2, pid);
    assert.ok(!pidAlive(pid));
    const r = await client.generate({ prompt: 'Once upon a time', maxTokens: 5 });
    assert.equal(r.ids.length, 5);
  });

  it('restarts an engine that does not answer a cancel (stopped process), so no progress waits forever', async () => {
    const pid = await client.processId();
    const cts = new CancellationTokenSource();
    let stopped = false;
    const t0 = Date.now();
    const pending = client.generate({ maxTokens: 500, temperature: 1, seed: 9 }, () => {
      if (!stopped) { stopped = true; process.kill(pid, 'SIGSTOP'); cts.cancel(); }
    }, cts.token);
    await assert.rejects(pending, isIdp('RUNTIME', /did not stop within 1500 ms/));
    assert.ok(Date.now() - t0 < 10000);
    assert.notEqual(await client.processId(), pid);
    await waitFor('old process gone', () => !pidAlive(pid) || undefined);
    assert.equal((await client.generate({ prompt: 'Once', maxTokens: 3 })).ids.length, 3);
  });

  it('gives up after repeated crashes and says why; the next request starts it again', async () => {
    const seen: Array<{ reason: string; restarting: boolean }> = [];
    const c = new EngineClient({ serverScript: SERVER, onCrash: (reason, restarting) => seen.push({ reason, restarting }) });
    try {
      await c.load({ model });
      for (let i = 0; i <= MAX_RESTARTS; i++) {
        process.kill(await c.processId(), 'SIGKILL');
        await waitFor(`crash ${i + 1}`, () => seen.length === i + 1);
      }
      assert.deepEqual(seen.map((x) => x.restarting), [...new Array(MAX_RESTARTS).fill(true), false]);
      assert.match(seen[MAX_RESTARTS].reason, /killed \(SIGKILL/);
      assert.equal(c.model, null);
      // a deliberate request starts it again
      await c.load({ model });
      assert.equal((await c.generate({ prompt: 'Once', maxTokens: 2 })).ids.length, 2);
    } finally {
      await c.dispose();
    }
  });

  it('reports a server that cannot start, and dispose() ends the process', async () => {
    const dir = tmpDir('idp-server-');
    const bad = path.join(dir, 'bad-server.js');
    fs.writeFileSync(bad, 'process.stderr.write("boom: cannot load the engine\\n"); process.exit(3);\n');
    const c = new EngineClient({ serverScript: bad });
    await assert.rejects(c.capabilities(), isIdp('RUNTIME', /exited during start-up: boom/));
    const pid = await client.processId();
    await client.dispose();
    assert.ok(!pidAlive(pid));
  });
});
