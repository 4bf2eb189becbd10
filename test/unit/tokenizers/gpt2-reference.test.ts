// GPT-2 byte-level BPE against ids computed by an independent implementation (js-tiktoken's r50k_base, OpenAI's
// own ranks and split pattern), written once by scripts/fixtures/gpt2-bpe-reference.mjs into
// test/fixtures/gpt2-bpe/reference.json: 36 hand-written edge cases in full and 323 lines of the staged corpora
// (WikiText-2, C4, TinyStories; ~74K tokens) as id count + sha256 of the ids, so no corpus text is committed.
// Both of IDP Lab's GPT-2 paths are held to it: encoder.json + merges, and a tokenizer.json made from them.
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { dataDir, dataPath, REPO_ROOT, tmpDir } from '../../helpers/data';
import { gpt2TokenizerFromVocabMerges, loadTokenizerJson, Tokenizer } from '../../../src/engine/tokenizers';

interface Reference {
  generator: string;
  edge: { text: string; ids: number[] }[];
  corpora: { file: string; kind: 'lines' | 'jsonl-text'; rows: { line: number; count: number; sha256: string }[] }[];
}

const ref: Reference = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'gpt2-bpe', 'reference.json'), 'utf8'));
const digest = (ids: number[]) => createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16);

function tokenizerJsonFrom(vocabFile: string, mergesFile: string): Tokenizer {
  const vocab = JSON.parse(fs.readFileSync(vocabFile, 'utf8'));
  const merges = fs.readFileSync(mergesFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('#version'));
  const file = path.join(tmpDir(), 'tokenizer.json');
  fs.writeFileSync(file, JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, vocab, merges },
  }));
  return loadTokenizerJson(file);
}

describe('tokenizers: GPT-2 BPE against an independent implementation (js-tiktoken r50k_base)', () => {
  const paths: Record<string, Tokenizer> = {};

  before(function () {
    const vocab = dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_vocab.json');
    const merges = dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_merges.txt');
    paths['encoder.json + merges'] = gpt2TokenizerFromVocabMerges(vocab, merges);
    paths['tokenizer.json'] = tokenizerJsonFrom(vocab, merges);
  });

  it('holds enough reference to mean something', () => {
    assert.ok(ref.edge.length >= 30 && ref.corpora.reduce((a, c) => a + c.rows.length, 0) >= 300, ref.generator);
  });

  for (const name of ['encoder.json + merges', 'tokenizer.json']) {
    it(`${name}: every edge case gives the reference ids`, () => {
      for (const { text, ids } of ref.edge) assert.deepEqual(paths[name].encode(text), ids, JSON.stringify(text));
    });

    it(`${name}: every corpus line gives the reference ids (count and digest)`, function () {
      let tokens = 0;
      for (const c of ref.corpora) {
        const lines = fs.readFileSync(dataPath(this, ...c.file.split('/')), 'utf8').split('\n');
        for (const row of c.rows) {
          const text = c.kind === 'jsonl-text' ? JSON.parse(lines[row.line]).text as string : lines[row.line];
          const ids = paths[name].encode(text);
          assert.equal(ids.length, row.count, `${c.file}:${row.line + 1} (under ${dataDir()})`);
          assert.equal(digest(ids), row.sha256, `${c.file}:${row.line + 1}`);
          tokens += ids.length;
        }
      }
      assert.ok(tokens > 50_000, `${tokens} tokens compared`);
    });
  }
});
