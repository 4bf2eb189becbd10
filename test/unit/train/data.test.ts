// Training data: files and globs (plain text, JSONL "text"), BOS/EOS per document, packing into
// blocks, held-out split, data-free sampling from a model; bad files give typed errors naming them.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { TINY_SPECS, writeTinyModel } from '../../helpers/oracle-models';
import { tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { loadModel } from '../../../src/engine/models/load';
import type { ModelConfig } from '../../../src/engine/models/config';
import type { Tokenizer } from '../../../src/engine/tokenizers/tokenizer';
import { CausalLM } from '../../../src/engine/runtime/lm';
import { loadCorpus, readTrainingDocs, sampleCorpus, tokenizeDocs } from '../../../src/engine/train/data';

const root = tmpDir('idp-data-');
const w = (name: string, text: string | Buffer) => { const f = path.join(root, name); fs.mkdirSync(path.dirname(f), { recursive: true }); fs.writeFileSync(f, text); return f; };

/** Byte-level test tokenizer: one id per UTF-16 unit (mod 200) + 3, BOS 1, EOS 2. */
const chars: Tokenizer = {
  vocabSize: 203, bosId: 1, eosId: 2,
  encode: (t) => Array.from(t, (c) => (c.charCodeAt(0) % 200) + 3),
  decode: (ids) => ids.map((i) => String.fromCharCode(i - 3)).join(''),
};
const llamaCfg = { arch: 'llama', bosTokenId: 1, eosTokenId: 2 } as ModelConfig;
const gpt2Cfg = { arch: 'gpt2', eosTokenId: 2 } as ModelConfig;

describe('training data', () => {
  it('reads plain text, JSONL "text" rows and globs; BOS starts each document (EOS ends it for GPT-2)', () => {
    w('ws/a.txt', 'hello');
    w('ws/sub/b.jsonl', '{"text":"ab","url":"x"}\n\n{"text":"cd"}\n');
    const { docs, files } = readTrainingDocs(['ws/**/*.txt', 'ws/sub/*.jsonl'], root);
    assert.deepEqual(docs, ['hello', 'ab', 'cd']);
    assert.equal(files.length, 2);
    const s = Array.from(tokenizeDocs(['ab', 'c'], chars, llamaCfg));
    assert.deepEqual(s, [1, 100, 101, 1, 102]);
    assert.deepEqual(Array.from(tokenizeDocs(['ab', 'c'], chars, gpt2Cfg)), [100, 101, 2, 102, 2]);
  });

  it('packs the stream into blocks and holds out the last ones (or separate files)', () => {
    const f = w('long.txt', 'x'.repeat(999));
    const c = loadCorpus([f], chars, llamaCfg, { seqLen: 100, evalFraction: 0.2 });
    assert.equal(c.tokens, 1000);
    assert.equal(c.train.count, 8);
    assert.equal(c.eval.count, 2);
    assert.equal(c.train.get(0)[0], 1);
    const e = loadCorpus([f], chars, llamaCfg, { seqLen: 100, evalFiles: [w('ev.txt', 'y'.repeat(300))] });
    assert.equal(e.train.count, 10);
    assert.equal(e.eval.count, 3);
  });

  it('typed errors: missing, empty and binary files, JSONL without text, a glob matching nothing, too little data', async () => {
    await expectIdpError(() => readTrainingDocs([path.join(root, 'missing.txt')]), 'NOT_FOUND', 'missing.txt');
    await expectIdpError(() => readTrainingDocs([w('empty.txt', '')]), 'FORMAT', 'empty.txt', /empty/);
    await expectIdpError(() => readTrainingDocs([w('blank.txt', '  \n\n ')]), 'FORMAT', 'blank.txt', /empty/);
    await expectIdpError(() => readTrainingDocs([w('bin.txt', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2, 0, 0]))]), 'FORMAT', 'bin.txt', /binary/);
    await expectIdpError(() => readTrainingDocs([w('noise.txt', Buffer.from(Array.from({ length: 4000 }, (_, i) => 0x80 + (i % 64))))]), 'FORMAT', 'noise.txt', /UTF-8/);
    await expectIdpError(() => readTrainingDocs([w('bad.jsonl', '{"body":"x"}\n')]), 'FORMAT', 'bad.jsonl', /line 1 has no string "text"/);
    await expectIdpError(() => readTrainingDocs(['nothing/*.txt'], root), 'INPUT', undefined, /matches no files/);
    await expectIdpError(() => readTrainingDocs([]), 'INPUT', undefined, /no training data/);
    await expectIdpError(() => loadCorpus([w('short.txt', 'abc')], chars, llamaCfg, { seqLen: 100 }), 'INPUT', 'short.txt', /fewer than one block/);
    await expectIdpError(() => loadCorpus([w('one.txt', 'x'.repeat(150))], chars, llamaCfg, { seqLen: 100 }), 'INPUT', 'one.txt', /need at least 2/);
  });

  it('data-free: a corpus sampled from the model, full blocks from BOS, repeatable by seed', async () => {
    const m = await loadModel(writeTinyModel(path.join(root, 'model'), TINY_SPECS.llamaGqa).dir);
    const lm = new CausalLM(m, { threads: 1 });
    const a = await sampleCorpus(lm, undefined, { tokens: 100, seqLen: 20, seed: 3, batch: 2 });
    assert.equal(a.count, 5);
    for (let i = 0; i < a.count; i++) assert.equal(a.get(i)[0], 1);
    assert.ok(a.ids.every((id) => id >= 0 && id < 96));
    const b = await sampleCorpus(lm, undefined, { tokens: 100, seqLen: 20, seed: 3, batch: 2 });
    assert.deepEqual(Array.from(b.ids), Array.from(a.ids));
    const c = await sampleCorpus(lm, undefined, { tokens: 100, seqLen: 20, seed: 4, batch: 2 });
    assert.notDeepEqual(Array.from(c.ids), Array.from(a.ids));
  });
});
