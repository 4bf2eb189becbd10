// Hub references, the GGUF quantization choice and the file plan: pure functions of their text.

import { strict as assert } from 'assert';
import { formatHubReference, parseHubReference } from '../../../src/engine/hub/reference';
import { chooseGguf, hasQuant } from '../../../src/engine/hub/gguf-choice';
import { planFiles } from '../../../src/engine/hub/files';
import { hubEnv } from '../../../src/engine/hub/env';
import { IdpError } from '../../../src/engine/errors';

const code = (c: string) => (e: unknown) => e instanceof IdpError && e.code === c;

describe('hub: model references', () => {
  it('reads ORG/NAME, @REVISION, :QUANT and both, with or without an hf.co prefix', () => {
    assert.deepEqual(parseHubReference('Qwen/Qwen2.5-0.5B'), { repo: 'Qwen/Qwen2.5-0.5B' });
    assert.deepEqual(parseHubReference(' HuggingFaceTB/SmolLM2-135M-Instruct@main '), { repo: 'HuggingFaceTB/SmolLM2-135M-Instruct', revision: 'main' });
    assert.deepEqual(parseHubReference('bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M'), { repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF', quant: 'Q4_K_M' });
    assert.deepEqual(parseHubReference('hf.co/org/x-GGUF@v1.0:q8_0'), { repo: 'org/x-GGUF', revision: 'v1.0', quant: 'q8_0' });
    assert.deepEqual(parseHubReference('https://huggingface.co/facebook/opt-125m'), { repo: 'facebook/opt-125m' });
    assert.deepEqual(parseHubReference('org/name@refs/pr/3'), { repo: 'org/name', revision: 'refs/pr/3' });
    const commit = 'a'.repeat(40);
    assert.equal(formatHubReference(parseHubReference(`org/name@${commit}`)!), `org/name@${commit}`);
  });

  it('is not a reference: paths, one-part names, bad ids and revisions that would leave refs/', () => {
    for (const s of ['gpt2', './org/name', '/abs/org/name', '../org/name', 'a/b/c', 'org/name.gguf', 'models/x.safetensors',
      'C:\\models\\x', 'org--x/name', 'org/na..me', '-org/name', 'org/name-', 'org/name@../../etc', 'org/name@/main',
      'org/name@a b', 'org/', '/name', 'org/name:', `${'x'.repeat(60)}/${'y'.repeat(40)}`, 'org/name@main:Q4:K']) {
      assert.equal(parseHubReference(s), undefined, s);
    }
    // an explicit hf.co/ prefix makes even a file-like name a repository
    assert.deepEqual(parseHubReference('hf.co/org/name.gguf'), { repo: 'org/name.gguf' });
  });
});

describe('hub: GGUF quantization choice', () => {
  const files = ['README.md', 'model-Q4_K_M.gguf', 'model-Q4_K_S.gguf', 'model-IQ4_XS.gguf', 'model.q8_0.gguf', 'mmproj-model-f16.gguf',
    'big/model-Q6_K-00001-of-00002.gguf', 'big/model-Q6_K-00002-of-00002.gguf', 'sub/model-Q4_K_M.gguf'];

  it('matches the tag as a whole token, case-insensitively, top level first', () => {
    assert.equal(chooseGguf(files, 'Q4_K_M', 'r'), 'model-Q4_K_M.gguf');
    assert.equal(chooseGguf(files, 'q8_0', 'r'), 'model.q8_0.gguf');
    assert.equal(chooseGguf(files, 'IQ4_XS', 'r'), 'model-IQ4_XS.gguf');
    assert.equal(hasQuant('model-IQ4_XS.gguf', 'Q4_XS'), false);
    assert.equal(hasQuant('model-Q4_K_M.gguf', 'Q4_K'), false);
    assert.equal(chooseGguf(files, 'model.q8_0.gguf', 'r'), 'model.q8_0.gguf', 'a whole file name');
  });

  it('defaults to Q4_K_M, then the fallback list, and never picks a projector', () => {
    assert.equal(chooseGguf(files, undefined, 'r'), 'model-Q4_K_M.gguf');
    assert.equal(chooseGguf(['a-Q8_0.gguf', 'a-Q4_0.gguf', 'mmproj-Q4_K_M.gguf'], undefined, 'r'), 'a-Q4_0.gguf');
    assert.equal(chooseGguf(['b-weird.gguf', 'a-weird.gguf'], undefined, 'r'), 'a-weird.gguf');
  });

  it('refuses a missing tag listing what there is, and split files', () => {
    assert.throws(() => chooseGguf(files, 'Q5_K_M', 'org/x:Q5_K_M'), (e: unknown) => code('NOT_FOUND')(e) && /Q5_K_M.*there are: .*model-Q4_K_M\.gguf/.test((e as Error).message));
    assert.throws(() => chooseGguf(files, 'Q6_K', 'r'), (e: unknown) => code('UNSUPPORTED')(e) && /split GGUF/.test((e as Error).message));
  });
});

describe('hub: which files a model needs', () => {
  const tf = ['.gitattributes', 'README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'pytorch_model.bin',
    'tf_model.h5', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'onnx/model.onnx'];

  it('a transformers repository: config, safetensors, tokenizer and side files — never the pickle', () => {
    const p = planFiles(tf, undefined, 'r');
    assert.equal(p.kind, 'hf');
    if (p.kind !== 'hf') return;
    assert.deepEqual(p.files.sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    assert.ok(p.absent.includes('chat_template.jinja') && p.absent.includes('model.safetensors.index.json') && !p.absent.includes('tokenizer.json'));
  });

  it('no tokenizer.json: GPT-2 vocab/merges and tokenizer.model; sharded: the index first', () => {
    const p = planFiles(['config.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'model.safetensors.index.json',
      'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'], undefined, 'r');
    assert.ok(p.kind === 'hf' && p.index === 'model.safetensors.index.json');
    if (p.kind !== 'hf') return;
    assert.deepEqual(p.files.sort(), ['config.json', 'merges.txt', 'tokenizer.model', 'vocab.json']);
    assert.ok(p.absent.includes('tokenizer.json'));
  });

  it('GGUF repositories, a :QUANT, and what cannot be loaded', () => {
    assert.deepEqual(planFiles(['README.md', 'x-Q8_0.gguf', 'x-Q4_K_M.gguf'], undefined, 'r'), { kind: 'gguf', file: 'x-Q4_K_M.gguf' });
    assert.deepEqual(planFiles([...tf, 'x-Q8_0.gguf'], 'Q8_0', 'r'), { kind: 'gguf', file: 'x-Q8_0.gguf' });
    assert.throws(() => planFiles(['config.json', 'pytorch_model.bin'], undefined, 'org/x'), (e: unknown) => code('UNSUPPORTED')(e) && /pickled/.test((e as Error).message));
    assert.throws(() => planFiles(['README.md', 'adapter_model.safetensors'], undefined, 'org/x'), code('UNSUPPORTED'));
  });
});

describe('hub: settings from the environment', () => {
  it('reads HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE as huggingface_hub does', () => {
    assert.equal(hubEnv({ HF_HUB_CACHE: '/c/hub', HF_HOME: '/h' }).cacheDir, '/c/hub');
    assert.equal(hubEnv({ HF_HOME: '/h' }).cacheDir, '/h/hub');
    assert.equal(hubEnv({ XDG_CACHE_HOME: '/x' }).cacheDir, '/x/huggingface/hub');
    assert.equal(hubEnv({ HF_ENDPOINT: 'http://127.0.0.1:9/' }).endpoint, 'http://127.0.0.1:9');
    assert.equal(hubEnv({ HF_HOME: '/nonexistent-idp', HF_TOKEN: ' hf_abc ' }).token, 'hf_abc');
    assert.equal(hubEnv({ HF_HOME: '/nonexistent-idp' }).token, undefined);
    for (const v of ['1', 'true', 'YES', 'on']) assert.equal(hubEnv({ HF_HUB_OFFLINE: v }).offline, true, v);
    for (const v of ['0', 'false', '', undefined]) assert.equal(hubEnv({ HF_HUB_OFFLINE: v }).offline, false, String(v));
  });
});
