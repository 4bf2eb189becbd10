// `idp serve` as OpenAI-compatible tools use it: the real server (in-process, port 0, and as the CLI child)
// on the embedded default model, driven by the official `openai` npm client. Answers are checked against
// the engine's own generate on the same ids.

import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { tmpDir } from '../../helpers/data';
import { childrenOf, waitFor } from '../../helpers/kill';
import { randomPrompt } from '../../helpers/idp';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate, GenerateOptions, promptIds } from '../../../src/engine/runtime/generate';
import { IdpBank } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';
import { IdpError } from '../../../src/engine/errors';
import { findFimTokens } from '../../../src/engine/fim';
import { RunningServer, ServeOptions, startServer } from '../../../src/server/openai/server';

// required, not imported: the client's types are not what these tests check (bodies carry the extra idp field)
const { OpenAI } = require('openai');

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const LONG = 'import os\n';   // greedy and sampled runs on this prompt go on to the end of the context (no EOS)

type Cancel = { closedAt: number; stoppedAt: number; tokensAfterClose: number };

describe('server: idp serve (OpenAI-compatible API) with the openai client', function () {
  this.timeout(60000);
  let m: LoadedModel;
  let lm: CausalLM;
  const servers: RunningServer[] = [];
  const cancels: Cancel[] = [];

  const serve = async (o: Partial<ServeOptions> = {}) => {
    const s = await startServer({ model: DEFAULT_MODEL_DIR, port: 0, onCancelled: (c) => cancels.push(c), ...o });
    servers.push(s);
    return s;
  };
  const client = (s: RunningServer, apiKey = 'unused') => new OpenAI({ baseURL: s.url, apiKey, maxRetries: 0 });
  const local = async (ids: number[], o: GenerateOptions) => (await generate(lm, m.tokenizer, [ids], o)).rows[0];

  let plain: RunningServer;
  before(async () => {
    m = await loadModel(DEFAULT_MODEL_DIR);
    lm = new CausalLM(m, { threads: 1 });
    plain = await serve();
  });
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('lists the model, and a greedy completion is exactly the engine\'s greedy generate', async () => {
    const c = client(plain);
    const list = await c.models.list();
    assert.deepEqual(list.data.map((x: { id: string }) => x.id), ['default']);
    const prompt = 'def add(a, b):';
    const r = await c.completions.create({ model: 'default', prompt, max_tokens: 24, temperature: 0 });
    const ids = promptIds(lm, m.tokenizer, prompt);
    const ref = await local(ids, { maxTokens: 24 });
    assert.equal(r.choices[0].text, ref.text);
    assert.ok(ref.text.length > 0);
    assert.equal(r.choices[0].finish_reason, ref.finish === 'stop' ? 'stop' : 'length');
    assert.deepEqual(r.usage, { prompt_tokens: ids.length, completion_tokens: ref.ids.length, total_tokens: ids.length + ref.ids.length });
    assert.equal(r.idp, undefined, 'no bank, no IDP field');
  });

  it('a seeded sampled completion is the engine\'s sampled generate with that seed (temperature, top_p)', async () => {
    const r = await client(plain).completions.create({ model: 'default', prompt: 'class ', max_tokens: 20, temperature: 0.9, top_p: 0.9, seed: 7 });
    const ref = await local(promptIds(lm, m.tokenizer, 'class '), { maxTokens: 20, temperature: 0.9, topP: 0.9, seed: 7 });
    assert.equal(r.choices[0].text, ref.text);
  });

  it('suffix fills in the middle with the model\'s FIM tokens, laid out prefix-suffix-middle', async () => {
    const prefix = 'def add(a, b):\n    ';
    const suffix = '\n\nprint(add(1, 2))\n';
    const r = await client(plain).completions.create({ model: 'default', prompt: prefix, suffix, max_tokens: 16, temperature: 0 });
    const tok = m.tokenizer!;
    const fim = findFimTokens(tok)!;
    const ids = [m.config.bosTokenId!, fim.prefix, ...tok.encode(prefix), fim.suffix, ...tok.encode(suffix), fim.middle!];
    const ref = await local(ids, { maxTokens: 16 });
    assert.equal(r.usage.prompt_tokens, ids.length);
    assert.equal(r.choices[0].text, ref.text);
  });

  it('streams server-sent events whose chunks join to the non-streamed text, with usage at the end; stop cuts both alike', async () => {
    const c = client(plain);
    for (const stop of [undefined, ['\n    if']]) {
      const body = { model: 'default', prompt: 'def add(a, b):', max_tokens: 40, temperature: 0, stop };
      const whole = await c.completions.create(body);
      const parts: string[] = [];
      let usage: unknown;
      let finish: string | null = null;
      for await (const ch of await c.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })) {
        if (ch.choices.length) { parts.push(ch.choices[0].text); finish = ch.choices[0].finish_reason ?? finish; }
        if (ch.usage) usage = ch.usage;
      }
      assert.ok(parts.length > 3, `streamed in pieces (${parts.length})`);
      assert.equal(parts.join(''), whole.choices[0].text);
      assert.deepEqual(usage, whole.usage);
      assert.equal(finish, whole.choices[0].finish_reason);
      if (stop) {
        assert.equal(whole.choices[0].finish_reason, 'stop', 'the stop sequence occurs in the greedy text');
        assert.ok(!whole.choices[0].text.includes(stop[0]));
      }
    }
  });

  it('chat without a chat template is a clear 400; with one it renders the template and streams the same answer', async () => {
    await assert.rejects(client(plain).chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'hi' }] }),
      (e: { status: number; error: { code: string; message: string } }) => e.status === 400 && e.error.code === 'no_chat_template' && /no chat template/.test(e.error.message));

    const dir = path.join(tmpDir('idp-serve-chat-'), 'chatty');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(DEFAULT_MODEL_DIR)) fs.copyFileSync(path.join(DEFAULT_MODEL_DIR, f), path.join(dir, f));
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    cfg.chat_template = '{{ bos_token }}{% for m in messages %}# {{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}def {% endif %}';
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const s = await serve({ model: dir });
    const c = client(s);
    const messages = [{ role: 'system', content: 'write python' }, { role: 'user', content: 'add two numbers' }];
    const r = await c.chat.completions.create({ model: 'chatty', messages, max_tokens: 24, temperature: 0 });
    // the template writes BOS as text: it becomes the BOS id, and no second BOS is put before it
    const ids = [m.config.bosTokenId!, ...m.tokenizer!.encode('# system: write python\n# user: add two numbers\ndef ')];
    const ref = await local(ids, { maxTokens: 24 });
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, ref.text);
    assert.equal(r.usage.prompt_tokens, ids.length);
    assert.equal(r.model, 'chatty');
    let text = '';
    for await (const ch of await c.chat.completions.create({ model: 'chatty', messages, max_tokens: 24, temperature: 0, stream: true })) text += ch.choices[0]?.delta?.content ?? '';
    assert.equal(text, ref.text);
  });

  it('bad parameters are 400s in OpenAI\'s error shape, naming the parameter', async () => {
    const c = client(plain);
    for (const [body, param] of [
      [{ prompt: 'x', temperature: 5 }, 'temperature'],
      [{ prompt: 'x', max_tokens: -1 }, 'max_tokens'],
      [{ prompt: 'x', n: 2 }, 'n'],
      [{ prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ prompt: 42 }, 'prompt'],
      [{ prompt: 'x '.repeat(2000) }, null],   // longer than the 512-token context
    ] as Array<[object, string | null]>) {
      await assert.rejects(c.completions.create({ model: 'default', ...body }), (e: { status: number; error: { type: string; param: string | null; message: string } }) => {
        assert.equal(e.status, 400, JSON.stringify(body).slice(0, 80));
        assert.equal(e.error.type, 'invalid_request_error');
        assert.equal(e.error.param, param);
        assert.ok(e.error.message.length > 10);
        return true;
      });
    }
  });

  it('a huge prompt is refused without tokenising it (the event loop stays free); a body over 4 MB is a 413', async () => {
    const c = client(plain);
    const huge = 'def add(a, b):\n    return a + b\n'.repeat(100000);   // 3.2 MB: tokenising it takes seconds
    const t0 = performance.now();
    await assert.rejects(c.completions.create({ model: 'default', prompt: huge, max_tokens: 4 }),
      (e: { status: number; error: { code: string } }) => e.status === 400 && e.error.code === 'context_length_exceeded');
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
    await assert.rejects(c.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: huge + huge }] }), (e: { status: number }) => e.status === 413);
  });

  it('a prompt of more tokens than the context (but few enough characters to tokenise) is a 400 context_length_exceeded naming both', async () => {
    const c = client(plain);
    const prompt = ' a'.repeat(600);   // one token each: 600 + BOS > 512
    await assert.rejects(c.completions.create({ model: 'default', prompt, max_tokens: 4 }),
      (e: { status: number; error: { code: string; message: string } }) =>
        e.status === 400 && e.error.code === 'context_length_exceeded' && /the prompt is 601 tokens; this model reads at most 512/.test(e.error.message));
  });

  it('16 concurrent clients: every request answered or refused with 429, none lost, the server still serves', async () => {
    const s = await serve({ maxQueue: 8 });
    const c = client(s);
    const settled = await Promise.allSettled(Array.from({ length: 16 }, (_, i) =>
      c.completions.create({ model: 'default', prompt: LONG, max_tokens: 64, temperature: 0.8, seed: i })));
    const ok = settled.filter((x) => x.status === 'fulfilled').length;
    const refused = settled.filter((x) => x.status === 'rejected' && (x as PromiseRejectedResult).reason.status === 429).length;
    assert.equal(ok + refused, 16, 'every request got an answer or a 429');
    assert.ok(ok >= 9, `${ok} answered (1 running + 8 waiting at least)`);
    assert.equal(s.queue.stats.refused, refused);
    assert.equal((await c.completions.create({ model: 'default', prompt: 'x', max_tokens: 2, temperature: 0 })).usage.completion_tokens, 2);
  });

  it('with --api-key every request needs the key (401 without it)', async () => {
    const s = await serve({ apiKey: 'sekret' });
    await assert.rejects(client(s, 'wrong').models.list(), (e: { status: number; error: { type: string } }) => e.status === 401 && e.error.type === 'authentication_error');
    assert.equal((await client(s, 'sekret').models.list()).data[0].id, 'default');
  });

  it('runs one generation at a time with --max-queue waiting: N+2 concurrent requests get N+1 answers and one 429', async () => {
    const N = 2;
    const s = await serve({ maxQueue: N });
    const c = client(s);
    const settled = await Promise.allSettled(Array.from({ length: N + 2 }, () => c.completions.create({ model: 'default', prompt: LONG, max_tokens: 400, temperature: 0 })));
    const ok = settled.filter((x) => x.status === 'fulfilled') as PromiseFulfilledResult<{ choices: Array<{ text: string }>; usage: { completion_tokens: number } }>[];
    const refused = settled.filter((x) => x.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(ok.length, N + 1);
    assert.equal(refused.length, 1);
    assert.equal(refused[0].reason.status, 429);
    assert.equal(refused[0].reason.error.type, 'rate_limit_error');
    for (const r of ok) assert.equal(r.value.usage.completion_tokens, 400, 'every accepted request ran in full');
    assert.equal(new Set(ok.map((r) => r.value.choices[0].text)).size, 1, 'greedy answers are the same, one after another');
    assert.deepEqual(s.queue.stats, { running: 0, waiting: 0, refused: 1 });
  });

  it('a waiting request whose client aborts leaves the queue at once: its place is free, and it never runs', async () => {
    const s = await serve({ maxQueue: 1 });
    const c = client(s);
    const first = c.completions.create({ model: 'default', prompt: LONG, max_tokens: 480, temperature: 0.8, seed: 1 });   // seed 1 runs all 480 tokens (~1 s)
    await waitFor(() => s.queue.stats.running === 1, 5000, 'the first request to run');
    const ac = new AbortController();
    const second = c.completions.create({ model: 'default', prompt: LONG, max_tokens: 480, temperature: 0 }, { signal: ac.signal }).catch((e: Error) => e);
    await waitFor(() => s.queue.stats.waiting === 1, 5000, 'the second request to wait');
    ac.abort();
    await waitFor(() => s.queue.stats.waiting === 0, 5000, 'the aborted request to leave the line');
    assert.equal(s.queue.stats.running, 1, 'the first request still runs: the place was freed by the abort');
    const third = await c.completions.create({ model: 'default', prompt: 'x = ', max_tokens: 4, temperature: 0 });
    const a = await first;
    const aborted = (await second) as Error;
    assert.ok(aborted instanceof Error && /abort/i.test(`${aborted.name} ${aborted.message}`), String(aborted));
    assert.equal(s.host.tokensGenerated, a.usage.completion_tokens + third.usage.completion_tokens, 'the aborted request decoded nothing');
    assert.equal(s.queue.stats.refused, 0);
  });

  it('a client that aborts stops its generation within 100 ms, and the server goes on serving', async () => {
    const c = client(plain);
    const before = cancels.length;
    const ac = new AbortController();
    let abortAt = 0;
    let chunks = 0;
    // the client's stream ends quietly on an abort (openai's Stream swallows the AbortError)
    const stream = await c.completions.create({ model: 'default', prompt: LONG, max_tokens: 480, temperature: 0.8, seed: 1, stream: true }, { signal: ac.signal });
    try {
      for await (const _ of stream) {
        if (++chunks === 5) { abortAt = performance.now(); ac.abort(); }
      }
    } catch (e) {
      if ((e as Error).name !== 'AbortError' && !/abort/i.test(String(e))) throw e;
    }
    assert.equal(chunks, 5, 'no chunk arrived after the abort');
    const cancel = await waitFor(() => cancels[before], 5000, 'the server to report the cancelled generation');
    const tokensAtStop = plain.host.tokensGenerated;
    assert.ok(cancel.closedAt - abortAt < 100, `the server saw the close ${(cancel.closedAt - abortAt).toFixed(1)} ms after the abort`);
    assert.ok(cancel.stoppedAt - abortAt < 100, `generation stopped ${(cancel.stoppedAt - abortAt).toFixed(1)} ms after the abort`);
    assert.ok(cancel.tokensAfterClose <= 2, `${cancel.tokensAfterClose} tokens decoded after the close`);
    console.log(`      abort → server saw close ${(cancel.closedAt - abortAt).toFixed(1)} ms, generation stopped ${(cancel.stoppedAt - abortAt).toFixed(1)} ms, ${cancel.tokensAfterClose} tokens after`);
    const r = await c.completions.create({ model: 'default', prompt: 'def add(a, b):', max_tokens: 8, temperature: 0 });
    assert.equal(r.usage.completion_tokens, 8);
    assert.equal(plain.host.tokensGenerated, tokensAtStop + 8, 'nothing kept decoding for the aborted request');
  });

  it('with --bank, answers carry the bank prompt IDP selected and the text of IdpLM.generate', async () => {
    const dir = path.join(tmpDir('idp-serve-bank-'), 'bank');
    await IdpBank.fromPrompts(m, [randomPrompt(m, 4, 1), randomPrompt(m, 6, 2)]).save(dir, m);
    const s = await serve({ bank: dir });
    const prompt = 'def add(a, b):';
    const r = await client(s).completions.create({ model: 'default', prompt, max_tokens: 16, temperature: 0 });
    const idp = new IdpLM(m, IdpBank.load(dir, m), { threads: 1 });
    const ref = await idp.generate(m.tokenizer, [promptIds(lm, m.tokenizer, prompt)], { maxTokens: 16 });
    assert.equal(r.choices[0].text, ref.rows[0].text);
    assert.equal(r.idp.selected_prompt, ref.selected[0]);
    assert.equal(r.idp.prompt_tokens, [4, 6][ref.selected[0]]);
    assert.equal(r.idp.scores.length, 2);
  });

  it('refuses a non-loopback address without --api-key (typed error; the CLI exits 2), and the CLI serves 16 concurrent clients with flat memory until SIGTERM', async () => {
    await assert.rejects(startServer({ model: DEFAULT_MODEL_DIR, host: '0.0.0.0', port: 0 }), (e: unknown) => e instanceof IdpError && e.code === 'INPUT' && /--api-key/.test(e.message));
    const refused = spawnSync(process.execPath, [CLI, 'serve', '--host', '0.0.0.0'], { encoding: 'utf8', timeout: 30000 });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /--host 0\.0\.0\.0 .*--api-key/);

    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(out)?.[0], 30000, 'the CLI to print its address');
      const c = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
      assert.equal((await c.completions.create({ model: 'default', prompt: 'x = ', max_tokens: 4, temperature: 0 })).usage.completion_tokens, 4);
      // memory: the server's resident set after one client's requests, then after rounds of 16 concurrent clients
      const server = childrenOf(child.pid!)[0] ?? child.pid!;   // the CLI relaunches itself once (huge pages)
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server}/status`, 'utf8'))![1]) / 1024;
      const ask = (i: number) => c.completions.create({ model: 'default', prompt: LONG, max_tokens: 64, temperature: 0.8, seed: i });
      for (let i = 0; i < 9; i++) await ask(i);
      const one = rss();
      let answered = 0;
      let refused = 0;
      for (let round = 0; round < 3; round++) {
        for (const x of await Promise.allSettled(Array.from({ length: 16 }, (_, i) => ask(i)))) {
          if (x.status === 'fulfilled') answered++;
          else if (x.reason.status === 429) refused++;
        }
      }
      const sixteen = rss();
      console.log(`      RSS ${one.toFixed(1)} MiB after one client, ${sixteen.toFixed(1)} MiB after 3 × 16 concurrent (${answered} answered, ${refused} refused)`);
      assert.equal(answered + refused, 48);
      assert.ok(sixteen <= 1.2 * one, `RSS grew from ${one.toFixed(1)} to ${sixteen.toFixed(1)} MiB`);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
