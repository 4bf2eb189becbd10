import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import {
  gpt2TokenizerFromVocabMerges, loadLlama2cTokenizer, loadTokenizerJson, parseLlama2cTokenizer,
} from '../../../src/engine/tokenizers';
import { assertIdpError } from './fixtures';

describe('tokenizers: bad input is an IdpError naming the file', () => {
  let dir: string;
  let tok512: Buffer;
  const write = (name: string, data: string | Uint8Array) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, data);
    return f;
  };

  before(function () {
    tok512 = fs.readFileSync(dataPath(this, ...STORIES, 'tok512.bin'));
    dir = tmpDir();
  });

  describe('llama2.c tokenizer.bin', () => {
    it('missing file -> NOT_FOUND', () => {
      const f = path.join(dir, 'nope.bin');
      assertIdpError(() => loadLlama2cTokenizer(f), 'NOT_FOUND', f);
    });

    it('a folder -> FORMAT', () => {
      assertIdpError(() => loadLlama2cTokenizer(dir), 'FORMAT', dir);
    });

    it('truncated in the middle of a token, or before its header, or empty', () => {
      for (const cut of [tok512.length - 3, 4 + 8 + 3, 4 + 5, 2, 0]) {
        const f = write(`cut${cut}.bin`, tok512.subarray(0, cut));
        assertIdpError(() => loadLlama2cTokenizer(f), 'FORMAT', f);
      }
      const header = write('header-only.bin', tok512.subarray(0, 4));
      assertIdpError(() => loadLlama2cTokenizer(header), 'FORMAT', header);
    });

    it('lengths that lie: past the end of the file, negative, longer than max_token_length', () => {
      const lie = (value: number, name: string) => {
        const b = Buffer.from(tok512);
        b.writeInt32LE(value, 4 + 4); // token 0's length
        return write(name, b);
      };
      for (const [v, name] of [[1 << 30, 'huge.bin'], [-5, 'negative.bin'], [tok512.readUInt32LE(0) + 1, 'over-max.bin']] as const) {
        const f = lie(v, name);
        assertIdpError(() => loadLlama2cTokenizer(f), 'FORMAT', f);
      }
    });

    it('max_token_length 0 -> FORMAT', () => {
      const b = Buffer.from(tok512);
      b.writeUInt32LE(0, 0);
      const f = write('max0.bin', b);
      assertIdpError(() => loadLlama2cTokenizer(f), 'FORMAT', f);
    });

    it('a vocabulary size beyond the file -> FORMAT; a smaller one reads just that many', () => {
      assertIdpError(() => parseLlama2cTokenizer(tok512, 'tok512.bin', 513), 'FORMAT', 'tok512.bin');
      const v = parseLlama2cTokenizer(tok512, 'tok512.bin', 300);
      assert.equal(v.pieces.length, 300);
      assert.ok(v.trailingBytes > 0);
      const f = write('ok.bin', tok512);
      assert.equal(loadLlama2cTokenizer(f, 1, 2, 512).vocabSize, 512);
    });

    it('BOS/EOS outside the vocabulary -> FORMAT; token ids outside it -> INPUT', () => {
      const f = write('ok2.bin', tok512);
      assertIdpError(() => loadLlama2cTokenizer(f, 600), 'FORMAT', f);
      const t = loadLlama2cTokenizer(f);
      assertIdpError(() => t.decode([5, 512]), 'INPUT', f);
      assertIdpError(() => t.decode([-1]), 'INPUT', f);
      assertIdpError(() => t.decodeStep(1, 1.5), 'INPUT', f);
    });
  });

  describe('tokenizer.json', () => {
    it('missing file -> NOT_FOUND', () => {
      const f = path.join(dir, 'missing', 'tokenizer.json');
      assertIdpError(() => loadTokenizerJson(f), 'NOT_FOUND', f);
    });

    it('not JSON -> FORMAT', () => {
      const f = write('broken.json', '{"model": {"type": "BPE", ');
      assertIdpError(() => loadTokenizerJson(f), 'FORMAT', f);
    });

    it('JSON that is not a tokenizer -> FORMAT', () => {
      for (const [name, body] of [['arr.json', '[1,2]'], ['obj.json', '{"hello": 1}'], ['str.json', '"tokenizer"'], ['null.json', 'null'],
        ['model-not-object.json', '{"model": 3}'], ['bad-added.json', '{"model": {"type": "BPE", "vocab": {}, "merges": []}, "added_tokens": 5}']]) {
        const f = write(name, body);
        assertIdpError(() => loadTokenizerJson(f), 'FORMAT', f);
      }
    });

    it('an unknown model type -> UNSUPPORTED', () => {
      const f = write('unknown-model.json', JSON.stringify({ model: { type: 'NoSuchModel' } }));
      assertIdpError(() => loadTokenizerJson(f), 'UNSUPPORTED', f);
    });

    it('a broken tokenizer_config.json beside it -> FORMAT naming the config', () => {
      const sub = path.join(dir, 'cfg');
      fs.mkdirSync(sub);
      const f = path.join(sub, 'tokenizer.json');
      fs.writeFileSync(f, JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] } }));
      const cfg = path.join(sub, 'tokenizer_config.json');
      fs.writeFileSync(cfg, 'not json');
      assertIdpError(() => loadTokenizerJson(f), 'FORMAT', cfg);
      fs.writeFileSync(cfg, '[]');
      assertIdpError(() => loadTokenizerJson(f), 'FORMAT', cfg);
    });
  });

  describe('GPT-2 encoder.json + merges', () => {
    const vocab = { a: 0, b: 1, ab: 2, '<|endoftext|>': 3 };
    it('missing files -> NOT_FOUND naming each', () => {
      const v = write('v.json', JSON.stringify(vocab));
      const m = write('m.txt', 'a b\n');
      const missing = path.join(dir, 'none.txt');
      assertIdpError(() => gpt2TokenizerFromVocabMerges(missing, m), 'NOT_FOUND', missing);
      assertIdpError(() => gpt2TokenizerFromVocabMerges(v, missing), 'NOT_FOUND', missing);
      const t = gpt2TokenizerFromVocabMerges(v, m);
      assert.deepEqual(t.encode('ab'), [2]);
      assert.equal(t.bosId, 3);
    });

    it('a vocabulary that is not token -> id -> FORMAT', () => {
      const m = write('m2.txt', 'a b\n');
      for (const [name, body] of [['v1.json', '[]'], ['v2.json', '{"a": -1}'], ['v3.json', '{"a": 0, "b": 0}'], ['v4.json', '{"a": "0"}'], ['v5.json', '{}'], ['v6.json', 'nope']]) {
        const v = write(name, body);
        assertIdpError(() => gpt2TokenizerFromVocabMerges(v, m), 'FORMAT', v);
      }
    });

    it('merges that are malformed or use tokens outside the vocabulary -> FORMAT naming the merges file', () => {
      const v = write('v7.json', JSON.stringify(vocab));
      for (const [name, body] of [['m3.txt', 'a b c\n'], ['m4.txt', 'a x\n'], ['m5.txt', 'b a\n'], ['m6.txt', '#version: 0.2\n'], ['m7.txt', 'ab\n']]) {
        const m = write(name, body);
        assertIdpError(() => gpt2TokenizerFromVocabMerges(v, m), 'FORMAT', m);
      }
    });
  });
});
