// Select Model…'s Hub parts without an editor: the loadable models found in an HF cache laid out as
// huggingface_hub writes it (through @huggingface/hub's scanCacheDir), the labels of Hub references,
// the suggestions, and download progress as a job's.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { cachedHubModels, downloadSample, SUGGESTED } from '../../../src/extension/hub-models';
import { modelArg, modelLabel } from '../../../src/extension/paths';
import { parseHubReference } from '../../../src/engine/hub/reference';

/** One snapshot of `repo` at `commit` holding `files` (blob per file, relative links), refs as given. */
function cacheRepo(cache: string, repo: string, commit: string, files: Record<string, string>, refs: string[] = ['main']): void {
  const f = path.join(cache, `models--${repo.replace('/', '--')}`);
  fs.mkdirSync(path.join(f, 'blobs'), { recursive: true });
  fs.mkdirSync(path.join(f, 'snapshots', commit), { recursive: true });
  fs.mkdirSync(path.join(f, 'refs'), { recursive: true });
  let i = 0;
  for (const [name, data] of Object.entries(files)) {
    const etag = `${commit.slice(0, 8)}${String(i++).padStart(32, '0')}`;
    fs.writeFileSync(path.join(f, 'blobs', etag), data);
    fs.symlinkSync(`../../blobs/${etag}`, path.join(f, 'snapshots', commit, name));
  }
  for (const r of refs) fs.writeFileSync(path.join(f, 'refs', r), commit);
}

describe('extension: Hub models for Select Model', () => {
  it('lists the loadable cached models: transformers ones, each GGUF by its tag, a revision other than main', async () => {
    const cache = tmpDir('idp-hf-scan-');
    const c = (n: number) => String(n).repeat(40);
    cacheRepo(cache, 'Qwen/Qwen2.5-0.5B', c(1), { 'config.json': '{}', 'model.safetensors': 'x'.repeat(1000), 'tokenizer.json': '{}' });
    cacheRepo(cache, 'org/x-GGUF', c(2), { 'x-Q8_0.gguf': 'GGUF1', 'x-q4_k_m.gguf': 'GGUF22', 'mmproj-x-f16.gguf': 'GGUF' });
    cacheRepo(cache, 'org/pinned', c(3), { 'config.json': '{}', 'model.safetensors': 'w' }, ['v1.0']);
    cacheRepo(cache, 'org/tokenizer-only', c(4), { 'tokenizer.json': '{}' });
    cacheRepo(cache, 'org/pickled', c(5), { 'config.json': '{}', 'pytorch_model.bin': 'p' });
    fs.mkdirSync(path.join(cache, '.locks'), { recursive: true });
    const refs = (await cachedHubModels(cache)).map((m) => m.reference).sort();
    assert.deepEqual(refs, ['Qwen/Qwen2.5-0.5B', 'org/pinned@v1.0', 'org/x-GGUF:Q8_0', 'org/x-GGUF:q4_k_m']);
    for (const r of refs) assert.ok(parseHubReference(r), r);
    const qwen = (await cachedHubModels(cache)).find((m) => m.reference === 'Qwen/Qwen2.5-0.5B')!;
    assert.equal(qwen.size, 1004);
    assert.deepEqual(await cachedHubModels(path.join(cache, 'missing')), []);
  });

  it('labels a Hub reference by its name, the whole reference in the detail; suggestions are valid ids', () => {
    assert.deepEqual(modelLabel('Qwen/Qwen2.5-0.5B'), { label: 'Qwen2.5-0.5B', detail: 'Hugging Face Hub: Qwen/Qwen2.5-0.5B' });
    assert.equal(modelLabel('hf.co/org/x-GGUF:Q8_0').label, 'x-GGUF:Q8_0');
    assert.equal(modelLabel('/x/y/stories260K.gguf').label, 'stories260K');
    for (const s of SUGGESTED) assert.deepEqual(parseHubReference(s.id), { repo: s.id }, s.id);
  });

  it('a workflow sends a Hub reference as it is, a path made absolute', () => {
    assert.equal(modelArg(' Qwen/Qwen2.5-0.5B@main '), 'Qwen/Qwen2.5-0.5B@main');
    assert.equal(modelArg('models/default'), path.resolve('models/default'), 'an existing folder stays a path');
    assert.equal(modelArg('a/b/c'), path.resolve('a/b/c'));
  });

  it('download progress: the fraction of the batch and the file', () => {
    assert.deepEqual(downloadSample({ repo: 'a/b', file: 'model.safetensors', fileBytes: 5e6, fileSize: 1e7, bytes: 6e6, total: 12e6 }),
      { fraction: 0.5, message: 'downloading model.safetensors (5 MB of 10 MB)' });
    assert.equal(downloadSample({ repo: 'a/b', file: 'f', fileBytes: 1, bytes: 1 }).fraction, undefined);
  });
});
