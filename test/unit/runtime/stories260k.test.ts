// stories260K against llama2.c: the exact greedy sample run.c prints, logits within 1e-4 of the
// reference file, and the GGUF and llama2.c forms of the model giving the same logits.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import { dataPath, STORIES } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate, promptIds } from '../../../src/engine/runtime/generate';

interface Reference { generated_ids: number[]; generated_text: string; logits_inputs: number[]; logits: number[][]; bos_id: number }

describe('stories260K (llama2.c reference)', function () {
  let ref: Reference;
  let bin: CausalLM;
  let gguf: CausalLM;
  let binTok: Awaited<ReturnType<typeof loadModel>>['tokenizer'];

  before(async function () {
    ref = JSON.parse(fs.readFileSync(dataPath(this, ...STORIES, 'reference_greedy.json'), 'utf8'));
    const b = await loadModel(dataPath(this, ...STORIES, 'stories260K.bin'), { tokenizer: dataPath(this, ...STORIES, 'tok512.bin') });
    binTok = b.tokenizer;
    bin = new CausalLM(b, { threads: 1 });
    gguf = new CausalLM(await loadModel(dataPath(this, ...STORIES, 'stories260K.gguf')), { threads: 1 });
  });

  it('greedy from BOS prints the 256-token llama2.c sample, ids and text', async () => {
    for (const lm of [bin, gguf]) {
      const r = await generate(lm, lm.model.tokenizer, [[ref.bos_id]], { maxTokens: 256 });
      assert.deepEqual(r.rows[0].ids, ref.generated_ids);
      assert.equal(r.rows[0].text, ref.generated_text);
      assert.equal(r.rows[0].finish, 'length');
    }
  });

  it('logits at the first positions are within 1e-4 of the reference', async () => {
    const [got] = await bin.logits([ref.logits_inputs]);
    const V = 512;
    let worst = 0;
    ref.logits.forEach((row, p) => row.forEach((v, i) => { worst = Math.max(worst, Math.abs(got[p * V + i] - v)); }));
    assert.ok(worst < 1e-4, `max |Δ| = ${worst}`);
  });

  it('the GGUF and llama2.c forms give the same logits', async () => {
    const ids = ref.generated_ids.slice(0, 40);
    const [a] = await bin.logits([[1, ...ids]]);
    const [b] = await gguf.logits([[1, ...ids]]);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 1e-6, `max |Δ| = ${worst}`);
  });

  it('a text prompt is encoded after BOS and continues the sample', async () => {
    const ids = promptIds(bin, binTok, 'Once upon a time');
    assert.equal(ids[0], 1);
    const r = await generate(bin, binTok, [ids], { maxTokens: 10 });
    assert.ok(r.rows[0].text.startsWith(', there was a little girl'), JSON.stringify(r.rows[0].text));
  });

  it('temperature sampling is repeatable with a seed and differs across seeds', async () => {
    const run = (seed: number) => generate(bin, binTok, [[1]], { maxTokens: 40, temperature: 1, topP: 0.9, seed });
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    assert.deepEqual(a.rows[0].ids, b.rows[0].ids);
    assert.notDeepEqual(a.rows[0].ids, c.rows[0].ids);
  });

  it('stop sequences end the row and are cut from the text', async () => {
    const r = await generate(bin, binTok, [[1]], { maxTokens: 100, stop: ['Lily'] });
    assert.equal(r.rows[0].finish, 'stop');
    assert.equal(r.rows[0].text, 'Once upon a time, there was a little girl named ');
  });

  it('batched generation equals one-by-one (rows of different lengths)', async () => {
    const prompts = [[1], promptIds(bin, binTok, 'Tom and his dog'), promptIds(bin, binTok, 'The sun')];
    const batched = await generate(bin, binTok, prompts, { maxTokens: 20 });
    for (let i = 0; i < prompts.length; i++) {
      const alone = await generate(bin, binTok, [prompts[i]], { maxTokens: 20 });
      assert.deepEqual(batched.rows[i].ids, alone.rows[0].ids, `row ${i}`);
    }
  });
});

describe('continuation text', () => {
  it('keeps the space between the prompt and the first generated word', async function () {
    const m = await loadModel(dataPath(this, ...STORIES, 'stories260K.bin'), { tokenizer: dataPath(this, ...STORIES, 'tok512.bin') });
    const lm = new CausalLM(m, { threads: 1 });
    const ids = promptIds(lm, m.tokenizer, 'Lily');
    const r = await generate(lm, m.tokenizer, [ids], { maxTokens: 5 });
    assert.match(r.rows[0].text, /^ \S/, JSON.stringify(r.rows[0].text));
    assert.equal(m.tokenizer!.decode([...ids, ...r.rows[0].ids]), 'Lily' + r.rows[0].text);
  });
});
