// The embedded default model (models/default) as shipped: it loads with its tokenizer, is the
// default of the engine and the CLI, writes code-like text from a TypeScript prompt, fills in the
// middle, and scores held-out code (files it never saw) below a stated perplexity.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { defaultModelPath, embeddedModelPath } from '../../../src/engine/defaults';
import { describeModel, loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { HfTokenizer } from '../../../src/engine/tokenizers/hf';
import { generate, promptIds } from '../../../src/engine/runtime/generate';
import { perplexity } from '../../../src/engine/eval/perplexity';
import { buildCorpus } from '../../../scripts/default-model/corpus';
import { FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, SPECIAL_TOKENS } from '../../../scripts/default-model/fim';
import { completionIds, findFimTokens } from '../../../src/engine/fim';
import { REPO_ROOT } from '../../helpers/data';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');

/**
 * Held-out perplexity bound (per token, windows of 512) on the held-out parts of two small packages
 * (below; 6,781 tokens): the committed model measures 102.9 there (36.3 on the whole held-out set,
 * which the model card reports; these two packages are a small share of the training text).
 */
const HELD_OUT_PPL_BOUND = 120;
const HELD_OUT_PACKAGES = ['onnxruntime-common', 'vscode-jsonrpc'];

/** Text that reads like TypeScript/JavaScript: identifiers and several kinds of code punctuation. */
function looksLikeCode(s: string): boolean {
  const punct = new Set([...s].filter((ch) => '(){}[];:=,.<>'.includes(ch)));
  return /[A-Za-z_$][\w$]{2,}/.test(s) && punct.size >= 3 && !/^(.)\1*$/.test(s.trim());
}

describe('default model (models/default): the embedded code model', function () {
  let m: LoadedModel;
  let lm: CausalLM;

  before(async () => {
    m = await loadModel(DEFAULT_MODEL_DIR);
    lm = new CausalLM(m, { threads: 1 });
  });

  it('is the packaged default (IDP_MODEL overrides it) and a ≤ 10 MB Hugging Face folder with a model card', () => {
    const saved = process.env.IDP_MODEL;
    try {
      delete process.env.IDP_MODEL;
      assert.equal(defaultModelPath(), DEFAULT_MODEL_DIR);
      assert.equal(embeddedModelPath(), DEFAULT_MODEL_DIR);
      process.env.IDP_MODEL = '/some/other/model.gguf';
      assert.equal(defaultModelPath(), '/some/other/model.gguf');
    } finally {
      if (saved === undefined) delete process.env.IDP_MODEL; else process.env.IDP_MODEL = saved;
    }
    const files = fs.readdirSync(DEFAULT_MODEL_DIR).sort();
    assert.deepEqual(files, ['README.md', 'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'training.json']);
    const bytes = files.reduce((a, f) => a + fs.statSync(path.join(DEFAULT_MODEL_DIR, f)).size, 0);
    assert.ok(bytes <= 10_000_000, `${bytes} bytes`);
    const card = fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'README.md'), 'utf8');
    const rec = JSON.parse(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'training.json'), 'utf8'));
    for (const want of ['npm run train:default-model', 'Fill-in-the-middle: yes', 'tokens seen', 'held-out loss', 'typescript@5.9.3', String(rec.recipe.seed)]) {
      assert.ok(card.includes(want), `the card mentions ${want}`);
    }
    assert.ok(card.includes(Math.exp(rec.result.heldOutLoss).toFixed(2)), 'the card states the held-out perplexity');
    // the .vsix ships it
    assert.ok(fs.readFileSync(path.join(REPO_ROOT, '.vscodeignore'), 'utf8').split('\n').includes('!models/default/**'));
  });

  it('loads as a Llama of ~2.4M parameters with its byte-level BPE tokenizer (BOS/EOS, FIM tokens)', () => {
    const d = describeModel(m);
    assert.equal(d.architecture, 'LlamaForCausalLM');
    assert.ok(d.parameters > 1e6 && d.parameters < 5e6, String(d.parameters));
    assert.equal(d.vocabSize, 4096);
    assert.equal(d.contextLength, 512);
    const tok = m.tokenizer as HfTokenizer;
    assert.ok(tok instanceof HfTokenizer);
    assert.equal(tok.vocabSize, 4096);
    assert.equal(tok.bosId, 0);
    assert.equal(tok.eosId, 0);
    assert.deepEqual([FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX].map((t) => tok.pieceToId(t)), [1, 2, 3]);
    const src = 'export async function main(args: string[]): Promise<void> {\n\treturn;\n}\n// café ✓\n';
    assert.equal(tok.decode(tok.encode(src)), src);
    assert.ok(tok.encode(src).length < src.length / 2, 'the tokenizer compresses code');
  });

  it('greedy generation from a TypeScript prompt writes code-like text', async () => {
    for (const prompt of ['export function ', 'const x = ']) {
      const r = await generate(lm, m.tokenizer, [promptIds(lm, m.tokenizer, prompt)], { maxTokens: 40 });
      const text = r.rows[0].text;
      assert.ok(looksLikeCode(text), `${JSON.stringify(prompt)} → ${JSON.stringify(text)}`);
    }
  });

  it('carries the FIM tokens the extension looks for, and a FIM prompt laid out by the server generates', async () => {
    const tok = m.tokenizer!;
    const fim = findFimTokens(tok);
    assert.deepEqual(fim, { template: 'qwen', order: 'psm', prefix: 1, suffix: 3, middle: 2 });
    const ids = completionIds(tok, fim, 'function add(a: number, b: number): number {\n  return ', ';\n}\n', 256, m.config.bosTokenId);
    // the layout, fixed (PSM order): BOS 0, <fim_prefix> 1, the prefix's 16 tokens, <fim_suffix> 3, the suffix's 4, <fim_middle> 2
    assert.deepEqual(ids, [0, 1, 654, 853, 44, 101, 62, 534, 48, 340, 62, 534, 417, 534, 293, 300, 344, 36, 3, 63, 14, 129, 14, 2]);
    const r = await generate(lm, tok, [ids], { maxTokens: 16 });
    // What the model writes there, greedy: ids computed once with this model (the same with 1 and 4
    // threads) and committed. At this size it barely fills in the middle ('rc = "" | "" | …'; the model
    // card measures it), so these pin the model, the FIM layout and the runtime rather than quality:
    // a change in any of them shows here.
    assert.deepEqual(r.rows[0].ids, [118, 103, 282, 359, 38, 372, 359, 38, 372, 359, 38, 372, 359, 38, 372, 359]);
  });

  it(`scores held-out code (never trained on) below perplexity ${HELD_OUT_PPL_BOUND}`, async () => {
    const c = buildCorpus({ nodeModules: path.join(REPO_ROOT, 'node_modules'), specialTokens: SPECIAL_TOKENS, only: (p) => HELD_OUT_PACKAGES.includes(p.name) });
    const held = c.parts.filter((p) => p.heldOut);
    assert.ok(held.length >= 3, 'held-out parts exist');
    const ids: number[] = [];
    for (const p of held) ids.push(m.config.bosTokenId!, ...m.tokenizer!.encode(p.text));
    const r = await perplexity(lm, ids, { seqlen: 512 });
    assert.ok(r.windows >= 8, `${r.windows} windows`);
    assert.ok(r.ppl < HELD_OUT_PPL_BOUND, `held-out perplexity ${r.ppl.toFixed(2)} (bound ${HELD_OUT_PPL_BOUND})`);
    assert.ok(r.ppl > 1.5, 'not suspiciously low (the data is held out)');
  });

  it('the CLI uses it when no --model is given', () => {
    const env = { ...process.env };
    delete env.IDP_MODEL;
    const r = spawnSync(process.execPath, [CLI, 'generate', '--prompt', 'const x', '--max-tokens', '8', '--json'], { encoding: 'utf8', timeout: 60000, env });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.ok(out.ids.length >= 1 && out.ids.length <= 8, r.stdout);
    const info = spawnSync(process.execPath, [CLI, 'info', '--json'], { encoding: 'utf8', timeout: 60000, env });
    assert.equal(info.status, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).vocabSize, 4096);
  });
});
