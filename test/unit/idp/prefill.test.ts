// The IDP prefill on tiny random models with random prompts (no training needed for equivalences):
//  - one prompt: IDP equals the single prompt — bit for bit against the plain runtime over the cached
//    prompt (same kernels), and against the training engine's inline soft prompt (another route);
//  - m prompts, selection layer 0: each row equals the single prompt it selected (inline route);
//  - the selection and scores equal a mean/argmax computed here from the selection layer's Softmax
//    output (made a graph output by name), with padding and partial votes, for layers 0 and 1 and
//    both scores;
//  - after selection, changing a masked prompt changes no logit (bit for bit); at a later selection
//    layer, a masked prompt's K/V from that layer on are never read, while earlier layers see it.

import * as assert from 'assert';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { TINY_SPECS, writeTinyModel, TinyModelSpec } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { randomPrompt, randomRows, assertBitEqual, argmax } from '../../helpers/idp';
import { maxAbsDiff } from '../../helpers/arrays';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { CausalLM, leftPad } from '../../../src/engine/runtime/lm';
import { createSession } from '../../../src/engine/runtime/session';
import { KvState } from '../../../src/engine/runtime/kv-cache';
import { io } from '../../../src/engine/models/blocks';
import { SoftPrompt } from '../../../src/engine/train/methods/prompt';
import { AdaptedLM } from '../../../src/engine/train/adapted';
import { IdpBank, SelectionScore } from '../../../src/engine/idp/bank';
import { IdpLM } from '../../../src/engine/idp/runner';
import { buildIdpGraph, idpIo } from '../../../src/engine/idp/graph';
import { paperWeights } from '../../../src/engine/idp/calibration';
import { Rng } from '../../../src/engine/rng';
import { promptSlots, stateWithSlots } from '../../../src/engine/idp/past';

const root = tmpDir('idp-prefill-');
const LENGTHS = [4, 6, 5];
const SEED = 11;   // prompts for which random rows select every prompt

async function tiny(name: string, spec: TinyModelSpec): Promise<LoadedModel> {
  return loadModel(writeTinyModel(path.join(root, name), { ...spec, maxPositions: 64 }).dir);
}

function bankOf(m: LoadedModel, lengths: number[], seed: number, o: { selectionLayer?: number; score?: SelectionScore; scales?: number[] } = {}): IdpBank {
  return IdpBank.fromPrompts(m, lengths.map((n, i) => randomPrompt(m, n, seed + i, o.scales?.[i] ?? 1)), o);
}

/** Logits of the single prompt i in the bank's layout through the training engine's inline soft prompt. */
async function inlineSingle(m: LoadedModel, bank: IdpBank, i: number, seq: number[]): Promise<Float32Array> {
  const sp = new SoftPrompt(m, bank.prompts[i], bank.info[i].n, 'random', undefined, bank.info[i].start);
  return (await new AdaptedLM(sp, { threads: 1 }).logits([seq]))[0];
}

describe('IDP prefill: selection, masking and equivalence with single prompts', function () {
  this.timeout(120000);
  let llama: LoadedModel;
  let opt: LoadedModel;
  before(async () => {
    llama = await tiny('llama', TINY_SPECS.llamaGqa);
    opt = await tiny('opt', TINY_SPECS.optPreLN);
  });

  for (const arch of ['llama', 'opt'] as const) {
    it(`${arch}: one prompt — IDP equals the single prompt exactly (and the inline soft prompt to float rounding)`, async () => {
      const m = arch === 'llama' ? llama : opt;
      const bank = bankOf(m, [6], 3);
      const seqs = randomRows(m.config.vocabSize, [9, 4], 5);
      const idp = new IdpLM(m, bank, { threads: 1, attention: 'explicit' });
      const r = await idp.score(seqs);
      assert.deepEqual(r.selected, [0, 0]);
      // the plain runtime over the cached prompt, same (explicit) kernels, one row at a time
      const lm = new CausalLM(m, { threads: 1, graph: { attention: 'explicit' } });
      const kv = (await bank.computeKv(m))[0];
      for (const [b, seq] of seqs.entries()) {
        const state = stateWithSlots(m.config, [promptSlots(kv)]);
        const plain = await lm.step(state, [seq], [seq.map(() => true)], 'all');
        const one = (await idp.score([seq])).logits[0];
        // Llama: bit for bit. OPT: ORT fuses the last residual Add + LayerNorm of the two graphs differently
        // (with that value made an output, both are bit-identical too), which moves the logits by ≤ 1e-6.
        if (arch === 'llama') assertBitEqual(one, plain.logits, `row ${b} vs the cached single prompt`);
        else assert.ok(maxAbsDiff(one, plain.logits) < 5e-6, `row ${b} vs the cached single prompt: ${maxAbsDiff(one, plain.logits)}`);
        assert.ok(maxAbsDiff(r.logits[b], plain.logits) < 2e-5, 'batched with padding');
        const inline = await inlineSingle(m, bank, 0, seq);
        assert.ok(maxAbsDiff(r.logits[b], inline) < 2e-5, `row ${b} vs inline soft prompt: ${maxAbsDiff(r.logits[b], inline)}`);
      }
      // the default (fused) IDP graph agrees too
      const fused = await new IdpLM(m, bank, { threads: 1 }).score(seqs);
      for (const b of [0, 1]) assert.ok(maxAbsDiff(fused.logits[b], r.logits[b]) < 2e-5);
    });
  }

  it('m prompts, selection layer 0: every row equals the single prompt it selected', async () => {
    const bank = bankOf(llama, LENGTHS, SEED);
    const seqs = randomRows(llama.config.vocabSize, [8, 8, 5, 12, 3, 9, 10, 6], 21);
    const r = await new IdpLM(llama, bank, { threads: 1 }).score(seqs);
    assert.ok(new Set(r.selected).size >= 2, `the rows should not all pick one prompt: ${r.selected}`);
    for (const [b, seq] of seqs.entries()) {
      const single = await inlineSingle(llama, bank, r.selected[b], seq);
      assert.ok(maxAbsDiff(r.logits[b], single) < 2e-5, `row ${b} (prompt ${r.selected[b]}): ${maxAbsDiff(r.logits[b], single)}`);
      const other = await inlineSingle(llama, bank, (r.selected[b] + 1) % bank.m, seq);
      assert.ok(maxAbsDiff(r.logits[b], other) > 1e-3, 'another prompt gives other logits');
    }
  });

  it('large-model kernels (linear \'gemm\': cached [in, out] weights): the IDP graph runs on them and rows equal their single prompt', async () => {
    const bank = bankOf(llama, LENGTHS, SEED);
    const seqs = randomRows(llama.config.vocabSize, [8, 5, 12, 3], 21);
    const idp = new IdpLM(llama, bank, { threads: 1, graph: { linear: 'gemm' } });
    const r = await idp.score(seqs);
    assert.ok(idp.lm.graphModel().transposed?.size, 'the runtime model carries the transposed copies');
    const plain = await new IdpLM(llama, bank, { threads: 1 }).score(seqs);
    assert.deepEqual(r.selected, plain.selected);
    for (const [b, seq] of seqs.entries()) {
      const single = await inlineSingle(llama, bank, r.selected[b], seq);
      assert.ok(maxAbsDiff(r.logits[b], single) < 2e-5, `row ${b} (prompt ${r.selected[b]}): ${maxAbsDiff(r.logits[b], single)}`);
    }
  });

  it('Mistral with a sliding window of 5 (prompts partly out of reach of later tokens): rows equal their single prompt', async () => {
    const m = await tiny('mistral', { ...TINY_SPECS.mistral, slidingWindow: 5 });
    const bank = bankOf(m, LENGTHS, SEED);
    const seqs = randomRows(m.config.vocabSize, [8, 3, 11, 6], 23);
    const r = await new IdpLM(m, bank, { threads: 1 }).score(seqs);
    for (const [b, seq] of seqs.entries()) {
      const single = await inlineSingle(m, bank, r.selected[b], seq);
      assert.ok(maxAbsDiff(r.logits[b], single) < 2e-5, `row ${b} (prompt ${r.selected[b]}): ${maxAbsDiff(r.logits[b], single)}`);
    }
  });

  for (const [layer, score] of [[0, 'mass'], [1, 'mass'], [0, 'mean']] as const) {
    it(`the selection equals an argmax computed here from layer ${layer}'s attention probabilities (${score})`, async () => {
      const m = llama;
      const bank = bankOf(m, LENGTHS, SEED, { selectionLayer: layer, score });
      const seqs = randomRows(m.config.vocabSize, [8, 3, 11, 6, 9, 5], 41);
      const vote = [8, 2, 11, 6, 4, 5];
      const g = buildIdpGraph(m, { selectionLayer: layer, logits: 'last' });
      const probsName = `/model/layers.${layer}/attn/Softmax_output_0`;
      g.declareOutput(probsName, 'float');
      const s = await createSession(g.toModelProto(), m.weightsDir, { threads: 1 });
      const c = m.config;
      const kv = await bank.computeKv(m);
      const T = 11;
      const B = seqs.length;
      const P = bank.slots;
      const { ids, real } = leftPad(seqs, T);
      const state = new KvState(B, c.numLayers, c.numKvHeads, c.headDim);
      const slotPos = Int32Array.from(kv.flatMap((p) => Array.from({ length: p.n }, (_, t) => p.start + t)));
      for (let b = 0; b < B; b++) { state.visible[b] = new Uint8Array(P).fill(1); state.slotPos[b] = slotPos; state.nextPos[b] = bank.positions; }
      const { positions, bias, S } = state.append(real);
      const qw = new Float32Array(B * T);
      seqs.forEach((sq, b) => { for (let t = 0; t < vote[b]; t++) qw[b * T + T - sq.length + t] = 1; });
      const feeds: Record<string, ort.Tensor> = {
        [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids.flat(), BigInt), [B, T]),
        [io.positionIds]: new ort.Tensor('int64', positions, [B, T]),
        [io.attnBias]: new ort.Tensor('float32', bias, [B, 1, T, S]),
        [idpIo.segments]: new ort.Tensor('float32', bank.segments(), [bank.m, P]),
        [idpIo.queryWeight]: new ort.Tensor('float32', qw, [B, T]),
        [idpIo.scoreWeight]: new ort.Tensor('float32', paperWeights(c.numHeads, bank.m), [c.numHeads * bank.m, bank.m]),
        [idpIo.scoreBias]: new ort.Tensor('float32', new Float32Array(bank.m), [bank.m]),
      };
      for (let i = 0; i < c.numLayers; i++) {
        const cat = (kind: 'keys' | 'values') => {
          const one = new Float32Array(c.numKvHeads * P * c.headDim);
          let at = 0;
          for (const p of kv) {
            for (let k = 0; k < c.numKvHeads; k++) one.set(p[kind][i].subarray(k * p.n * c.headDim, (k + 1) * p.n * c.headDim), (k * P + at) * c.headDim);
            at += p.n;
          }
          const all = new Float32Array(B * one.length);
          for (let b = 0; b < B; b++) all.set(one, b * one.length);
          return new ort.Tensor('float32', all, [B, c.numKvHeads, P, c.headDim]);
        };
        feeds[io.pastKey(i)] = cat('keys');
        feeds[io.pastValue(i)] = cat('values');
      }
      const out = await s.run(feeds);
      // the masked variant (other prompts kept after ℓ, hidden by the bias) computes the same
      const masked = await createSession(buildIdpGraph(m, { selectionLayer: layer, logits: 'last', compact: false }).toModelProto(), m.weightsDir, { threads: 1 });
      const outMasked = await masked.run(feeds);
      assert.deepEqual(Array.from(outMasked[idpIo.selected].data as BigInt64Array), Array.from(out[idpIo.selected].data as BigInt64Array));
      assert.ok(maxAbsDiff(outMasked[io.logits].data as Float32Array, out[io.logits].data as Float32Array) < 2e-5, 'compact = masked');
      if (layer === 0) {   // layer 1 attends to the chosen prompts' slots only (compact) or to all of them (masked)
        const nChosen = Math.max(...Array.from(out[idpIo.selected].data as BigInt64Array, (k) => LENGTHS[Number(k)]));
        assert.equal(out[io.presentKey(1)].dims[2], nChosen + T);
        assert.equal(outMasked[io.presentKey(1)].dims[2], P + T);
      }
      const probs = out[probsName].data as Float32Array;                  // [B, K, G, T, S]
      const heads = c.numHeads;
      const offs = bank.offsets();
      const picked: number[] = [];
      const f: number[][] = [];     // per row, per-head masses [H·m] (head h, prompt i at h·m + i)
      for (let b = 0; b < B; b++) {
        f.push([]);
        for (let h = 0; h < heads; h++) {
          for (const [i, p] of bank.info.entries()) {
            let sum = 0;
            for (let t = 0; t < T; t++) {
              if (!qw[b * T + t]) continue;
              const row = ((b * heads + h) * T + t) * S;
              for (let j = offs[i]; j < offs[i] + p.n; j++) sum += probs[row + j];
            }
            f[b].push((score === 'mean' ? sum / p.n : sum) / vote[b]);
          }
        }
        const mine = bank.info.map((_, i) => f[b].filter((_, k) => k % bank.m === i).reduce((a, x) => a + x, 0) / heads);
        const graphScores = (out[idpIo.scores].data as Float32Array).slice(b * bank.m, (b + 1) * bank.m);
        assert.ok(maxAbsDiff(mine, graphScores) < 1e-6, `row ${b} scores ${mine} vs ${Array.from(graphScores)}`);
        assert.ok(maxAbsDiff(mine, (out[idpIo.mass].data as Float32Array).slice(b * bank.m, (b + 1) * bank.m)) < 1e-6, 'idp_mass is the head-mean mass');
        picked.push(argmax(mine));
        assert.equal(Number((out[idpIo.selected].data as BigInt64Array)[b]), argmax(mine), `row ${b}`);
      }
      assert.ok(new Set(picked).size >= 2, `rows should not all pick one prompt: ${picked}`);
      // a calibrated rule: the graph picks argmax(f·W + b) of the per-head masses, computed here for a random W, b
      const rng = Rng.for(layer * 10 + (score === 'mean' ? 1 : 0), 'calibration-test');
      const F = heads * bank.m;
      const W = Float32Array.from({ length: F * bank.m }, () => rng.normal() * 20);
      const b0s = Float32Array.from({ length: bank.m }, () => rng.normal());
      const cal = await s.run({ ...feeds, [idpIo.scoreWeight]: new ort.Tensor('float32', W, [F, bank.m]), [idpIo.scoreBias]: new ort.Tensor('float32', b0s, [bank.m]) });
      const calPicked: number[] = [];
      for (let b = 0; b < B; b++) {
        const z = Array.from(b0s, (b0, i) => f[b].reduce((a, x, k) => a + x * W[k * bank.m + i], b0));
        assert.ok(maxAbsDiff(z, (cal[idpIo.scores].data as Float32Array).slice(b * bank.m, (b + 1) * bank.m)) < 1e-4, `row ${b} calibrated scores`);
        calPicked.push(argmax(z));
      }
      assert.deepEqual(Array.from(cal[idpIo.selected].data as BigInt64Array, Number), calPicked);
      assert.notDeepEqual(calPicked, picked, 'a different rule picks differently for some row');
      // the runner (all tokens vote unless told) agrees with the same votes
      const r = await new IdpLM(m, bank, { threads: 1 }).score(seqs, vote);
      assert.deepEqual(r.selected, picked);
    });
  }

  it('selection layer 0: after selection, changing a masked prompt changes no logit (bit for bit)', async () => {
    const m = llama;
    const seqs = randomRows(m.config.vocabSize, [8, 8, 5, 12, 3, 9], 51);
    const base = bankOf(m, LENGTHS, SEED);
    const r0 = await new IdpLM(m, base, { threads: 1 }).score(seqs);
    let checked = 0;
    for (let i = 0; i < base.m; i++) {
      // replace prompt i by another random prompt of the same length, half as large (less attention-grabbing)
      const prompts = base.info.map((p, k) => (k === i ? randomPrompt(m, p.n, 900 + k, 0.5) : { embeddings: base.prompts[k], n: p.n }));
      const r1 = await new IdpLM(m, IdpBank.fromPrompts(m, prompts), { threads: 1 }).score(seqs);
      for (let b = 0; b < seqs.length; b++) {
        if (r0.selected[b] === i) {
          assert.ok(maxAbsDiff(r0.logits[b], r1.logits[b]) > 1e-4, 'changing the selected prompt changes the logits');
        } else if (r1.selected[b] === r0.selected[b]) {
          assertBitEqual(r1.logits[b], r0.logits[b], `row ${b}, masked prompt ${i} changed`);
          assert.notDeepEqual(Array.from(r1.scores[b]), Array.from(r0.scores[b]), 'its score did change');
          checked++;
        }
      }
    }
    assert.ok(checked >= 6, `only ${checked} rows kept their selection`);
  });

  it('selection layer 1: a masked prompt\'s K/V from the selection layer on are never read; before it they are', async () => {
    const m = llama;
    const seqs = randomRows(m.config.vocabSize, [8, 5, 10], 61);
    const bank = bankOf(m, LENGTHS, SEED, { selectionLayer: 1 });
    const r0 = await new IdpLM(m, bank, { threads: 1 }).score(seqs);
    const kv = await bank.computeKv(m);
    const masked = (r0.selected[0] + 1) % bank.m;
    const noise = (a: Float32Array) => a.map((v, j) => v + 0.3 * Math.sin(j));
    const saved = kv.map((p) => ({ keys: [...p.keys], values: [...p.values] }));
    kv[masked].keys[1] = noise(kv[masked].keys[1]);
    kv[masked].values[1] = noise(kv[masked].values[1]);
    const r1 = await new IdpLM(m, bank, { threads: 1 }).score(seqs);
    assert.equal(r1.selected[0], r0.selected[0]);
    if (r0.selected[0] !== masked) assertBitEqual(r1.logits[0], r0.logits[0], 'layer ≥ ℓ K/V of a masked prompt');
    kv[masked].keys = [...saved[masked].keys];
    kv[masked].values = [...saved[masked].values];
    kv[masked].values[0] = noise(kv[masked].values[0]);
    const r2 = await new IdpLM(m, bank, { threads: 1 }).score(seqs);
    assert.ok(maxAbsDiff(r2.logits[0], r0.logits[0]) > 1e-5, 'layer 0 (before selection) sees every prompt');
  });
});
