// `idp study --compressed DIR` on a tiny random Llama: a folder compressed beforehand by compressModel is
// the study's compressed model — nothing is compressed, the report says what the folder is (from its
// idp-compress.json, else its quantize_config.json) and where it is (absolute: outside the study folder),
// the compressed row is labelled from it, the request lists it as a read; and a rerun of the same folder
// that compresses itself reuses nothing made on the given model.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { writeHeldoutText, writeTextModel } from '../../helpers/study';
import { loadModel } from '../../../src/engine/models/load';
import { compressModel } from '../../../src/engine/compress/compress';
import { runStudy, StudyProgress } from '../../../src/engine/study/run';
import { describeGiven } from '../../../src/engine/study/given';
import type { StudyOptions } from '../../../src/engine/study/options';
import { requestPaths } from '../../../src/server/request-paths';
import { Methods } from '../../../src/protocol/engine-rpc';

const root = tmpDir('idp-study-given-');

describe('study: a model compressed elsewhere (--compressed)', function () {
  this.timeout(240_000);
  let modelDir: string;
  let given: string;
  let options: StudyOptions;

  before(async () => {
    modelDir = writeTextModel(path.join(root, 'model'), { maxPositions: 96 });
    given = path.join(root, 'elsewhere', 'gptq4');
    const r = await compressModel(modelDir, { method: 'gptq', bits: 4, groupSize: 32, calib: 'model', samples: 4, seqlen: 16, seed: 1, out: given });
    assert.ok(!r.cancelled && fs.existsSync(path.join(given, 'idp-compress.json')));
    options = {
      model: modelDir, compress: 'gptq:4:g32', compressed: given, methods: ['none', 'prompt:2', 'lora:2'], tokens: 64,
      tasks: ['text_ppl'], heldout: [writeHeldoutText(path.join(root, 'heldout.txt'))], out: path.join(root, 'study'),
      limit: 3, seed: 3, seqLen: 16, batch: 4, calibSamples: 4, latency: false, similarity: false,
    };
  });

  it('runs without compressing and reports the given model', async () => {
    const events: StudyProgress[] = [];
    const r = await runStudy(options, { onProgress: (p) => events.push(p) });
    const compress = events.filter((e) => e.stage === 'compress');
    assert.deepEqual(compress.map((e) => e.message), [`using the given compressed model ${given} (not compressing)`]);
    assert.ok(!fs.existsSync(path.join(options.out, 'compressed')), 'nothing compressed into the study folder');
    assert.equal(r.status, 'complete');
    assert.equal(r.compression.spec, 'given');
    assert.equal(r.compression.path, given);   // outside the study folder: absolute
    assert.equal(r.compression.from, 'gptq:4:g32');
    assert.match(r.compression.description, /^given: GPTQ 4-bit, group 32 \(idp-compress\.json in gptq4\)$/);
    assert.deepEqual(r.rows.map((x) => x.label), ['Uncompressed', 'GPTQ-4bit', 'GPTQ-4bit + prompt (2)', 'GPTQ-4bit + LoRA (r = 2)']);
    assert.match(fs.readFileSync(path.join(options.out, 'table.md'), 'utf8'), /given: GPTQ 4-bit/);
  });

  it('a rerun that compresses itself reuses nothing made on the given model', async () => {
    const { compressed: _c, ...own } = options;
    const events: StudyProgress[] = [];
    const r = await runStudy(own, { onProgress: (p) => events.push(p) });
    assert.ok(events.some((e) => e.stage === 'compress' && e.message.startsWith('compressing: GPTQ 4-bit')), 'compressed');
    assert.equal(r.compression.path, 'compressed/');
    assert.deepEqual(r.rows.filter((x) => x.kind !== 'base').map((x) => x.reused ?? []), [[], [], []]);
  });

  it('describes a GPTQ folder by its quantize_config.json, and any other folder by its name', async () => {
    const plain = path.join(root, 'elsewhere', 'autogptq');
    fs.cpSync(given, plain, { recursive: true });
    fs.rmSync(path.join(plain, 'idp-compress.json'));
    assert.ok(fs.existsSync(path.join(plain, 'quantize_config.json')));
    const d = describeGiven(plain, await loadModel(plain));
    assert.equal(d.label, 'GPTQ-4bit');
    assert.match(d.description, /^given: GPTQ 4-bit, group 32.* \(quantize_config\.json in autogptq\)$/);
    assert.equal(d.from, undefined);
    const f = describeGiven(modelDir, await loadModel(modelDir));
    assert.deepEqual([f.label, f.description], ['model', 'given: model (no compression record in the folder)']);
  });

  it('the study request reads the given folder', () => {
    const p = requestPaths(Methods.study.method, { ...options });
    assert.ok(p.reads.includes(given), JSON.stringify(p.reads));
  });
});
