// The byte-level BPE trainer: merges on a tiny corpus worked out by hand, tie-breaking, determinism,
// the tokenizer.json it writes loaded by loadTokenizerJson (special tokens, FIM tokens, exact round
// trips of any text), and agreement between the trainer's own segmentation and the encoder's.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { bpeTokenizerJson, BYTE_TO_CHAR, trainBpe, trainBpeOnTexts, WordCounter } from '../../../src/engine/tokenizers/bpe-train';
import { loadTokenizerJson, tokenizerFromJsonObject } from '../../../src/engine/tokenizers/hf';
import { REPO_ROOT, tmpDir } from '../../helpers/data';
import { isIdpError } from '../../../src/engine/errors';
import { randomText, rng } from './fixtures';

function expectInputError(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => isIdpError(e) && e.code === 'INPUT');
}

const EOT = '<|endoftext|>';
const FIM = ['<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>'];
const byteId = (ch: string, specials = 1) => specials + ch.charCodeAt(0);

/** ~60 KB of real TypeScript declarations (typescript is a dev dependency, so always installed). */
function codeSample(): string {
  const f = path.join(REPO_ROOT, 'node_modules', 'typescript', 'lib', 'lib.es5.d.ts');
  return fs.readFileSync(f, 'utf8').slice(0, 60_000);
}

describe('tokenizers: byte-level BPE trainer', () => {
  it('learns the merges worked out by hand on a tiny corpus, then stops at the minimum frequency', () => {
    // words: hug×3, pug, pun, bun, hugs. Pairs: u·g 5, h·u 4, p·u 2, u·n 2, …
    //   1. u+g (5)      → h ug ×3, p ug, p u n, b u n, h ug s
    //   2. h+ug (4)     → hug ×3, p ug, p u n, b u n, hug s
    //   3. u+n (2)      → every other pair occurs once: stop (minFrequency 2)
    const m = trainBpeOnTexts(['hug', 'hug', 'hug', 'pug', 'pun', 'bun', 'hugs'], { vocabSize: 1000, specialTokens: [EOT] });
    assert.deepEqual(m.merges, [['u', 'g'], ['h', 'ug'], ['u', 'n']]);
    assert.equal(m.vocab[EOT], 0);
    assert.equal(m.vocab.a, byteId('a'));
    assert.equal(m.vocab.ug, 257);
    assert.equal(m.vocab.hug, 258);
    assert.equal(m.vocab.un, 259);
    assert.equal(Object.keys(m.vocab).length, 260);
    assert.equal(m.words, 5);
    assert.equal(m.wordTokens, 7);
    assert.equal(m.tokens, 3 * 1 + 2 + 2 + 2 + 2);   // hug×3, p·ug, p·un, b·un, hug·s
  });

  it('breaks ties by the smaller (left id, right id), whatever the order of the input', () => {
    const a = trainBpeOnTexts(['cd', 'ab', 'ef'], { vocabSize: 1000, minFrequency: 1 });
    const b = trainBpeOnTexts(['ef', 'cd', 'ab'], { vocabSize: 1000, minFrequency: 1 });
    assert.deepEqual(a.merges, [['a', 'b'], ['c', 'd'], ['e', 'f']]);
    assert.deepEqual(b.merges, a.merges);
    // a more frequent pair beats a smaller one
    assert.deepEqual(trainBpeOnTexts(['ab', 'yz', 'yz'], { vocabSize: 258 }).merges, [['y', 'z']]);
  });

  it('stops at the vocabulary size (specials + 256 bytes + merges)', () => {
    const m = trainBpeOnTexts([codeSample()], { vocabSize: 300, specialTokens: [EOT, ...FIM] });
    assert.equal(Object.keys(m.vocab).length, 300);
    assert.equal(Math.max(...Object.values(m.vocab)), 299);
    assert.equal(m.merges.length, 300 - 4 - 256);
  });

  it('is deterministic: the same corpus gives the same tokenizer.json byte for byte, in any document order', () => {
    const text = codeSample();
    const docs = text.split('\n\n');
    const one = JSON.stringify(bpeTokenizerJson(trainBpeOnTexts(docs, { vocabSize: 800, specialTokens: [EOT] })));
    const two = JSON.stringify(bpeTokenizerJson(trainBpeOnTexts(docs, { vocabSize: 800, specialTokens: [EOT] })));
    const r = rng(5);
    const shuffled = [...docs].sort(() => r() - 0.5);
    const three = JSON.stringify(bpeTokenizerJson(trainBpeOnTexts(shuffled, { vocabSize: 800, specialTokens: [EOT] })));
    assert.equal(one, two);
    assert.equal(one, three);
  });

  it('writes a tokenizer.json that loadTokenizerJson reads: BOS/EOS, FIM tokens, exact round trips', () => {
    const text = codeSample();
    const m = trainBpeOnTexts([text], { vocabSize: 1024, specialTokens: [EOT, ...FIM] });
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(bpeTokenizerJson(m)));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: EOT, eos_token: EOT }));
    const tok = loadTokenizerJson(path.join(dir, 'tokenizer.json'));
    assert.equal(tok.vocabSize, 1024);
    assert.equal(tok.bosId, 0);
    assert.equal(tok.eosId, 0);
    FIM.forEach((t, i) => assert.equal(tok.pieceToId(t), i + 1));
    // special-token strings in text become their ids; decode drops them
    const fim = `${FIM[0]}function f(${FIM[2]}) {}${FIM[1]}x: number`;
    const ids = tok.encode(fim);
    assert.equal(ids[0], 1);
    assert.ok(ids.includes(3) && ids.includes(2));
    assert.equal(tok.decode(ids), 'function f() {}x: number');
    // any text round-trips exactly: every byte is in the vocabulary
    const r = rng(11);
    for (let i = 0; i < 300; i++) {
      const s = randomText(r);
      assert.equal(tok.decode(tok.encode(s)), s, JSON.stringify(s));
    }
    assert.equal(tok.decode(tok.encode(text)), text);
    // streaming decode (bytes per token) reassembles multi-byte characters
    const emoji = tok.encode('const s = "😀 café";');
    const bytes = Buffer.concat(emoji.map((id, k) => Buffer.from(tok.tokenBytes!(k ? emoji[k - 1] : -1, id))));
    assert.equal(bytes.toString('utf8'), 'const s = "😀 café";');
  });

  it('the encoder reproduces the trainer\'s segmentation: same token count on the training text, merged words are one token', () => {
    const text = codeSample();
    const wc = new WordCounter([EOT]);
    wc.add(text);
    const m = trainBpe(wc.counts, { vocabSize: 2048, specialTokens: [EOT] });
    const tok = tokenizerFromJsonObject(bpeTokenizerJson(m), { bos_token: EOT }, 'trained');
    assert.equal(tok.encode(text).length, m.tokens);
    assert.ok(m.tokens < text.length / 2.5, `compresses code: ${text.length} chars → ${m.tokens} tokens`);
    // frequent declarations words are single tokens
    for (const w of [' interface', ' readonly', ' number']) {
      const key = [...Buffer.from(w, 'utf8')].map((b) => BYTE_TO_CHAR[b]).join('');
      assert.ok(m.vocab[key] !== undefined, `${JSON.stringify(w)} is a token`);
      assert.deepEqual(tok.encode(w), [m.vocab[key]]);
    }
  });

  it('special tokens never enter the counts; bad settings are typed INPUT errors', () => {
    const wc = new WordCounter([EOT]);
    wc.add(`a${EOT}b${EOT}${EOT}`);
    assert.deepEqual([...wc.counts.keys()].sort(), ['a', 'b']);
    expectInputError(() => trainBpeOnTexts(['x'], { vocabSize: 100 }));
    expectInputError(() => trainBpeOnTexts(['x'], { vocabSize: 70000 }));
    expectInputError(() => trainBpeOnTexts(['x'], { vocabSize: 300, specialTokens: [EOT, EOT] }));
  });
});
