// Each architecture's ONNX graph against the float64 reference forward (test/helpers/reference-forward.ts),
// on tiny random models written in HF layout by the test: full-sequence logits, KV-cache decode vs
// full recompute, and batched (left-padded) vs one-by-one.

import { strict as assert } from 'assert';
import * as path from 'path';
import { TINY_SPECS, TinySpecName, writeTinyModel, TinyModelSpec } from '../../helpers/oracle-models';
import { referenceForward } from '../../helpers/reference-forward';
import { tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate } from '../../../src/engine/runtime/generate';
import { buildGraph } from '../../../src/engine/models/graph';
import { maxAbsDiff, seq } from '../../helpers/arrays';

const root = tmpDir('idp-forward-');
useTempCache(path.join(root, 'cache'));   // the Gemm kernel's transposed-weight caches (models/transposed.ts)
const cases: Array<[string, TinyModelSpec]> = [
  ...Object.entries(TINY_SPECS) as Array<[TinySpecName, TinyModelSpec]>,
  ['llamaGqa-f16-sharded', { ...TINY_SPECS.llamaGqa, dtype: 'F16', sharded: true }],
  ['gpt2-bf16', { ...TINY_SPECS.gpt2, dtype: 'BF16' }],
  ['mistral-window4', { ...TINY_SPECS.mistral, slidingWindow: 4 }],
];

for (const [name, spec] of cases) {
  describe(`forward: ${name}`, () => {
    const dir = path.join(root, name);
    const tiny = writeTinyModel(dir, spec);
    const V = spec.vocabSize;
    let lm: CausalLM;

    before(async () => {
      lm = new CausalLM(await loadModel(dir), { threads: 1 });
    });

    it('logits match the float64 reference', async () => {
      const ids = seq(11, V, 1);
      const [got] = await lm.logits([ids]);
      const want = referenceForward(tiny.config, tiny.weights, ids);
      const d = maxAbsDiff(got, want);
      assert.ok(d < 2e-4, `max |Δlogit| = ${d}`);
      if (process.env.IDP_VERBOSE) console.log(`      max |Δlogit| = ${d.toExponential(2)} over ${got.length} logits`);
    });

    it('every graph variant gives the same logits (explicit attention; Gemm linear kernel)', async () => {
      const seqs = [seq(9, V, 6), seq(4, V, 7)];
      const b = await lm.logits(seqs);
      for (const graph of [{ attention: 'explicit' }, { linear: 'gemm' }, { attention: 'explicit', linear: 'gemm' }] as const) {
        const a = await new CausalLM(lm.model, { threads: 1, graph }).logits(seqs);
        for (let i = 0; i < seqs.length; i++) assert.ok(maxAbsDiff(a[i], b[i]) < 1e-5, `${JSON.stringify(graph)} row ${i}`);
      }
    });

    it('decode with the KV cache equals full recompute', async () => {
      const ids = seq(9, V, 2);
      const [full] = await lm.logits([ids]);
      const st = lm.newState(1);
      const first = await lm.step(st, [ids.slice(0, 4)], [[true, true, true, true]], 'all');
      const parts: number[] = Array.from(first.logits);
      for (let t = 4; t < ids.length; t++) {
        const r = await lm.step(st, [[ids[t]]], [[true]], 'last');
        parts.push(...r.logits);
      }
      const d = maxAbsDiff(parts, full);
      assert.ok(d < 1e-5, `max |Δ| = ${d}`);
    });

    it('prefill in chunks (left-padded rows, chunks of 3) equals the whole prompt in one run', async () => {
      const seqs = [seq(10, V, 8), seq(4, V, 9), seq(7, V, 10)];
      const whole = await lm.logits(seqs);
      const chunked = new CausalLM(lm.model, { threads: 1, prefillChunk: 3 });
      const T = 10;
      const ids = seqs.map((s) => [...new Array(T - s.length).fill(0), ...s]);
      const real = seqs.map((s) => [...new Array(T - s.length).fill(false), ...s.map(() => true)]);
      const st = chunked.newState(seqs.length);
      const r = await chunked.prefill(st, ids, real);
      assert.equal(st.length, T, 'every chunk went into the cache');
      for (let i = 0; i < seqs.length; i++) {
        const last = whole[i].subarray((seqs[i].length - 1) * V);
        const d = maxAbsDiff(r.logits.subarray(i * V, (i + 1) * V), last);
        assert.ok(d < 1e-5, `row ${i}: max |Δ| = ${d}`);
      }
      // and a decode step after it agrees with the recomputed next position
      const next = seqs.map((s, i) => s[i % s.length]);
      const step = await chunked.step(st, next.map((x) => [x]), next.map(() => [true]), 'last');
      for (let i = 0; i < seqs.length; i++) {
        const [full] = await lm.logits([[...seqs[i], next[i]]]);
        const d = maxAbsDiff(step.logits.subarray(i * V, (i + 1) * V), full.subarray(seqs[i].length * V));
        assert.ok(d < 1e-5, `row ${i} after the prefill: max |Δ| = ${d}`);
      }
    });

    it('prefill and decode steps over the cache in place equal the concatenated cache (padded batch, padding steps, growth)', async () => {
      const inPlace = new CausalLM(lm.model, { threads: 1, kvCache: 'capacity', kvGrow: 4, prefillChunk: 2 });   // 3 prefill chunks
      const concat = new CausalLM(lm.model, { threads: 1, kvCache: 'concat' });
      const seqs = [seq(5, V, 11), seq(2, V, 12)];
      const ids = seqs.map((s) => [...new Array(5 - s.length).fill(0), ...s]);
      const real = seqs.map((s) => [...new Array(5 - s.length).fill(false), ...s.map(() => true)]);
      const a = inPlace.newState(2);
      const b = concat.newState(2);
      const pa = await inPlace.prefill(a, ids, real);
      const pb = await concat.prefill(b, ids, real);
      assert.ok(maxAbsDiff(pa.logits, pb.logits) < 1e-5, 'prefill');
      for (let t = 0; t < 11; t++) {   // 5 + 11 slots: the buffers grow from 8 to 12 to 16
        const next = [[(t * 7 + 3) % V], [(t * 13 + 1) % V]];
        const r = [[true], [t % 4 !== 2]];
        const x = await inPlace.step(a, next, r, 'last');
        const y = await concat.step(b, next, r, 'last');
        const d = maxAbsDiff(x.logits, y.logits);   // padding steps included: both hide the padding slot
        assert.ok(d < 1e-5, `step ${t}: max |Δ| = ${d}`);
      }
      assert.equal(a.capacity?.capacity, 16, 'the cache grew in steps of kvGrow');
      // a multi-token step afterwards takes the cache back out of the buffers
      const more = [[1, 2], [3, 4]];
      const x = await inPlace.step(a, more, [[true, true], [true, true]], 'all');
      const y = await concat.step(b, more, [[true, true], [true, true]], 'all');
      assert.ok(maxAbsDiff(x.logits, y.logits) < 1e-5, 'after the cache left the buffers');
      assert.equal(a.capacity, undefined);
    });

    it('greedy steps over the cache in place take the argmax in the graph: the same ids as the JS argmax of the logits, and as generate over the concatenated cache', async () => {
      const inPlace = new CausalLM(lm.model, { threads: 1, kvCache: 'capacity', kvGrow: 4 });
      const a = inPlace.newState(2);
      const b = inPlace.newState(2);
      const prompt = [seq(4, V, 21), seq(4, V, 22)];
      const all = prompt.map(() => [true, true, true, true]);
      await inPlace.prefill(a, prompt, all);
      await inPlace.prefill(b, prompt, all);
      let next = [[5], [9]];
      for (let t = 0; t < 9; t++) {   // through two growths of the buffers
        const r = [[true], [t !== 3]];
        const ids = await inPlace.stepGreedy(a, next, r);
        const { logits } = await inPlace.step(b, next, r, 'last');
        const js = [0, 1].map((row) => argmaxRow(logits, row, V));
        assert.deepEqual(ids, js, `step ${t}`);
        next = js.map((x) => [x]);
      }
      assert.equal(await new CausalLM(lm.model, { threads: 1, kvCache: 'concat' }).stepGreedy(a, next, [[true], [true]]), undefined,
        'no in-graph argmax without the in-place cache');
      const greedy = async (kvCache: 'capacity' | 'concat') =>
        (await generate(new CausalLM(lm.model, { threads: 1, kvCache }), undefined, prompt, { maxTokens: 20, stopIds: [] })).rows.map((r) => r.ids);
      assert.deepEqual(await greedy('capacity'), await greedy('concat'));
    });

    it('batched with left padding equals one by one', async () => {
      const seqs = [seq(7, V, 3), seq(3, V, 4), seq(5, V, 5)];
      const batched = await lm.logits(seqs);
      for (let i = 0; i < seqs.length; i++) {
        const [alone] = await lm.logits([seqs[i]]);
        const d = maxAbsDiff(batched[i], alone);
        assert.ok(d < 1e-5, `row ${i}: max |Δ| = ${d}`);
      }
    });
  });
}

describe('greedy decoding in an ONNX Loop (chunks of steps per run)', () => {
  const dir = path.join(root, 'loop-llama');
  writeTinyModel(dir, { ...TINY_SPECS.llamaGqa, maxPositions: 64 });

  it('gives the tokens of step-by-step decoding, batched and at the context end', async () => {
    const lm = new CausalLM(await loadModel(dir), { threads: 1 });
    assert.ok(lm.canDecodeInLoop());
    const prompts = [seq(5, 96, 8), seq(2, 96, 9), seq(7, 96, 10)];
    // step by step, through the single-step graph
    const ref: number[][] = prompts.map(() => []);
    const st = lm.newState(prompts.length);
    const T = 7;
    let r = await lm.step(st, prompts.map((p) => [...new Array(T - p.length).fill(0), ...p]), prompts.map((p) => [...new Array(T - p.length).fill(false), ...p.map(() => true)]), 'last');
    for (let s = 0; s < 40; s++) {
      const next = prompts.map((_, b) => argmaxRow(r.logits, b, 96));
      next.forEach((id, b) => ref[b].push(id));
      r = await lm.step(st, next.map((x) => [x]), next.map(() => [true]), 'last');
    }
    // through generate (first token from the prefill, then Loop chunks 4, 8, 16, ...)
    const g = await generate(lm, undefined, prompts, { maxTokens: 40, stopIds: [] });
    g.rows.forEach((row, b) => assert.deepEqual(row.ids, ref[b], `row ${b}`));
    // runs into the 64-position context: 7 prompt + 57 cached decode inputs, 58 tokens sampled
    const end = await generate(lm, undefined, [seq(7, 96, 11)], { maxTokens: 200, stopIds: [] });
    assert.equal(end.rows[0].finish, 'context');
    assert.equal(end.rows[0].ids.length, 58);
  });
});

describe('the in-place KV cache graph (models/cache-attention.ts)', () => {
  it('refuses attention hooks, which need past/present (IDP builds its own graphs)', async () => {
    const m = await loadModel(writeTinyModel(path.join(root, 'capacity-hooks'), TINY_SPECS.llamaGqa).dir);
    assert.throws(() => buildGraph(m, { logits: 'last', kvCache: 'capacity', hooks: { attention: { explicit: () => true } } }),
      /attention hooks need the concat KV cache/);
    assert.ok(buildGraph(m, { logits: 'last', kvCache: 'capacity' }).toModelProto().length > 0);
  });
});

describe('Gemm kernel on cached transposed weights (models/transposed.ts)', () => {
  const dir = path.join(root, 'wide-vocab');
  const tiny = writeTinyModel(dir, { ...TINY_SPECS.llamaTied, vocabSize: 9000 });   // tied head: 3 column blocks

  it('matches the float64 reference and the MatMul kernel, and greedy decoding agrees', async () => {
    const m = await loadModel(dir);
    const gemm = new CausalLM(m, { threads: 1, graph: { linear: 'gemm' } });
    const ids = seq(7, 9000, 3);
    const [got] = await gemm.logits([ids]);
    const d = maxAbsDiff(got, referenceForward(tiny.config, tiny.weights, ids));
    assert.ok(d < 2e-4, `max |Δlogit| = ${d}`);
    const [mm] = await new CausalLM(m, { threads: 1 }).logits([ids]);
    assert.ok(maxAbsDiff(got, mm) < 1e-5);
    const a = await generate(gemm, undefined, [ids], { maxTokens: 12, stopIds: [] });
    const b = await generate(new CausalLM(m, { threads: 1 }), undefined, [ids], { maxTokens: 12, stopIds: [] });
    assert.deepEqual(a.rows[0].ids, b.rows[0].ids);
  });
});

function argmaxRow(logits: Float32Array, b: number, V: number): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (logits[b * V + i] > logits[b * V + best]) best = i;
  return best;
}
