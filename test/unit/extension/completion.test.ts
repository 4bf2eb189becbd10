// Inline-completion policy (pure) and the Completer against the real engine process.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { AdaptiveDebounce, applyStopRules, enabledFor, LruCache, percentile } from '../../../src/extension/completion/policy';
import { Completer } from '../../../src/extension/completion/completer';
import { EngineClient } from '../../../src/extension/engine-client';
import { dataPath, STORIES } from '../../helpers/data';

const SERVER = path.resolve(__dirname, '..', '..', '..', 'src', 'server', 'main.js');

describe('inline completion policy', () => {
  it('stop rules: single line, block end by indentation, blank lines, max lines, text already after the cursor', () => {
    const base = { singleLine: false, maxLines: 10, indent: '', lineSuffix: '' };
    assert.equal(applyStopRules('foo()\nbar()', { ...base, singleLine: true }), 'foo()');
    assert.equal(applyStopRules('  a\n  b\nc', { ...base, indent: '  ' }), '  a\n  b', 'a line indented less ends the block');
    assert.equal(applyStopRules('x\n\n\ny', base), 'x', 'two blank lines end it');
    assert.equal(applyStopRules('x\n\ny', base), 'x\n\ny', 'one blank line does not');
    assert.equal(applyStopRules('1\n2\n3\n4', { ...base, maxLines: 2 }), '1\n2');
    assert.equal(applyStopRules('a, b);\n', { ...base, singleLine: true, lineSuffix: ');' }), 'a, b');
    assert.equal(applyStopRules('x  \r\n', base), 'x', 'trailing whitespace and CRLF');
    assert.equal(applyStopRules('\nfoo', { ...base, singleLine: true }), '');
  });
  it('adaptive debounce follows the latency within bounds', () => {
    const d = new AdaptiveDebounce(20, 200, 0.5);
    assert.equal(d.delayMs, 40);
    d.record(100);
    assert.equal(d.delayMs, 50);
    d.record(1000);
    assert.equal(d.delayMs, 200);
    for (let i = 0; i < 20; i++) d.record(2);
    assert.equal(d.delayMs, 20);
    d.record(NaN);
    assert.equal(d.delayMs, 20);
  });
  it('LRU evicts the least recently used', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1); c.set('b', 2);
    assert.equal(c.get('a'), 1);
    c.set('c', 3);
    assert.equal(c.get('b'), undefined);
    assert.equal(c.get('a'), 1);
    assert.equal(c.size, 2);
  });
  it('per-language switch and percentiles', () => {
    assert.equal(enabledFor(undefined, 'python'), true);
    assert.equal(enabledFor({ '*': false, python: true }, 'python'), true);
    assert.equal(enabledFor({ '*': false, python: true }, 'go'), false);
    assert.equal(enabledFor({ plaintext: false }, 'plaintext'), false);
    assert.equal(percentile([5, 1, 3, 2, 4], 50), 3);
    assert.equal(percentile([5, 1, 3, 2, 4], 95), 5);
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});

describe('Completer against the engine process', function () {
  this.timeout(60000);
  let engine: EngineClient;
  let model: string;
  const opts = () => ({ maxTokens: 24, maxLines: 3, model });
  const never = () => new CancellationTokenSource().token;

  before(async function () {
    model = dataPath(this, ...STORIES, 'stories260K.gguf');
    engine = new EngineClient({ serverScript: SERVER });
    await engine.load({ model });
  });
  after(() => engine?.dispose());

  it('answers with the model text cut by the stop rules, then from the cache, then typing through', async () => {
    const c = new Completer((p, t) => engine.generate(p, undefined, t));
    const ctx = { prefix: 'Once upon a time', suffix: '', languageId: 'plaintext', explicit: true };
    const r = await c.complete(ctx, opts(), never());
    const raw = await engine.generate({ prompt: 'Once upon a time', maxTokens: 24 });
    assert.equal(r?.source, 'engine');
    assert.equal(r!.text, applyStopRules(raw.text, { singleLine: false, maxLines: 3, indent: '', lineSuffix: '' }));
    // fixed: the llama2.c greedy sample (reference_greedy.json) after "Once upon a time", 24 tokens
    assert.equal(r!.text, ', there was a little girl named Lily. She loved to play outside in the p');
    assert.ok(r!.latencyMs > 0);
    const again = await c.complete(ctx, opts(), never());
    assert.deepEqual([again?.source, again?.text], ['cache', r!.text]);
    const typed = r!.text.slice(0, 3);
    const through = await c.complete({ ...ctx, prefix: ctx.prefix + typed }, opts(), never());
    assert.deepEqual([through?.source, through?.text], ['typed-through', r!.text.slice(3)]);
    assert.equal(c.stats.requests, 1);
    assert.equal(c.stats.cacheHits, 2);
  });

  it('mid-line, completes only the rest of the line; at the end of a line it goes on to the next lines', async () => {
    // The llama2.c greedy sample (reference_greedy.json, written by llama2.c, not by this engine) goes
    // on from this prefix with " too high.\nLily's mom said, …": the expected strings below are that
    // sample, cut at the line's end (text after the cursor on its line) or after 24 tokens (at its end).
    const prefix = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was';
    const complete = (suffix: string) => new Completer((p, t) => engine.generate(p, undefined, t))
      .complete({ prefix, suffix, languageId: 'plaintext', explicit: true }, opts(), never());
    const ref: string = JSON.parse(fs.readFileSync(path.join(path.dirname(model), 'reference_greedy.json'), 'utf8')).generated_text;
    assert.ok(ref.startsWith(`${prefix} too high.\nLily's mom said, "Lily, let's go`), 'the expectations are the reference sample');
    assert.equal((await complete(' there.\nThe end.'))?.text, ' too high.');
    assert.equal((await complete('\nThe end.'))?.text, ' too high.\nLily\'s mom said, "Lily, let\'s go');
  });

  it('a keystroke during the debounce costs no engine request', async () => {
    const c = new Completer((p, t) => engine.generate(p, undefined, t));
    const cts = new CancellationTokenSource();
    const p = c.complete({ prefix: 'Once upon', suffix: '', languageId: 'plaintext', explicit: false }, opts(), cts.token);
    cts.cancel();
    assert.equal(await p, undefined);
    assert.equal(c.stats.requests, 0);
  });

  it('keeps one request in flight: a new one cancels the old, whose tokens count as wasted', async () => {
    const c = new Completer((p, t) => engine.generate(p, undefined, t));
    const first = c.complete({ prefix: 'Lily', suffix: '', languageId: 'plaintext', explicit: true }, { ...opts(), maxTokens: 400, maxLines: 50 }, never());
    await new Promise((r) => setTimeout(r, 5));
    const second = await c.complete({ prefix: 'Lily went', suffix: '', languageId: 'plaintext', explicit: true }, opts(), never());
    assert.equal(await first, undefined, 'the superseded request shows nothing');
    assert.ok(second?.text);
    assert.equal(c.stats.requests, 2);
    assert.equal(c.stats.cancelled, 1);
    assert.equal(c.stats.completed, 1);
    assert.ok(c.stats.wastedTokens < 400);
  });
});
