// lm-eval's BOS rule for benchmark requests (eval/requests.ts): its HF model encodes contexts,
// continuations and generation prompts with add_special_tokens=False unless add_bos_token is on, which
// it turns on only for the Gemma family; `--add-bos` overrides. Checked on a real Llama tokenizer
// (stories260K's SentencePiece; its ids for "Once upon a time," are the llama2.c reference's), an OPT
// config (OPT-6.7b's special ids, BOS 2) over the staged GPT-2 BPE, and through `idp bench`.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { dataDir, dataPath, STORIES, tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import { parseHfConfig } from '../../../src/engine/models/hf-config';
import { gpt2TokenizerFromVocabMerges } from '../../../src/engine/tokenizers/hf';
import { encodePair, encodePrompt, encodingFor, lmEvalAddsBos } from '../../../src/engine/eval/requests';
import type { LoadedModel } from '../../../src/engine/models/config';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const OPT_FIXTURE = path.resolve(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'hf', 'opt', 'config.json');

describe('bench requests: lm-eval\'s BOS rule', function () {
  let m: LoadedModel;
  before(async function () {
    m = await loadModel(dataPath(this, ...STORIES, 'stories260K.gguf'));
  });

  it('Llama: no BOS before a context, its continuation or a generation prompt; the empty context is BOS', function () {
    const ref = JSON.parse(fs.readFileSync(dataPath(this, ...STORIES, 'reference_greedy.json'), 'utf8')) as { generated_ids: number[] };
    const e = encodingFor(m.config, m.tokenizer);
    assert.equal(e.addBos, false);
    assert.equal(e.bos, undefined);
    const p = encodePair(e, 'Once upon a time,', ' there');
    assert.deepEqual(p.context, ref.generated_ids.slice(0, 5));   // add_special_tokens=False: the text's ids alone
    assert.deepEqual(p.continuation, ref.generated_ids.slice(5, 6));
    assert.deepEqual(encodePrompt(e, 'Once upon a time,'), ref.generated_ids.slice(0, 5));
    assert.deepEqual(encodePair(e, '', ' there').context, [1]);   // prefix_token_id: the tokenizer's BOS
  });

  it('--add-bos puts the family\'s BOS first; GPT-2 gets none either way', function () {
    const e = encodingFor(m.config, m.tokenizer, { addBos: true });
    assert.equal(e.addBos, true);
    assert.deepEqual(encodePair(e, 'Once upon a time,', ' there').context.slice(0, 2), [1, 403]);
    const tok = gpt2TokenizerFromVocabMerges(dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_vocab.json'), dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_merges.txt'));
    const gpt2 = encodingFor({ arch: 'gpt2', modelType: 'gpt2', eosTokenId: 50256, vocabSize: 50257 }, tok, { addBos: true });
    assert.equal(gpt2.bos, undefined);
    assert.deepEqual(encodePair(gpt2, 'Hello', ' world'), { context: [15496], continuation: [995] });
    assert.deepEqual(encodePair(gpt2, '', 'Hello').context, [50256]);
  });

  it('OPT (BOS 2 = </s>): none by default, [2, …] with --add-bos; a Gemma model_type turns it on', function () {
    const tok = gpt2TokenizerFromVocabMerges(dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_vocab.json'), dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_merges.txt'));
    const json = JSON.parse(fs.readFileSync(OPT_FIXTURE, 'utf8')) as Record<string, unknown>;
    const opt = parseHfConfig({ ...json, bos_token_id: 2, eos_token_id: 2, vocab_size: 50272 }, OPT_FIXTURE);   // OPT-6.7b's ids
    assert.equal(opt.arch, 'opt');
    assert.equal(lmEvalAddsBos(opt), false);
    const ids = tok.encode('Question: why?\nAnswer:');
    assert.deepEqual(encodePair(encodingFor(opt, tok), 'Question: why?\nAnswer:', ' yes').context, ids);
    assert.deepEqual(encodePair(encodingFor(opt, tok, { addBos: true }), 'Question: why?\nAnswer:', ' yes').context, [2, ...ids]);
    assert.deepEqual(encodePrompt(encodingFor(opt, tok), ''), [2]);
    // lm-eval: `if "gemma" in model_type: add_bos_token = True`; an explicit choice still wins
    assert.equal(lmEvalAddsBos({ modelType: 'gemma2' }), true);
    assert.equal(encodingFor({ ...m.config, modelType: 'gemma' }, m.tokenizer).bos, 1);
    assert.equal(encodingFor({ ...m.config, modelType: 'gemma' }, m.tokenizer, { addBos: false }).bos, undefined);
  });

  it('idp bench records the choice; --add-bos changes the scores', function () {
    const dir = tmpDir('idp-bos-');
    const run = (out: string, ...extra: string[]) => {
      const r = spawnSync(process.execPath, [CLI, 'bench', '--model', dataPath(this, ...STORIES, 'stories260K.gguf'), '--tasks', 'arc_easy',
        '--data-dir', dataDir(), '--limit', '4', '--out', path.join(dir, out), ...extra], { encoding: 'utf8', timeout: 60000 });
      assert.equal(r.status, 0, r.stderr);
      return { json: JSON.parse(fs.readFileSync(path.join(dir, out), 'utf8')), md: fs.readFileSync(path.join(dir, out.replace(/\.json$/, '.md')), 'utf8') };
    };
    const plain = run('plain.json');
    const bos = run('bos.json', '--add-bos');
    assert.equal(plain.json.settings.addBos, false);
    assert.equal(bos.json.settings.addBos, true);
    assert.match(plain.md, /contexts encoded without BOS \(lm-eval's add_bos_token=False default/);
    assert.match(bos.md, /contexts encoded with BOS first/);
    const lls = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l).lls as number[]);
    assert.notDeepEqual(lls('plain.samples.jsonl'), lls('bos.samples.jsonl'));
  });
});
