import { strict as assert } from 'assert';
import * as fs from 'fs';
import { dataPath, STORIES } from '../../helpers/data';
import { loadLlama2cTokenizer, SentencePieceTokenizer, Tokenizer, TokenStreamer } from '../../../src/engine/tokenizers';
import { naiveRunCEncode, randomText, readTokBin, rng } from './fixtures';

interface Reference { generated_ids: number[]; generated_text: string; bos_id: number }

describe('tokenizers: llama2.c tokenizer.bin (stories260K tok512.bin)', () => {
  let tok: SentencePieceTokenizer;
  let file: string;
  const pieces = (ids: number[]) => ids.map((i) => tok.idToPiece(i));

  before(function () {
    file = dataPath(this, ...STORIES, 'tok512.bin');
    tok = loadLlama2cTokenizer(file);
  });

  it('reads 512 tokens with BOS "\\n<s>\\n" (1) and EOS "\\n</s>\\n" (2)', () => {
    assert.equal(tok.vocabSize, 512);
    assert.equal(tok.bosId, 1);
    assert.equal(tok.eosId, 2);
    assert.equal(tok.idToPiece(1), '\n<s>\n');
    assert.equal(tok.idToPiece(2), '\n</s>\n');
    assert.equal(tok.idToPiece(3), '<0x00>');
    assert.equal(tok.idToPiece(13), '<0x0A>');
    assert.equal(tok.idToPiece(259), ' t');
  });

  it('decodes reference_greedy.json generated_ids to generated_text exactly', function () {
    const ref = JSON.parse(fs.readFileSync(dataPath(this, ...STORIES, 'reference_greedy.json'), 'utf8')) as Reference;
    assert.equal(ref.bos_id, tok.bosId);
    assert.equal(tok.decode(ref.generated_ids), ref.generated_text);
    // same text when the sequence still starts with BOS, step by step, and streamed
    assert.equal(tok.decode([ref.bos_id, ...ref.generated_ids]), ref.generated_text);
    let prev = ref.bos_id;
    let stepped = '';
    const s = new TokenStreamer(tok);
    let streamed = '';
    for (const id of ref.generated_ids) {
      stepped += tok.decodeStep(prev, id);
      prev = id;
      streamed += s.push(id);
    }
    assert.equal(stepped, ref.generated_text);
    assert.equal(streamed + s.flush(), ref.generated_text);
  });

  it('encodes "" to no tokens (no dummy prefix for empty text)', () => {
    assert.deepEqual(tok.encode(''), []);
  });

  it('encodes "Once upon a time" through the dummy prefix and highest-score merges', () => {
    // Start: [" ", "O","n","c","e", " ", "u","p","o","n", " ","a", " ","t","i","m","e"].
    // " Once": candidates " O" (-60) and "ce" (-72) ("On", "nc" are no pieces): " O" first, then
    // " On" (-62) beats "ce", then "ce", then " On"+"ce" = " Once" (-144). Likewise " upon" (-148),
    // " a" (-2), " time" (-119); no piece spans a word boundary ("e " is none), so 4 tokens.
    const ids = tok.encode('Once upon a time');
    assert.deepEqual(pieces(ids), [' Once', ' upon', ' a', ' time']);
    assert.deepEqual(ids, [403, 407, 261, 378]);
    assert.equal(tok.score(403), -144);
    assert.equal(tok.decode(ids), 'Once upon a time');
    // the first piece carries the dummy space; after BOS it is stripped, elsewhere it is not
    assert.equal(tok.decodeStep(1, 403), 'Once');
    assert.equal(tok.decodeStep(378, 403), ' Once');
  });

  it('uses byte fallback (id = byte + 3) for code points that are not pieces', () => {
    // "é" is a piece (485); "日" (E6 97 A5) and "本" (E6 9C AC) are not: one token per byte.
    assert.deepEqual(pieces(tok.encode('café')), [' c', 'a', 'f', 'é']);
    assert.deepEqual(tok.encode('日本'), [tok.pieceToId(' ')!, 0xe6 + 3, 0x97 + 3, 0xa5 + 3, 0xe6 + 3, 0x9c + 3, 0xac + 3]);
    assert.deepEqual(pieces(tok.encode('a\nb')), [' a', '<0x0A>', 'b']);
    assert.equal(tok.decode(tok.encode('日本')), '日本');
    // a lone byte of a multi-byte character cannot be text on its own
    assert.equal(tok.decodeStep(5, 0xe6 + 3), '\uFFFD');
  });

  it('keeps a leading space of the text (only the dummy one is stripped)', () => {
    for (const s of [' x', '  two', '\nnewline first', ' ']) assert.equal(tok.decode(tok.encode(s)), s);
  });

  it('round-trips decode(encode(x)) === x for newlines, accents, emoji, CJK, controls', () => {
    const cases = [
      'Hello world', 'Lily\'s mom said, "Lily, let\'s go!"\nThe end.', 'café', 'naïve über', '日本語のテキスト',
      '😀👍🏽 emoji', 'Жук и ёж', 'tabs\tand\r\nCRLF', '\u0001\u001f controls', '™ € â', 'a  b   c',
      '<s> and <0x41> are text here', '\uFEFFBOM first', 'x'.repeat(300),
    ];
    for (const s of cases) assert.equal(tok.decode(tok.encode(s)), s, JSON.stringify(s));
    const r = rng(7);
    for (let i = 0; i < 300; i++) {
      const s = randomText(r);
      assert.equal(tok.decode(tok.encode(s)), s, JSON.stringify(s));
    }
  });

  it('encodes exactly like the naive llama2.c merge rule on 300 seeded random strings', () => {
    const raw = readTokBin(file);
    const r = rng(12345);
    for (let i = 0; i < 300; i++) {
      const s = randomText(r, 40);
      assert.deepEqual(tok.encode(s), naiveRunCEncode(raw, s), JSON.stringify(s));
    }
  });

  it('encodes each line of the TinyStories sample exactly like run.c', function () {
    const raw = readTokBin(file);
    const sample = fs.readFileSync(dataPath(this, 'corpora', 'tinystories', 'tinystories_sample.txt'), 'utf8');
    const lines = sample.split('\n').filter((l) => l.length > 0);
    assert.ok(lines.length > 5);
    for (const line of lines) assert.deepEqual(tok.encode(line), naiveRunCEncode(raw, line), line);
  });

  it('breaks score ties leftmost-first, as run.c does', () => {
    // toy vocabulary: "ab" and "bc" score the same; in "abc" the left pair wins
    const enc = (s: string) => Buffer.from(s, 'utf8');
    const base = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)];
    const words = [' ', 'a', 'b', 'c', 'ab', 'bc', ' ab', 'abc'];
    const scores = [...base.map(() => 0), -1, -2, -3, -4, -5, -5, -7, -8];
    const t = new SentencePieceTokenizer({ pieces: [...base, ...words].map(enc), scores, bosId: 1, eosId: 2 });
    // [" ","a","b","c"]: " a" no piece; "ab"(-5) and "bc"(-5) tie -> "ab"; then " ab"(-7) vs "abc"(-8) -> " ab"
    assert.deepEqual(t.encode('abc').map((i) => t.idToPiece(i)), [' ab', 'c']);
    assert.deepEqual(t.encode('abc'), naiveRunCEncode({ pieces: [...base, ...words].map(enc), scores }, 'abc'));
  });

  it('streams multi-byte characters split over byte tokens without broken output', () => {
    const text = 'Lily saw 日本 and 😀 café.';
    const ids = tok.encode(text);
    const s = new TokenStreamer(tok);
    const chunks = ids.map((id) => s.push(id));
    chunks.push(s.flush());
    assert.equal(chunks.join(''), text);
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), JSON.stringify(chunks));
    assert.ok(chunks.some((c) => c === ''), 'held back at least one incomplete character');
  });

  it('streams through decode when a tokenizer has no tokenBytes, holding back U+FFFD', () => {
    const viaDecode: Tokenizer = { vocabSize: tok.vocabSize, bosId: 1, eosId: 2, encode: (t) => tok.encode(t), decode: (ids) => tok.decode(ids) };
    const text = 'Ben said, “Wow 😀!” 日本';
    const s = new TokenStreamer(viaDecode);
    const chunks = tok.encode(text).map((id) => s.push(id));
    chunks.push(s.flush());
    assert.equal(chunks.join(''), text);
    assert.ok(chunks.every((c) => !c.includes('\uFFFD')), JSON.stringify(chunks));
  });

  it('drops BOS/EOS in decode and strips the space after a BOS inside the sequence', () => {
    const a = tok.encode('Once upon a time');
    assert.equal(tok.decode([...a, 2, 1, ...a]), 'Once upon a timeOnce upon a time');
    assert.equal(tok.decode([]), '');
  });
});
