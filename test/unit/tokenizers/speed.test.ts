// Speed sanity, not a timed assertion: prints tokens/s for encoding ~1 MB of WikiText-2 with each tokenizer.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import {
  byteLevelBpeJson, gpt2TokenizerFromVocabMerges, loadLlama2cTokenizer, loadTokenizerJson, Tokenizer, tokenizerFromGgufVocab,
} from '../../../src/engine/tokenizers';
import { readTokBin } from './fixtures';

describe('tokenizers: encoding speed on ~1 MB of text (printed, not asserted)', () => {
  let text: string;
  const tokenizers: [string, () => Tokenizer][] = [];

  before(function () {
    text = fs.readFileSync(dataPath(this, 'corpora', 'wikitext2', 'wikitext-2-raw-v1.test.joined.txt'), 'utf8').slice(0, 1 << 20);
    const tok512 = dataPath(this, ...STORIES, 'tok512.bin');
    const vocabFile = dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_vocab.json');
    const mergesFile = dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_merges.txt');
    tokenizers.push(['llama2.c tok512.bin', () => loadLlama2cTokenizer(tok512)]);
    tokenizers.push(['GGUF vocab (stories260K)', () => {
      const raw = readTokBin(tok512);
      const tokens = raw.pieces.map((p, i) => (i === 1 ? '<s>' : i === 2 ? '</s>' : p.toString('utf8').replace(/ /g, '\u2581')));
      const tokenTypes = tokens.map((_, i) => (i === 0 ? 2 : i <= 2 ? 3 : i <= 258 ? 6 : 1));
      return tokenizerFromGgufVocab({ tokens, scores: raw.scores, tokenTypes, bosId: 1, eosId: 2 }, 'stories260K.gguf');
    }]);
    tokenizers.push(['GPT-2 vocab+merges', () => gpt2TokenizerFromVocabMerges(vocabFile, mergesFile)]);
    tokenizers.push(['GPT-2 tokenizer.json', () => {
      const vocab = JSON.parse(fs.readFileSync(vocabFile, 'utf8'));
      const merges = fs.readFileSync(mergesFile, 'utf8').split('\n').filter((l) => l).map((l) => l.split(' ') as [string, string]);
      const f = path.join(tmpDir(), 'tokenizer.json');
      fs.writeFileSync(f, JSON.stringify(byteLevelBpeJson(vocab, merges, [{ id: 50256, content: '<|endoftext|>', special: true }])));
      return loadTokenizerJson(f);
    }]);
  });

  it('encodes and decodes 1 MB with each tokenizer', () => {
    const mb = Buffer.byteLength(text, 'utf8') / 1e6;
    for (const [name, make] of tokenizers) {
      let t0 = performance.now();
      const tok = make();
      const loadMs = performance.now() - t0;
      t0 = performance.now();
      const ids = tok.encode(text);
      const encS = (performance.now() - t0) / 1000;
      t0 = performance.now();
      const back = tok.decode(ids);
      const decS = (performance.now() - t0) / 1000;
      assert.equal(back, text, name);
      console.log(`      ${name}: ${ids.length} tokens from ${mb.toFixed(2)} MB; load ${loadMs.toFixed(0)} ms; ` +
        `encode ${(ids.length / encS / 1e3).toFixed(0)}k tokens/s (${(mb / encS).toFixed(2)} MB/s); decode ${(ids.length / decS / 1e6).toFixed(1)}M tokens/s`);
    }
  });
});
