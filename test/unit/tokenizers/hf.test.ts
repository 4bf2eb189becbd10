import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dataPath, STORIES, tmpDir } from '../../helpers/data';
import {
  gpt2TokenizerFromVocabMerges, loadLlama2cTokenizer, loadTokenizerJson, Tokenizer, TokenStreamer,
} from '../../../src/engine/tokenizers';
import { randomText, readTokBin, rng, writeGpt2TokenizerJson } from './fixtures';

const GPT2 = ['models', 'gpt2-tokenizer'];

const SAMPLES = [
  'Hello world', ' Hello', 'The quick brown fox jumps over the lazy dog.', "It's 2024 -- isn't it?",
  'line one\nline two\n\n  indented\ttab', 'café naïve über', '日本語のテキスト', '😀👍🏽 emoji', 'Жук и ёж',
  '   leading and trailing   ', 'a'.repeat(200), '\r\n', 'x',
];

describe('tokenizers: GPT-2 byte-level BPE (encoder.json + merges) and HF tokenizer.json', () => {
  let vocabFile: string;
  let mergesFile: string;
  let gpt2: Tokenizer;

  before(function () {
    vocabFile = dataPath(this, ...GPT2, 'gpt2_vocab.json');
    mergesFile = dataPath(this, ...GPT2, 'gpt2_merges.txt');
    gpt2 = gpt2TokenizerFromVocabMerges(vocabFile, mergesFile);
  });

  it('encodes "Hello world" -> [15496, 995] and " Hello" -> [18435], without special tokens', () => {
    assert.deepEqual(gpt2.encode('Hello world'), [15496, 995]);
    assert.deepEqual(gpt2.encode(' Hello'), [18435]);
    assert.deepEqual(gpt2.encode(''), []);
    assert.equal(gpt2.vocabSize, 50257);
    assert.equal(gpt2.bosId, 50256);
    assert.equal(gpt2.eosId, 50256);
  });

  it('round-trips text exactly (no clean-up of spaces before punctuation)', () => {
    for (const s of [...SAMPLES, 'a , b . c !', "do n't"]) assert.equal(gpt2.decode(gpt2.encode(s)), s, JSON.stringify(s));
    const r = rng(99);
    for (let i = 0; i < 200; i++) {
      const s = randomText(r).replace(/<\|endoftext\|>/g, '');
      assert.equal(gpt2.decode(gpt2.encode(s)), s, JSON.stringify(s));
    }
    assert.equal(gpt2.decode([]), '');
  });

  it('drops <|endoftext|> in decode', () => {
    assert.equal(gpt2.decode([50256, 15496, 995, 50256]), 'Hello world');
  });

  it('reads merges with and without the "#version" header line', () => {
    const dir = tmpDir();
    const withHeader = path.join(dir, 'merges.txt');
    fs.writeFileSync(withHeader, '#version: 0.2\n' + fs.readFileSync(mergesFile, 'utf8'));
    const t = gpt2TokenizerFromVocabMerges(vocabFile, withHeader);
    for (const s of SAMPLES) assert.deepEqual(t.encode(s), gpt2.encode(s));
  });

  it('loads a tokenizer.json written from the same files, with tokenizer_config.json beside it', () => {
    const dir = tmpDir();
    const file = writeGpt2TokenizerJson(dir, vocabFile, mergesFile);
    const plain = loadTokenizerJson(file);
    assert.deepEqual(plain.encode('Hello world'), [15496, 995]);
    assert.equal(plain.bosId, 50256); // found by name without a tokenizer_config.json
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
      bos_token: { content: '<|endoftext|>', special: true }, eos_token: '<|endoftext|>', model_max_length: 1024,
    }));
    const t = loadTokenizerJson(file);
    assert.equal(t.bosId, 50256);
    assert.equal(t.eosId, 50256);
    assert.equal(t.vocabSize, 50257);
    const r = rng(5);
    const texts = [...SAMPLES, ...Array.from({ length: 100 }, () => randomText(r))];
    for (const s of texts) {
      assert.deepEqual(t.encode(s), gpt2.encode(s), JSON.stringify(s));
      assert.equal(t.decode(t.encode(s)), s);
    }
  });

  it('streams characters split over byte-level tokens whole', () => {
    const text = 'Emoji 😀👍🏽 and 日本語 and Жук.';
    const ids = gpt2.encode(text);
    const s = new TokenStreamer(gpt2);
    const chunks = ids.map((id) => s.push(id));
    chunks.push(s.flush());
    assert.equal(chunks.join(''), text);
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), JSON.stringify(chunks));
    // step-wise text is the token's own bytes
    assert.equal(gpt2.decodeStep!(15496, 995), ' world');
    assert.equal(gpt2.decodeStep!(-1, 50256), '');
  });

  it('loads a Llama-style (Metaspace + byte fallback) tokenizer.json that encodes like tok512.bin', function () {
    // tokenizer.json as HF writes it for a SentencePiece BPE model: merges ranked by the merged piece's score
    const file = dataPath(this, ...STORIES, 'tok512.bin');
    const raw = readTokBin(file);
    const toks = raw.pieces.map((p, i) => (i === 1 ? '<s>' : i === 2 ? '</s>' : p.toString('utf8').replace(/ /g, '\u2581')));
    const vocab: Record<string, number> = {};
    toks.forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });
    const ranked: [number, number, string, string][] = [];
    toks.forEach((t, c) => {
      const cps = Array.from(t);
      for (let k = 1; c >= 259 && k < cps.length; k++) {
        const a = cps.slice(0, k).join(''), b = cps.slice(k).join('');
        if (vocab[a] >= 259 && vocab[b] >= 259) ranked.push([raw.scores[c], c, a, b]);
      }
    });
    ranked.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    const json = {
      version: '1.0',
      added_tokens: [0, 1, 2].map((id) => ({ id, content: toks[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      pre_tokenizer: null, post_processor: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', fuse_unk: true, byte_fallback: true, vocab, merges: ranked.map((m) => [m[2], m[3]]) },
    };
    const dir = tmpDir();
    const jsonFile = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(jsonFile, JSON.stringify(json));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', clean_up_tokenization_spaces: false }));
    const hf = loadTokenizerJson(jsonFile);
    const ref = loadLlama2cTokenizer(file);
    assert.equal(hf.bosId, 1);
    assert.equal(hf.eosId, 2);
    const r = rng(11);
    for (let i = 0; i < 150; i++) {
      // HF matches special-token text ("<s>") in the input; run.c does not: leave those out
      const s = randomText(r).replace(/<\/?s>|<unk>/g, '');
      assert.deepEqual(hf.encode(s), ref.encode(s), JSON.stringify(s));
      assert.equal(hf.decode(hf.encode(s)), s);
    }
    // no tokenBytes here: decodeStep and the streamer go through decode
    assert.equal(hf.tokenBytes, undefined);
    assert.equal(hf.decodeStep!(1, 403), 'Once');
    assert.equal(hf.decodeStep!(378, 403), ' Once');
    const text = 'Lily saw 日本 and 😀.';
    const st = new TokenStreamer(hf);
    const chunks = hf.encode(text).map((id) => st.push(id));
    chunks.push(st.flush());
    assert.equal(chunks.join(''), text);
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), JSON.stringify(chunks));
  });
});
