import { strict as assert } from 'assert';
import * as fs from 'fs';
import { dataPath, STORIES } from '../../helpers/data';
import { GgufVocab, loadLlama2cTokenizer, Tokenizer, tokenizerFromGgufVocab } from '../../../src/engine/tokenizers';
import { ggufNumber, ggufNumberArray, ggufString, ggufStringArray, readGguf } from '../../../src/engine/formats/gguf';
import { assertIdpError, randomText, readTokBin, rng } from './fixtures';

const GPT2 = ['models', 'gpt2-tokenizer'];

/**
 * The tokenizer.ggml.* arrays stories260K.gguf holds, rebuilt from tok512.bin: pieces with U+2581
 * for a space, BOS/EOS named "<s>"/"</s>", types unknown(2) / control(3) / byte(6) / normal(1).
 */
function ggufVocabFromTokBin(file: string): GgufVocab {
  const raw = readTokBin(file);
  const tokens = raw.pieces.map((p, i) => (i === 1 ? '<s>' : i === 2 ? '</s>' : p.toString('utf8').replace(/ /g, '\u2581')));
  const tokenTypes = tokens.map((_, i) => (i === 0 ? 2 : i <= 2 ? 3 : i <= 258 ? 6 : 1));
  return { tokens, scores: raw.scores, tokenTypes, bosId: 1, eosId: 2, model: 'llama' };
}

describe('tokenizers: GGUF vocabulary', () => {
  describe('model "llama" (SentencePiece), stories260K vocabulary', () => {
    let ref: Tokenizer;
    let gguf: Tokenizer;
    let file: string;

    before(function () {
      file = dataPath(this, ...STORIES, 'tok512.bin');
      ref = loadLlama2cTokenizer(file);
      gguf = tokenizerFromGgufVocab(ggufVocabFromTokBin(file), 'stories260K.gguf');
    });

    it('has the same size and special ids', () => {
      assert.equal(gguf.vocabSize, 512);
      assert.equal(gguf.bosId, 1);
      assert.equal(gguf.eosId, 2);
      assert.equal(gguf.idToPiece!(265), ' the');
    });

    it('encodes identically to tok512.bin on 200 seeded random strings (and decodes alike)', () => {
      const r = rng(2024);
      for (let i = 0; i < 200; i++) {
        const s = randomText(r, 32);
        const ids = gguf.encode(s);
        assert.deepEqual(ids, ref.encode(s), JSON.stringify(s));
        assert.equal(gguf.decode(ids), s);
      }
      assert.deepEqual(gguf.encode('Once upon a time'), [403, 407, 261, 378]);
      assert.deepEqual(gguf.encode(''), []);
    });

    it('decodes the reference greedy ids to the reference text', function () {
      const refJson = JSON.parse(fs.readFileSync(dataPath(this, ...STORIES, 'reference_greedy.json'), 'utf8'));
      assert.equal(gguf.decode(refJson.generated_ids), refJson.generated_text);
    });

    it('never produces control or byte tokens from text that spells them', () => {
      // "<s>" as text must stay characters, never BOS (id 1); "<0x41>" never the byte token for "A"
      const ids = gguf.encode('<s> <0x41>');
      assert.ok(!ids.includes(1) && !ids.includes(0x41 + 3), JSON.stringify(ids));
      assert.equal(gguf.decode(ids), '<s> <0x41>');
    });

    it('accepts typed arrays and "no token" ids (0xFFFFFFFF) from a GGUF parser', () => {
      const v = ggufVocabFromTokBin(file);
      const t = tokenizerFromGgufVocab({ ...v, scores: Float32Array.from(v.scores!), tokenTypes: Int32Array.from(v.tokenTypes!), eosId: 0xffffffff }, 'x.gguf');
      assert.deepEqual(t.encode('Once upon a time'), [403, 407, 261, 378]);
      assert.equal(t.eosId, 2); // no id given: found by its name "</s>"
    });

    it('stories260K.gguf itself (read with formats/gguf.ts) encodes identically to tok512.bin', function () {
      const g = readGguf(dataPath(this, ...STORIES, 'stories260K.gguf'));
      const t = tokenizerFromGgufVocab({
        tokens: ggufStringArray(g, 'tokenizer.ggml.tokens')!,
        scores: ggufNumberArray(g, 'tokenizer.ggml.scores'),
        tokenTypes: ggufNumberArray(g, 'tokenizer.ggml.token_type'),
        bosId: ggufNumber(g, 'tokenizer.ggml.bos_token_id'),
        eosId: ggufNumber(g, 'tokenizer.ggml.eos_token_id'),
        model: ggufString(g, 'tokenizer.ggml.model'),
      }, g.file);
      assert.equal(t.vocabSize, 512);
      assert.equal(t.bosId, 1);
      assert.equal(t.eosId, 2);
      const r = rng(77);
      for (let i = 0; i < 200; i++) {
        const s = randomText(r, 32);
        assert.deepEqual(t.encode(s), ref.encode(s), JSON.stringify(s));
      }
    });

    it('honours add_space_prefix = false', () => {
      const v = { ...ggufVocabFromTokBin(file), addSpacePrefix: false };
      const t = tokenizerFromGgufVocab(v, 'x.gguf');
      assert.equal(t.idToPiece!(t.encode('Once')[0]).startsWith(' '), false);
    });
  });

  describe('model "gpt2" (byte-level BPE)', () => {
    let vocab: GgufVocab;

    before(function () {
      const v = JSON.parse(fs.readFileSync(dataPath(this, ...GPT2, 'gpt2_vocab.json'), 'utf8')) as Record<string, number>;
      const merges = fs.readFileSync(dataPath(this, ...GPT2, 'gpt2_merges.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#version'));
      const tokens: string[] = [];
      for (const [t, id] of Object.entries(v)) tokens[id] = t;
      const tokenTypes = tokens.map((t) => (t === '<|endoftext|>' ? 3 : 1));
      vocab = { tokens, tokenTypes, merges, model: 'gpt2', bosId: 50256, eosId: 50256 };
    });

    it('encodes like GPT-2', () => {
      const t = tokenizerFromGgufVocab(vocab, 'gpt2.gguf');
      assert.deepEqual(t.encode('Hello world'), [15496, 995]);
      assert.deepEqual(t.encode(' Hello'), [18435]);
      assert.equal(t.bosId, 50256);
      assert.equal(t.decode([...t.encode('a café 😀'), 50256]), 'a café 😀');
    });

    it('uses the Llama 3 split pattern for pre "llama-bpe" (digits in groups of three)', () => {
      const gpt2Style = tokenizerFromGgufVocab(vocab, 'gpt2.gguf');
      const llama3Style = tokenizerFromGgufVocab({ ...vocab, pre: 'llama-bpe' }, 'l3.gguf');
      const pieces = (t: Tokenizer, s: string) => t.encode(s).map((i) => t.idToPiece!(i));
      assert.deepEqual(pieces(llama3Style, '1234567'), ['123', '456', '7']);
      assert.notDeepEqual(pieces(gpt2Style, '1234567'), ['123', '456', '7']);
      assert.equal(llama3Style.decode(llama3Style.encode("It's 2024!\n\nOK")), "It's 2024!\n\nOK");
    });

    it('refuses an unknown pre-tokenizer and missing merges', () => {
      assertIdpError(() => tokenizerFromGgufVocab({ ...vocab, pre: 'no-such-pre' }, 'p.gguf'), 'UNSUPPORTED', 'p.gguf');
      assertIdpError(() => tokenizerFromGgufVocab({ ...vocab, merges: undefined }, 'm.gguf'), 'FORMAT', 'm.gguf');
      assertIdpError(() => tokenizerFromGgufVocab({ ...vocab, merges: ['Ġ'] }, 'm.gguf'), 'FORMAT', 'm.gguf');
    });
  });

  describe('bad metadata', () => {
    const tokens = ['<unk>', '<s>', '</s>', '\u2581', 'a', '\u2581a'];
    it('is an IdpError naming the file', () => {
      assertIdpError(() => tokenizerFromGgufVocab({ tokens: [] }, 'e.gguf'), 'FORMAT', 'e.gguf');
      assertIdpError(() => tokenizerFromGgufVocab({ tokens, scores: [0, 0] }, 's.gguf'), 'FORMAT', 's.gguf');
      assertIdpError(() => tokenizerFromGgufVocab({ tokens, tokenTypes: [1, 1, 1] }, 't.gguf'), 'FORMAT', 't.gguf');
      assertIdpError(() => tokenizerFromGgufVocab({ tokens, bosId: 99 }, 'b.gguf'), 'FORMAT', 'b.gguf');
      assertIdpError(() => tokenizerFromGgufVocab({ tokens, model: 'bert' }, 'u.gguf'), 'UNSUPPORTED', 'u.gguf');
      assertIdpError(() => tokenizerFromGgufVocab({ tokens, tokenTypes: [2, 3, 3, 1, 6, 1] }, 'y.gguf'), 'FORMAT', 'y.gguf');
    });

    it('says which byte cannot be encoded when a vocabulary lacks byte tokens', () => {
      const t = tokenizerFromGgufVocab({ tokens, scores: [0, 0, 0, -1, -2, -3] }, 'nb.gguf');
      assert.deepEqual(t.encode('a'), [5]);
      assert.deepEqual(t.encode('aa'), [5, 4]);
      assertIdpError(() => t.encode('b'), 'INPUT', 'nb.gguf');
    });
  });
});
