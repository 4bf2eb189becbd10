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
import { writeGpt2TokenizerJson } from './fixtures';

interface Reference {
  generator: string;
  edge: { text: string; ids: number[] }[];
  corpora: { file: string; kind: 'lines' | 'jsonl-text'; rows: { line: number; count: number; sha256: string }[] }[];
}

const ref: Reference = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'gpt2-bpe', 'reference.json'), 'utf8'));
const digest = (ids: number[]) => createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16);

describe('tokenizers: GPT-2 BPE against an independent implementation (js-tiktoken r50k_base)', () => {
  const paths: Record<string, Tokenizer> = {};

  before(function () {
    const vocab = dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_vocab.json');
    const merges = dataPath(this, 'models', 'gpt2-tokenizer', 'gpt2_merges.txt');
    paths['encoder.json + merges'] = gpt2TokenizerFromVocabMerges(vocab, merges);
    paths['tokenizer.json'] = loadTokenizerJson(writeGpt2TokenizerJson(tmpDir(), vocab, merges));
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
