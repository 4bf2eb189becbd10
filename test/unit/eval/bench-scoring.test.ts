// Requests and scoring: lm-eval's tokenization of (context, continuation) pairs, left truncation and
// rolling windows on hand-checkable cases; packed shared-context scoring against one forward per
// request on tiny random models of every architecture (Llama GQA, Mistral with a 3-token sliding
// window, GPT-2, OPT); models with only logits(seqs); greedy generation until a stop string.

import { strict as assert } from 'assert';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { TINY_SPECS, TinyModelSpec, writeTinyModel } from '../../helpers/oracle-models';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { encodePair, encodePrompt, Encoding, fitPair, rollingWindows, TokenPair } from '../../../src/engine/eval/requests';
import { generateUntil, planRows, ScoringModel, scoreLoglikelihood, scoreRolling } from '../../../src/engine/eval/scoring';
import type { Tokenizer } from '../../../src/engine/tokenizers/tokenizer';

/** One token per ASCII character: id = code + 3; BOS 1, EOS 2. */
const charTokenizer: Tokenizer = {
  vocabSize: 131, bosId: 1, eosId: 2,
  encode: (s) => [...s].map((c) => c.charCodeAt(0) + 3),
  decode: (ids) => ids.filter((i) => i >= 3).map((i) => String.fromCharCode(i - 3)).join(''),
};
const chars = (s: string) => charTokenizer.encode(s);

describe('bench requests: lm-eval tokenization', () => {
  const e: Encoding = { tokenizer: charTokenizer, addBos: true, bos: 1, prefixToken: 1 };

  it('context and context+continuation are encoded apart; trailing whitespace moves to the continuation', () => {
    assert.deepEqual(encodePair(e, 'Q: a', ' b'), { context: [1, ...chars('Q: a')], continuation: chars(' b') });
    assert.deepEqual(encodePair(e, 'Q: a \n', 'b'), { context: [1, ...chars('Q: a')], continuation: chars(' \nb') });
    // a tokenizer that merges across the boundary: the continuation is whatever lies past the context's length
    const merging: Tokenizer = { ...charTokenizer, encode: (s) => (s === 'ab' ? [99] : chars(s)) };
    assert.deepEqual(encodePair({ ...e, tokenizer: merging }, 'a', 'b'), { context: [1, ...chars('a')], continuation: [] });
  });

  it('an empty (or all-space) context becomes the prefix token; GPT-2 style encodings get no BOS', () => {
    assert.deepEqual(encodePair(e, '', ' x'), { context: [1], continuation: chars(' x') });
    assert.deepEqual(encodePair(e, '  ', 'x'), { context: [1], continuation: chars('  x') });
    const gpt2: Encoding = { tokenizer: charTokenizer, addBos: true, prefixToken: 2 };
    assert.deepEqual(encodePair(gpt2, 'ab', 'c'), { context: chars('ab'), continuation: chars('c') });
    assert.deepEqual(encodePrompt(gpt2, ''), [2]);
    assert.deepEqual(encodePrompt(e, 'hi'), [1, ...chars('hi')]);
  });

  it('left truncation keeps the last maxLen + 1 tokens of context + continuation', async () => {
    const p: TokenPair = { context: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], continuation: [11, 12, 13] };
    assert.deepEqual(fitPair(p, 12), p);
    assert.deepEqual(fitPair(p, 8), { context: [5, 6, 7, 8, 9, 10], continuation: [11, 12, 13] });   // 6 + 3 − 1 = 8 inputs
    await expectIdpError(() => fitPair({ context: [1], continuation: [2, 3, 4, 5] }, 3), 'INPUT', undefined, /does not fit/);
  });

  it('rolling windows predict every token once, each window ≤ maxLen inputs', () => {
    const ids = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    const w = rollingWindows(ids, 1, 4);
    assert.deepEqual(w, [
      { context: [1], continuation: [10, 11, 12, 13] },
      { context: [13], continuation: [14, 15, 16, 17] },
      { context: [15, 16, 17], continuation: [18, 19] },
    ]);
    assert.deepEqual(w.flatMap((x) => x.continuation), ids);
    for (const x of w) assert.ok(x.context.length + x.continuation.length - 1 <= 4);
    assert.deepEqual(rollingWindows([5, 6], 1, 8), [{ context: [1], continuation: [5, 6] }]);
  });
});

/** log-softmax of one position, float64 (independent of the code under test). */
function refLogProb(l: Float32Array, off: number, V: number, tok: number): { lp: number; top: boolean } {
  const row = Array.from(l.subarray(off, off + V));
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  return { lp: row[tok] - lse, top: row.indexOf(m) === tok };
}

async function reference(lm: CausalLM, p: TokenPair): Promise<{ ll: number; isGreedy: boolean }> {
  const max = lm.config.maxPositions;
  const inp = [...p.context, ...p.continuation].slice(-(max + 1)).slice(0, -1);   // lm-eval's input
  const [l] = await lm.logits([inp]);
  const V = lm.config.vocabSize;
  let ll = 0;
  let greedy = true;
  p.continuation.forEach((tok, i) => {
    const r = refLogProb(l, (inp.length - p.continuation.length + i) * V, V, tok);
    ll += r.lp;
    greedy &&= r.top;
  });
  return { ll, isGreedy: greedy };
}

describe('bench scoring: packed shared contexts equal one forward per request', function () {
  const root = tmpDir('idp-bench-scoring-');
  const cases: Array<[string, TinyModelSpec]> = [
    ['llama (GQA)', TINY_SPECS.llamaGqa],
    ['mistral, sliding window 3', { ...TINY_SPECS.mistral, slidingWindow: 3 }],
    ['gpt2', TINY_SPECS.gpt2],
    ['opt', TINY_SPECS.optPreLN],
  ];

  it('planRows: one row per context (continuations minus their last token), or one per request', () => {
    const pairs = [
      { context: [1, 2, 3], continuation: [4] }, { context: [1, 2, 3], continuation: [5, 6, 7] }, { context: [1, 2, 3], continuation: [5, 6, 7] },
      { context: [9], continuation: [8, 8] },
    ];
    const packed = planRows(pairs, 64, true, 4096);
    assert.equal(packed.rows.length, 2);
    assert.deepEqual(packed.rows[0], { ids: [1, 2, 3, 5, 6], pos: [0, 1, 2, 3, 4], seg: [0, 0, 0, 1, 1], requests: 3 });
    assert.deepEqual(packed.targets[1].slots, [2, 3, 4]);
    assert.deepEqual(packed.targets[1].reqs, [1, 2]);   // identical requests scored once
    assert.equal(planRows(pairs, 64, false, 4096).rows.length, 4);
    // a row past the cap starts another with the context again (a row always takes one branch)
    const more = [...pairs, { context: [1, 2, 3], continuation: [5, 6, 8] }];
    assert.equal(planRows(more, 64, true, 4096).rows.length, 2);
    const capped = planRows(more, 64, true, 5);
    assert.deepEqual(capped.rows.map((r) => r.ids), [[1, 2, 3, 5, 6], [1, 2, 3, 5, 6], [9, 8]]);
    assert.deepEqual(capped.targets.map((t) => t.row), [0, 0, 1, 2]);
  });

  for (const [name, spec] of cases) {
    it(`${name}: ll within 1e-4 and the same is_greedy`, async () => {
      writeTinyModel(path.join(root, name), spec);
      const lm = new CausalLM(await loadModel(path.join(root, name)), { threads: 1 });
      const V = lm.config.vocabSize;
      const max = lm.config.maxPositions;
      let s = 7;
      const rand = (n: number) => Array.from({ length: n }, () => (s = (s * 1103515245 + 12345) % 2 ** 31) % V);
      const pairs: TokenPair[] = [];
      for (const clen of [1, 5, 9]) {
        const ctx = rand(clen);
        // a greedy continuation (so is_greedy is true somewhere), then random ones of 1–4 tokens
        const greedy: number[] = [];
        for (let k = 0; k < 3; k++) {
          const [l] = await lm.logits([[...ctx, ...greedy]]);
          const last = Array.from(l.subarray((ctx.length + greedy.length - 1) * V, (ctx.length + greedy.length) * V));
          greedy.push(last.indexOf(Math.max(...last)));
        }
        pairs.push({ context: ctx, continuation: greedy });
        for (const n of [1, 2, 3, 4, 1]) pairs.push({ context: ctx, continuation: rand(n) });
      }
      pairs.push({ context: rand(max + 6), continuation: rand(3) });   // left-truncated
      const long = rand(max - 20);   // a packed row longer than the context: 44 + 4 × 9 slots, positions < 64
      for (let k = 0; k < 4; k++) pairs.push({ context: long, continuation: rand(10) });
      const got = await scoreLoglikelihood(lm, pairs, { batchTokens: 96 });
      const plain = await scoreLoglikelihood(lm, pairs, { pack: false });
      for (let i = 0; i < pairs.length; i++) {
        const want = await reference(lm, pairs[i]);
        for (const r of [got[i], plain[i]]) {
          assert.ok(Math.abs(r.ll - want.ll) < 1e-4 * Math.max(1, Math.abs(want.ll)), `${name} pair ${i}: ${r.ll} vs ${want.ll}`);
          assert.equal(r.isGreedy, want.isGreedy, `${name} pair ${i}`);
          assert.equal(r.tokens, pairs[i].continuation.length);
        }
      }
      assert.ok(got.some((r) => r.isGreedy) && got.some((r) => !r.isGreedy));
    });
  }
});

describe('bench scoring: models with logits(seqs) only', () => {
  const V = 131;
  const uniform: ScoringModel = {
    config: { vocabSize: V, maxPositions: 32, arch: 'llama', bosTokenId: 1, eosTokenId: 2 },
    async logits(seqs) { return seqs.map((q) => new Float32Array(q.length * V)); },
  };

  it('uniform logits: ll = −n·log V; greedy only for all-zero continuations (first maximum)', async () => {
    const r = await scoreLoglikelihood(uniform, [{ context: [1, 5], continuation: [7, 8, 9] }, { context: [1], continuation: [0, 0] }, { context: [1], continuation: [] }]);
    assert.ok(Math.abs(r[0].ll + 3 * Math.log(V)) < 1e-9);
    assert.deepEqual(r.map((x) => x.isGreedy), [false, true, true]);
    assert.deepEqual(r[2], { ll: 0, isGreedy: true, tokens: 0 });
  });

  it('rolling: every token of a text longer than the context is scored once', async () => {
    const [r] = await scoreRolling(uniform, [Array.from({ length: 70 }, (_, i) => 3 + (i % 50))], 1);
    assert.equal(r.tokens, 70);
    assert.ok(Math.abs(r.ll + 70 * Math.log(V)) < 1e-9);
  });

  it('generate_until: greedy through logits(), cut at the first stop string, stops at EOS', async () => {
    // a scripted model that spells " Paris, France" after any prompt, then EOS
    const script = [...chars(' Paris, France'), 2];
    const prompts = new Map<number, number>();
    const scripted: ScoringModel = {
      config: uniform.config,
      async logits(seqs) {
        return seqs.map((q) => {
          const l = new Float32Array(q.length * V);
          const start = prompts.get(q[1]) ?? q.length;   // prompt length by its first character
          l[(q.length - 1) * V + script[Math.min(q.length - start, script.length - 1)]] = 10;
          return l;
        });
      },
    };
    const e: Encoding = { tokenizer: charTokenizer, addBos: true, bos: 1, prefixToken: 1 };
    prompts.set(chars('Q')[0], encodePrompt(e, 'Q: capital?').length);
    prompts.set(chars('W')[0], encodePrompt(e, 'W').length);
    const out = await generateUntil(scripted, e, [{ context: 'Q: capital?', until: [',', '.'] }, { context: 'W', until: ['\n'] }]);
    assert.deepEqual(out.map((o) => o.text), [' Paris', ' Paris, France']);
    assert.equal(out[1].tokens, 14);
  });
});
