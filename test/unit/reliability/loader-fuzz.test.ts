// Loader fuzz, end to end: seeded mutations of real files — the embedded default model's config.json and
// model.safetensors, stories260K.gguf and stories260K.bin — each loaded and, when it loads, run: a session
// built and two tokens generated. Every outcome is a typed error (IdpError) or a finished generation; no
// other exception, no hang, no runaway memory. formats/fuzz.test.ts fuzzes the readers alone, in bulk;
// this one follows what loads into the graph and the runtime (where a config's sizes used to bite).

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { isIdpError } from '../../../src/engine/errors';
import { embeddedModelPath } from '../../../src/engine/defaults';
import { readGguf } from '../../../src/engine/formats/gguf';
import { loadModel } from '../../../src/engine/models/load';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { generate } from '../../../src/engine/runtime/generate';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { int, lieInJson, lyingSafetensors, mutateBytes, Mutation, pick } from '../../helpers/fuzz';
import { mulberry32 } from '../../helpers/prng';

const SEED = Number(process.env.IDP_FUZZ_SEED ?? 20250611);
const PER_FORMAT = 40;
const work = tmpDir('idp-loader-fuzz-');
const cacheDir = path.join(work, 'cache');

/** Size fields of a Llama config and values a hostile or broken file might hold. */
const SIZE_KEYS = ['max_position_embeddings', 'num_hidden_layers', 'hidden_size', 'vocab_size', 'num_attention_heads', 'num_key_value_heads',
  'head_dim', 'intermediate_size', 'rope_theta', 'bos_token_id', 'eos_token_id'];
const SIZE_LIES: unknown[] = [1e12, 1_048_576, 2 ** 24 + 1, 2 ** 31, 2 ** 53, 0, -1, 3, 1.5, null, '12', 1e308];

type Outcome = 'generated' | string;   // or an IdpError code

describe('reliability: loader fuzz (load + generate)', function () {
  this.timeout(240000);

  it(`${PER_FORMAT} mutations each of config.json, safetensors, GGUF and llama2.c: typed errors or a generation`, async function () {
    const gguf = dataPath(this, ...STORIES, 'stories260K.gguf');
    const bin = dataPath(this, ...STORIES, 'stories260K.bin');
    const model = embeddedModelPath();
    const cfgText = fs.readFileSync(path.join(model, 'config.json'), 'utf8');
    const cfg = JSON.parse(cfgText);
    const st = fs.readFileSync(path.join(model, 'model.safetensors'));
    const ggufBuf = fs.readFileSync(gguf);
    const ggufHot = readGguf(gguf).dataOffset;
    const binBuf = fs.readFileSync(bin);
    const r = mulberry32(SEED);

    const counts: Record<string, Record<Outcome, number>> = {};
    const failures: string[] = [];
    let slowest = { ms: 0, what: '' };
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;

    const attempt = async (format: string, target: string, what: string) => {
      const t0 = Date.now();
      let outcome: Outcome;
      let lm: CausalLM | undefined;
      try {
        const m = await loadModel(target, { cacheDir });
        lm = new CausalLM(m, { threads: 1 });
        const V = m.config.vocabSize;
        const prompt = m.tokenizer ? m.tokenizer.encode('export function') : [1, 2, 3];
        await generate(lm, m.tokenizer, [prompt.filter((id) => id < V).concat(0).slice(0, 8)], { maxTokens: 2 });
        outcome = 'generated';
      } catch (e) {
        if (isIdpError(e)) outcome = e.code;
        else {
          outcome = 'untyped';
          failures.push(`${format} (${what}): ${(e as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e)}`);
        }
      } finally {
        await lm?.release();
        fs.rmSync(cacheDir, { recursive: true, force: true });
      }
      (counts[format] ??= {})[outcome] = (counts[format][outcome] ?? 0) + 1;
      const ms = Date.now() - t0;
      if (ms > slowest.ms) slowest = { ms, what: `${format} (${what})` };
      peak = Math.max(peak, process.memoryUsage().rss);
    };

    /** An HF folder: the default model with `config` and `weights` in place of its own files. */
    const hfFolder = (i: number, config: string, weights: Buffer | undefined): string => {
      const d = path.join(work, `hf${i}`);
      fs.cpSync(model, d, { recursive: true });
      fs.writeFileSync(path.join(d, 'config.json'), config);
      if (weights) fs.writeFileSync(path.join(d, 'model.safetensors'), weights);
      return d;
    };

    for (let i = 0; i < PER_FORMAT; i++) {
      // the first two are fixed: the sizes that used to allocate RoPE tables (1e12: a RangeError)
      let text: string;
      let what: string;
      if (i < 2 || r() < 0.6) {
        const key = i < 2 ? 'max_position_embeddings' : pick(r, SIZE_KEYS);
        const v = i === 0 ? 1e12 : i === 1 ? 1_048_576 : pick(r, SIZE_LIES);
        text = JSON.stringify({ ...cfg, [key]: v });
        what = `${key}=${JSON.stringify(v)}`;
      } else {
        ({ text, what } = lieInJson(r, cfgText));
      }
      const d = hfFolder(i, text, undefined);
      await attempt('config.json', d, what);
      fs.rmSync(d, { recursive: true, force: true });
    }

    for (let i = 0; i < PER_FORMAT; i++) {
      const m: Mutation = r() < 0.5 ? lyingSafetensors(r, st) : mutateBytes(r, st, 8 + Number(st.readBigUInt64LE(0)));
      const d = hfFolder(PER_FORMAT + i, cfgText, m.out);
      await attempt('safetensors', d, m.what);
      fs.rmSync(d, { recursive: true, force: true });
    }

    for (let i = 0; i < PER_FORMAT; i++) {
      const m = mutateBytes(r, ggufBuf, ggufHot);
      const f = path.join(work, `g${i}.gguf`);
      fs.writeFileSync(f, m.out);
      await attempt('GGUF', f, m.what);
      fs.rmSync(f);
    }

    for (let i = 0; i < PER_FORMAT; i++) {
      let m: Mutation;
      if (r() < 0.5) {
        const out = Buffer.from(binBuf);
        const field = int(r, 0, 7);
        const v = pick(r, [0, -1, 1, 3, 65536, 1 << 20, 2 ** 31 - 1, -(2 ** 31)]);
        out.writeInt32LE(v, 4 * field);
        m = { out, what: `header int ${field} = ${v}` };
      } else {
        m = mutateBytes(r, binBuf, 28);
      }
      const f = path.join(work, `b${i}.bin`);
      fs.writeFileSync(f, m.out);
      await attempt('llama2.c', f, m.what);
      fs.rmSync(f);
    }

    const summary = `outcomes ${JSON.stringify(counts)}, slowest ${slowest.ms} ms (${slowest.what}), peak RSS +${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`;
    if (process.env.IDP_FUZZ_VERBOSE) console.log(`loader fuzz: ${summary}`);
    assert.deepEqual(failures, [], `untyped failures:\n${failures.join('\n')}\n${summary}`);
    assert.ok(slowest.ms < 5000, summary);
    assert.ok(peak - rss0 < 768 * 2 ** 20, summary);
    // the campaign reaches the runtime: some mutations of each kind of file still load and generate
    for (const f of ['config.json', 'safetensors', 'GGUF']) assert.ok((counts[f]?.generated ?? 0) > 0, `${f}: nothing loaded (${summary})`);
  });
});

