// Gradients of the adapter parameterisations through the whole model (float32 ORT training graph)
// against outside references:
//  - LoRA: the float64 reference forward with merged weights W + s·B·A (GPT-2 Conv1D: W + s·(B·A)ᵀ),
//    central finite differences along random directions of every A and B (Llama, OPT, GPT-2);
//  - soft prompt: the same as n extra vocabulary rows fed as tokens (an untied Llama with the
//    embedding table extended by the prompt and lm_head by zero rows whose logits are left out of the
//    softmax), so the float64 reference differentiates it;
//  - prefix: the loss with a prefix equal to the model's own K/V of tokens u equals the reference loss
//    of [u ; text] on the text; its gradient against float64 finite differences of the reference run with that
//    prefix as its past K/V.

import * as assert from 'assert';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { TINY_SPECS, writeTinyModel, TinyModelSpec, RefWeights } from '../../helpers/oracle-models';
import { referenceLoss } from '../../helpers/gradcheck';
import { tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import { buildTrainGraph, trainIo } from '../../../src/engine/train/graph';
import { batchFeeds } from '../../../src/engine/train/batch';
import { createSession } from '../../../src/engine/runtime/session';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { Lora } from '../../../src/engine/train/methods/lora';
import { SoftPrompt, PROMPT_INPUT } from '../../../src/engine/train/methods/prompt';
import { Prefix } from '../../../src/engine/train/methods/prefix';
import type { TrainMethod } from '../../../src/engine/train/methods/method';
import { Rng } from '../../../src/engine/rng';

const root = tmpDir('idp-adapter-grad-');

async function graphRun(method: TrainMethod, rows: number[][]) {
  const tg = buildTrainGraph(method.model, method.graphOptions(false));
  const s = await createSession(tg.proto, tg.weightsDir, { threads: 1 });
  const lay = method.layout;
  const feeds = { ...batchFeeds(method.model.config, rows, { ignoreFirst: lay.promptSlots, P: lay.pastLen, positionStart: lay.positionStart }),
    ...method.feeds({ B: rows.length, T: lay.promptSlots + rows[0].length, step: 0, micro: 0 }, false, 0) };
  return { out: await s.run(feeds), runWith: (extra: Record<string, ort.Tensor>) => s.run({ ...feeds, ...extra }) };
}

function assertClose(fd: number[], an: number[], tol: number, what: string) {
  const norm = Math.sqrt(fd.reduce((a, v) => a + v * v, 0));
  const err = Math.sqrt(fd.reduce((a, v, i) => a + (v - an[i]) ** 2, 0)) / norm;
  assert.ok(err < tol, `${what}: relative error ${err.toExponential(2)}`);
}

const randomRows = (V: number, n: number, len: number, seed: number) => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: len }, () => r.int(V)));
};

describe('adapter gradients through whole models vs float64 references', () => {
  const loraCases: Array<[string, TinyModelSpec, string[]]> = [
    ['llamaGqa', TINY_SPECS.llamaGqa, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']],
    ['optPostLN', TINY_SPECS.optPostLN, ['q', 'v', 'o', 'up', 'down']],
    ['gpt2', TINY_SPECS.gpt2, ['q', 'o', 'up', 'down']],
  ];
  for (const [name, spec, targets] of loraCases) {
    it(`LoRA on ${name} (${targets.join(', ')})`, async () => {
      const tiny = writeTinyModel(path.join(root, `lora-${name}`), spec);
      const m = await loadModel(tiny.dir);
      const lora = Lora.create(m, { rank: 3, alpha: 5, targets: targets as never, seed: 2 });
      const rng = new Rng(4);
      for (const t of lora.params.values()) for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.next() * 2 - 1) * 0.3;
      const rows = randomRows(spec.vocabSize, 2, 6, 8);
      const { out } = await graphRun(lora, rows);

      const gpt2 = m.config.arch === 'gpt2';
      const merged = (over?: { name: string; dir: Float32Array; h: number }): RefWeights => {
        const w = new Map(tiny.weights);
        for (const mod of lora.modules) {
          const A = lora.params.get(`lora_A.${mod}`)!;
          const Bt = lora.params.get(`lora_B.${mod}`)!;
          const a = Float64Array.from(A.data, (v, i) => v + (over?.name === `lora_A.${mod}` ? over.h * over.dir[i] : 0));
          const b = Float64Array.from(Bt.data, (v, i) => v + (over?.name === `lora_B.${mod}` ? over.h * over.dir[i] : 0));
          const [r, inF] = A.shape;
          const outF = Bt.shape[0];
          const base = w.get(`${mod}.weight`)!;
          const data = Float64Array.from(base.data);
          for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) {
            let s = 0;
            for (let k = 0; k < r; k++) s += b[o * r + k] * a[k * inF + i];
            data[gpt2 ? i * outF + o : o * inF + i] += lora.scale * s;
          }
          w.set(`${mod}.weight`, { data, shape: base.shape });
        }
        return w;
      };
      const ref = referenceLoss(tiny.config, merged(), rows, spec.vocabSize);
      assert.ok(Math.abs(Number(out[trainIo.lossSum].data[0]) - ref) < 1e-4 * ref, 'loss with LoRA matches the merged reference');
      const fd: number[] = [];
      const an: number[] = [];
      const h = 1e-5;
      for (const [k, t] of lora.params) {
        const dir = Float32Array.from(t.data, () => rng.next() * 2 - 1);
        fd.push((referenceLoss(tiny.config, merged({ name: k, dir, h }), rows, spec.vocabSize) -
          referenceLoss(tiny.config, merged({ name: k, dir, h: -h }), rows, spec.vocabSize)) / (2 * h));
        an.push((out[`grad.${k}`].data as Float32Array).reduce((a, g, i) => a + g * dir[i], 0));
      }
      assertClose(fd, an, 1e-4, 'LoRA factors');
    });
  }

  it('soft prompt on an untied Llama (prompt rows = extra vocabulary rows in the reference)', async () => {
    const spec = TINY_SPECS.llamaGqa;
    const tiny = writeTinyModel(path.join(root, 'prompt'), spec);
    const m = await loadModel(tiny.dir);
    const n = 3;
    const V = spec.vocabSize;
    const sp = SoftPrompt.create(m, { tokens: n, init: 'random', seed: 6 });
    const rows = randomRows(V, 2, 6, 9);
    const { out } = await graphRun(sp, rows);
    const p = sp.params.get(PROMPT_INPUT)!;
    const d = spec.hiddenSize;
    const cfg = { ...tiny.config, vocab_size: V + n };
    const ext = (prompt: ArrayLike<number>): RefWeights => {
      const w = new Map(tiny.weights);
      const e = w.get('model.embed_tokens.weight')!;
      w.set('model.embed_tokens.weight', { data: Float64Array.from([...e.data, ...Array.from(prompt)]), shape: [V + n, d] });
      const head = w.get('lm_head.weight')!;
      w.set('lm_head.weight', { data: Float64Array.from([...head.data, ...new Array(n * d).fill(0)]), shape: [V + n, d] });
      return w;
    };
    const refRows = rows.map((r) => [...Array.from({ length: n }, (_, i) => V + i), ...r]);
    const lossAt = (prompt: ArrayLike<number>) => referenceLoss(cfg, ext(prompt), refRows, V, n);
    assert.ok(Math.abs(Number(out[trainIo.lossSum].data[0]) - lossAt(p.data)) < 1e-4 * lossAt(p.data), 'loss with the prompt');
    const g = out[`grad.${PROMPT_INPUT}`].data as Float32Array;
    const rng = new Rng(1);
    const fd: number[] = [];
    const an: number[] = [];
    for (let k = 0; k < 4; k++) {
      const dir = Array.from(p.data, () => rng.next() * 2 - 1);
      const h = 1e-5;
      const base = Array.from(p.data);   // float64: a float32 copy would round the step away
      fd.push((lossAt(base.map((v, i) => v + h * dir[i])) - lossAt(base.map((v, i) => v - h * dir[i]))) / (2 * h));
      an.push(g.reduce((a, gi, i) => a + gi * dir[i], 0));
    }
    assertClose(fd, an, 1e-4, 'soft prompt');
  });

  it('prefix: the model\'s own K/V as a prefix reproduces the reference on [u ; text]; gradients match float64 finite differences', async () => {
    const spec = TINY_SPECS.llamaGqa;
    const tiny = writeTinyModel(path.join(root, 'prefix'), spec);
    const m = await loadModel(tiny.dir);
    const V = spec.vocabSize;
    const u = [5, 17, 42, 8];
    const lm = new CausalLM(m, { threads: 1 });
    const state = lm.newState(1);
    await lm.step(state, [u], [u.map(() => true)], 'last');
    const params = new Map<string, { data: Float32Array; shape: number[] }>();
    const shape = [m.config.numKvHeads, u.length, m.config.headDim];
    for (let i = 0; i < m.config.numLayers; i++) {
      params.set(`prefix_key.${i}`, { data: Float32Array.from(state.past[2 * i].data as Float32Array), shape });
      params.set(`prefix_value.${i}`, { data: Float32Array.from(state.past[2 * i + 1].data as Float32Array), shape });
    }
    const prefix = new Prefix(m, params, u.length, 'vocab');
    const rows = randomRows(V, 2, 6, 10);
    const { out } = await graphRun(prefix, rows);
    const ref = referenceLoss(tiny.config, tiny.weights, rows.map((r) => [...u, ...r]), V, u.length);
    assert.ok(Math.abs(Number(out[trainIo.lossSum].data[0]) - ref) < 1e-4 * ref, `loss ${out[trainIo.lossSum].data[0]} vs reference ${ref}`);
    // the graph's gradient along a random direction per tensor against central differences of the float64
    // reference with the same prefix as its past K/V (h = 1e-4: truncation ~1e-8 of the loss, far below float32)
    const keys = [...params.keys()];
    const past = (bump?: { name: string; h: number; dir: Float32Array }) => {
      const at = (name: string) => {
        const x = Float64Array.from(params.get(name)!.data);
        if (bump?.name === name) for (let i = 0; i < x.length; i++) x[i] += bump.h * bump.dir[i];
        return x;
      };
      const L = m.config.numLayers;
      return { length: u.length, key: Array.from({ length: L }, (_, i) => at(`prefix_key.${i}`)), value: Array.from({ length: L }, (_, i) => at(`prefix_value.${i}`)) };
    };
    const refLoss = (bump?: { name: string; h: number; dir: Float32Array }) => referenceLoss(tiny.config, tiny.weights, rows, V, 0, { past: past(bump) });
    assert.ok(Math.abs(refLoss() - ref) < 1e-5 * ref, `the reference with the engine's float32 K/V as its past: ${refLoss()} vs ${ref} on [u ; text]`);
    const rng = new Rng(3);
    const fd: number[] = [];
    const an: number[] = [];
    for (const name of keys) {
      const t = params.get(name)!;
      const gname = `grad.${name.startsWith('prefix_key') ? 'past_key' : 'past_value'}.${name.split('.')[1]}`;
      const g = out[gname].data as Float32Array;   // [B, K, P, D]: one gradient per row, summed here
      const dir = Float32Array.from(t.data, () => rng.next() * 2 - 1);
      an.push(g.reduce((a, gi, i) => a + gi * dir[i % dir.length], 0));
      const h = 1e-4;
      fd.push((refLoss({ name, h, dir }) - refLoss({ name, h: -h, dir })) / (2 * h));
    }
    assert.equal(fd.length, 2 * m.config.numLayers);
    assertClose(fd, an, 1e-5, 'prefix K/V');   // measured 5.7e-7
  });
});
