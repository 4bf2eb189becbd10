// Calibration sets from each kind of source, on stories260K's tokenizer: C4 JSONL (GPTQ's sampling of
// windows of long documents), WikiText-2 / text (windows of one stream), a glob, samples from the model;
// reproducible by seed; typed errors when too small.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import { useTempCache } from '../../helpers/scoped-cache';
import { expectIdpError } from '../../helpers/tiny-hf';
import { calibrationSet } from '../../../src/engine/compress/calibration';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';

describe('calibration sets', function () {
  this.timeout(60000);
  let m: LoadedModel;
  const root = tmpDir('idp-calib-');
  useTempCache(path.join(root, 'cache'));
  before(async function () {
    m = await loadModel(dataPath(this, ...STORIES, 'stories260K.gguf'));
  });

  it('C4 JSONL: windows of seqlen tokens from documents longer than seqlen, the same for the same seed', async function () {
    const c4 = dataPath(this, 'corpora', 'c4', 'c4_validation_2k.part0.jsonl');
    const a = await calibrationSet(m, { sources: [c4], samples: 6, seqlen: 64, seed: 7 });
    const b = await calibrationSet(m, { sources: [c4], samples: 6, seqlen: 64, seed: 7 });
    const c = await calibrationSet(m, { sources: [c4], samples: 6, seqlen: 64, seed: 8 });
    assert.equal(a.length, 6);
    assert.ok(a.every((s) => s.length === 64 && s.every((id) => id >= 0 && id < 512)));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    // each window is a contiguous piece of one document's tokens
    const docs = fs.readFileSync(c4, 'utf8').split('\n').filter(Boolean).map((l) => m.tokenizer!.encode(JSON.parse(l).text).join(','));
    for (const s of a) assert.ok(docs.some((d) => d.includes(s.join(','))), 'window not found in any document');
  });

  it('WikiText-2 and a glob of text files: windows of the joined token stream', async function () {
    const wiki = dataPath(this, 'corpora', 'wikitext2', 'wikitext-2-raw-v1.test.joined.txt');
    const w = await calibrationSet(m, { sources: [wiki], samples: 4, seqlen: 128, seed: 1 });
    assert.equal(w.length, 4);
    assert.ok(w.every((s) => s.length === 128));
    const dir = path.join(root, 'ws');
    fs.mkdirSync(path.join(dir, 'docs'), { recursive: true });
    const story = fs.readFileSync(dataPath(this, 'corpora', 'tinystories', 'tinystories_sample.txt'), 'utf8');
    fs.writeFileSync(path.join(dir, 'docs', 'a.txt'), story);
    fs.writeFileSync(path.join(dir, 'docs', 'b.txt'), story.split('').reverse().join(''));
    const g = await calibrationSet(m, { sources: [path.join(dir, 'docs', '*.txt')], samples: 4, seqlen: 256, seed: 2 });
    const stream = m.tokenizer!.encode(`${story}\n\n${story.split('').reverse().join('')}`).join(',');
    for (const s of g) assert.ok(stream.includes(s.join(',')));
  });

  it('sampled from the model: BOS-first sequences of exactly seqlen tokens', async () => {
    const s = await calibrationSet(m, { sources: 'model', samples: 3, seqlen: 40, seed: 5 });
    assert.equal(s.length, 3);
    for (const x of s) { assert.equal(x.length, 40); assert.equal(x[0], 1); }
    assert.deepEqual(s, await calibrationSet(m, { sources: 'model', samples: 3, seqlen: 40, seed: 5 }));
  });

  it('too small, too long, or nothing to read → typed errors', async function () {
    const c4 = dataPath(this, 'corpora', 'c4', 'c4_validation_2k.part0.jsonl');
    const short = path.join(root, 'short.jsonl');
    fs.writeFileSync(short, '{"text": "A short one."}\n{"text": "Another."}\n');
    await expectIdpError(() => calibrationSet(m, { sources: [short], samples: 2, seqlen: 64, seed: 0 }), 'INPUT', short, /too small/);
    await expectIdpError(() => calibrationSet(m, { sources: [c4], samples: 2, seqlen: 4096, seed: 0 }), 'INPUT', undefined, /sequence length 4096 exceeds the model's context/);
    await expectIdpError(() => calibrationSet(m, { sources: [path.join(root, 'none', '*.txt')], samples: 2, seqlen: 64, seed: 0 }), 'INPUT', undefined, /matches no files/);
    await expectIdpError(() => calibrationSet(m, { sources: [c4], samples: 0, seqlen: 64, seed: 0 }), 'INPUT', undefined, /samples/);
  });
});
