// Perplexity (GPTQ papers' convention) and corpus reading, against hand-computable cases: a scorer
// with uniform logits has perplexity V, one that is certain of the right token has 1, windows are
// non-overlapping with the tail dropped; JSONL/gzip/glob reading; typed errors for bad files.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { evalCorpus, LogitsScorer, perplexity, windowNll } from '../../../src/engine/eval/perplexity';
import { expandPaths, readCorpus, readDocuments } from '../../../src/engine/eval/corpus';
import type { Tokenizer } from '../../../src/engine/tokenizers/tokenizer';

const V = 7;
function scorer(kind: 'uniform' | 'oracle', stream: number[], seen: number[][] = []): LogitsScorer {
  return {
    config: { vocabSize: V, maxPositions: 64, arch: 'llama', bosTokenId: 1 },
    async logits(seqs) {
      seen.push(...seqs.map((s) => [...s]));
      return seqs.map((s) => {
        const l = new Float32Array(s.length * V);
        if (kind === 'oracle') {
          // find the window in the stream and put all mass on the true next token
          const at = stream.findIndex((_, i) => s.every((x, j) => stream[i + j] === x));
          for (let t = 0; t < s.length; t++) {
            l.fill(-1e4, t * V, (t + 1) * V);
            l[t * V + (stream[at + t + 1] ?? 0)] = 1e4;
          }
        }
        return l;
      });
    },
  };
}

describe('perplexity', () => {
  const stream = Array.from({ length: 103 }, (_, i) => (i * 5 + 3) % V);

  it('uniform logits give perplexity V; windows are non-overlapping and the tail is dropped', async () => {
    const seen: number[][] = [];
    const r = await perplexity(scorer('uniform', stream, seen), stream, { seqlen: 10, batch: 3 });
    assert.ok(Math.abs(r.ppl - V) < 1e-9, `${r.ppl}`);
    assert.equal(r.windows, 10);
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => stream.slice(i * 10, i * 10 + 10)));
  });

  it('a scorer certain of the right token gives perplexity 1; maxWindows caps the windows', async () => {
    const r = await perplexity(scorer('oracle', stream), stream, { seqlen: 8, maxWindows: 4 });
    assert.ok(Math.abs(r.ppl - 1) < 1e-9);
    assert.equal(r.windows, 4);
  });

  it('windowNll is the mean next-token NLL (float64 log-sum-exp)', () => {
    const logits = Float32Array.from([0, Math.log(3), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);   // 2 positions × 7
    const nll = windowNll(logits, [4, 1, 2], V);
    // position 0 predicts 1: p = 3 / (3 + 6); position 1 predicts 2: p = 1/7
    assert.ok(Math.abs(nll - (-Math.log(3 / 9) + Math.log(7)) / 2) < 1e-6);
  });

  it('cancellation stops between windows; bad lengths are INPUT errors', async () => {
    let n = 0;
    const r = await perplexity(scorer('uniform', stream), stream, { seqlen: 10, isCancelled: () => n++ >= 2 });
    assert.equal(r.cancelled, true);
    assert.equal(r.windows, 2);
    await expectIdpError(() => perplexity(scorer('uniform', stream), stream, { seqlen: 200 }), 'INPUT', undefined, /exceeds the model's context/);
    await expectIdpError(() => perplexity(scorer('uniform', stream), stream.slice(0, 5), { seqlen: 10 }), 'INPUT', undefined, /not one window/);
  });
});

describe('corpus', () => {
  const dir = tmpDir('idp-corpus-');
  fs.mkdirSync(path.join(dir, 'src', 'a'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'x.ts'), 'one');
  fs.writeFileSync(path.join(dir, 'src', 'a', 'y.ts'), 'two');
  fs.writeFileSync(path.join(dir, 'src', 'a', 'z.md'), 'no');
  fs.writeFileSync(path.join(dir, 'c4.jsonl'), '{"text": "doc one", "url": "u"}\n\n{"text": "doc two"}\n');
  fs.writeFileSync(path.join(dir, 'c4.jsonl.gz'), zlib.gzipSync('{"text": "zipped"}\n'));
  fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"text": "ok"}\n{"txt": 1}\n');

  it('reads JSONL (plain and gzip) text fields, whole text files, and globs', () => {
    assert.deepEqual(readDocuments(path.join(dir, 'c4.jsonl')), ['doc one', 'doc two']);
    assert.deepEqual(readDocuments(path.join(dir, 'c4.jsonl.gz')), ['zipped']);
    assert.deepEqual(expandPaths(['src/**/*.ts'], dir), [path.join(dir, 'src', 'a', 'y.ts'), path.join(dir, 'src', 'x.ts')]);
    assert.deepEqual(readCorpus(['src/*.ts', 'c4.jsonl'], dir).docs, ['one', 'doc one', 'doc two']);
  });

  it('bad files are typed errors naming the file and line', async () => {
    await expectIdpError(() => readDocuments(path.join(dir, 'bad.jsonl')), 'FORMAT', 'bad.jsonl', /line 2 has no string "text"/);
    await expectIdpError(() => readDocuments(path.join(dir, 'missing.txt')), 'NOT_FOUND', 'missing.txt');
    await expectIdpError(() => expandPaths(['nothing/**/*.py'], dir), 'INPUT', undefined, /matches no files/);
  });

  it('evalCorpus: text joined with "\\n\\n", C4 JSONL joined with " " and capped at 256 windows; BOS once for Llama, none for GPT-2', () => {
    const seen: string[] = [];
    const tok: Tokenizer = { vocabSize: 300, encode: (t) => { seen.push(t); return Array.from(Buffer.from(t)); }, decode: () => '' };
    const cfg = { vocabSize: 300, maxPositions: 64, arch: 'llama', bosTokenId: 1 };
    const c = evalCorpus([path.join(dir, 'c4.jsonl')], tok, cfg);
    assert.equal(seen.pop(), 'doc one doc two');
    assert.equal(c.ids[0], 1);
    assert.equal(c.maxWindows, 256);
    const t = evalCorpus(['src/*.ts', 'src/a/*.ts'].map((p) => path.join(dir, p)), tok, { ...cfg, arch: 'gpt2' });
    assert.equal(seen.pop(), 'one\n\ntwo');
    assert.equal(t.ids[0], 'o'.charCodeAt(0));
    assert.equal(t.maxWindows, undefined);
  });
});
