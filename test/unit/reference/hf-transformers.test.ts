// The engine against Hugging Face transformers itself: test/fixtures/hf/<family>/ holds a tiny
// random-weight model exactly as transformers 5.17 saved it (its own config keys, e.g.
// `rope_parameters`, and tensor layout) and transformers' outputs on it, made on a GPU-lent session by
// scripts/gpu/hf_reference.py (float32, CPU, eager attention). Checked here:
//   - full-forward logits of a 2 × 9 batch                      ≤ 1e-4
//   - a left-padded batch (positions restarting after the pads)  ≤ 1e-4 at the real positions
//   - greedy decoding with the KV cache: transformers' generate() ids, token for token

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate } from '../../../src/engine/runtime/generate';
import { parseHfConfig } from '../../../src/engine/models/hf-config';
import { IdpError } from '../../../src/engine/errors';
import { REPO_ROOT } from '../../helpers/data';

interface Reference {
  family: string;
  transformers: string;
  input_ids: number[][];
  logits: number[][][];                       // [B][T][V]
  padded: { input_ids: number[][]; attention_mask: number[][]; logits: Array<Array<number[] | null>> };
  greedy: { prompt: number[]; ids: number[] };
}

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'hf');
const TOL = 1e-4;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
}

describe('reference: tiny models saved and run by Hugging Face transformers', () => {
  const families = fs.readdirSync(FIXTURES).sort();

  it('covers Llama (untied, tied + GQA), Qwen2 (q/k/v bias), OPT (pre-LN, post-LN + projections) and GPT-2', () => {
    // phi3 / gemma2: written by scripts/gpu/hf_reference.py on the next GPU session (checked when present)
    assert.deepEqual(families.filter((f) => !['gemma2', 'phi3'].includes(f)), ['gpt2', 'llama', 'llama-tied', 'opt', 'opt-350m-style', 'qwen2']);
  });

  for (const family of families) {
    describe(family, () => {
      const dir = path.join(FIXTURES, family);
      const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')) as Reference;
      let lm: CausalLM;

      before(async () => {
        lm = new CausalLM(await loadModel(dir), { threads: 1 });
      });

      it(`logits of a full forward match transformers ${ref.transformers} within ${TOL}`, async () => {
        const got = await lm.logits(ref.input_ids);
        got.forEach((g, b) => {
          const d = maxAbs(g, ref.logits[b].flat());
          assert.ok(d <= TOL, `row ${b}: max |Δ| = ${d}`);
        });
      });

      it('a left-padded batch matches at every real position', async () => {
        // the engine left-pads sequences of different lengths itself: give it the real tokens only
        const seqs = ref.padded.input_ids.map((row, b) => row.filter((_, t) => ref.padded.attention_mask[b][t] === 1));
        const got = await lm.logits(seqs);
        const V = lm.config.vocabSize;
        got.forEach((g, b) => {
          const want = ref.padded.logits[b].filter((x): x is number[] => x !== null);
          assert.equal(want.length, seqs[b].length);
          want.forEach((w, t) => {
            const d = maxAbs(g.subarray(t * V, (t + 1) * V), w);
            assert.ok(d <= TOL, `row ${b} position ${t}: max |Δ| = ${d}`);
          });
        });
      });

      it('greedy decoding with the KV cache gives transformers\' generate() ids', async () => {
        const r = await generate(lm, undefined, [ref.greedy.prompt], { maxTokens: ref.greedy.ids.length, stopIds: [] });
        assert.deepEqual(r.rows[0].ids, ref.greedy.ids);
      });
    });
  }
});

describe('config: rotary keys of transformers 4 and 5', () => {
  const base = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'llama', 'config.json'), 'utf8')) as Record<string, unknown>;
  const parse = (patch: Record<string, unknown>) => parseHfConfig({ ...base, ...patch }, 'config.json');

  it('reads rope_parameters.rope_theta (5.x) and rope_theta (4.x)', () => {
    assert.equal(parse({}).ropeTheta, 500000);
    assert.equal(parse({ rope_parameters: undefined, rope_theta: 1234 }).ropeTheta, 1234);
    assert.equal(parse({ rope_parameters: undefined }).ropeTheta, 10000);
  });

  for (const [patch, why] of [
    [{ rope_parameters: 'default' }, /"rope_parameters" must be an object/],
    [{ rope_parameters: { rope_type: 'default', rope_theta: -1 } }, /"rope_parameters.rope_theta" must be a positive number/],
  ] as const) {
    it(`refuses a malformed ${JSON.stringify(patch)} with a CONFIG error naming the file`, () => {
      assert.throws(() => parse(patch), (e: unknown) => e instanceof IdpError && e.code === 'CONFIG' &&
        /config\.json/.test(e.message) && why.test(e.message));
    });
  }

  for (const patch of [
    { rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8 } },
    { rope_parameters: undefined, rope_scaling: { type: 'linear', factor: 2 } },
  ]) {
    it(`refuses scaled rotary ${JSON.stringify(patch)} with a typed error naming the file`, () => {
      assert.throws(() => parse(patch), (e: unknown) => e instanceof IdpError && e.code === 'UNSUPPORTED' &&
        /config\.json/.test(e.message) && /not supported/.test(e.message));
    });
  }
});
