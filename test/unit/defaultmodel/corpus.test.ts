// The default model's corpus recipe and FIM documents: line splitting, the left-out rules, the
// held-out rule, pinned versions, and FIM documents that reassemble into the original text.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { buildCorpus, CORPUS_RECIPE, fnv1a, HELD_OUT_MOD, installedVersion, splitLines, whyLeftOut } from '../../../scripts/default-model/corpus';
import { FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, fimSplit, SPECIAL_TOKENS, trainingDocuments } from '../../../scripts/default-model/fim';
import { isIdpError } from '../../../src/engine/errors';
import { Rng } from '../../../src/engine/rng';
import { REPO_ROOT, tmpDir } from '../../helpers/data';

const NODE_MODULES = path.join(REPO_ROOT, 'node_modules');

/** Undo a FIM document: prefix + middle + suffix. */
function unFim(doc: string): string {
  const m = new RegExp(`^${esc(FIM_PREFIX)}([\\s\\S]*)${esc(FIM_SUFFIX)}([\\s\\S]*)${esc(FIM_MIDDLE)}([\\s\\S]*)$`).exec(doc);
  assert.ok(m, `not a FIM document: ${JSON.stringify(doc.slice(0, 80))}`);
  return m[1] + m[3] + m[2];
}
function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('default model: corpus recipe and FIM documents', () => {
  it('splitLines cuts at line ends into pieces that reassemble exactly', () => {
    const text = Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(i % 37)}`).join('\n');
    const parts = splitLines(text, 300);
    assert.equal(parts.join(''), text);
    assert.ok(parts.length > 10);
    parts.slice(0, -1).forEach((p) => { assert.ok(p.endsWith('\n')); assert.ok(p.length >= 300 && p.length <= 300 + 50, String(p.length)); });
    assert.deepEqual(splitLines('short', 300), ['short']);
    assert.deepEqual(splitLines('', 300), []);
  });

  it('leaves out empty, binary, minified and special-token files and keeps ordinary code', () => {
    const code = 'export function f(x: number): number {\n  return x + 1;\n}\n'.repeat(50);
    assert.equal(whyLeftOut(code, SPECIAL_TOKENS), undefined);
    assert.match(whyLeftOut('  \n\n', SPECIAL_TOKENS)!, /empty/);
    assert.match(whyLeftOut('abc\u0000def', SPECIAL_TOKENS)!, /binary/);
    assert.match(whyLeftOut(`var a=${'1,'.repeat(3000)}0;`, SPECIAL_TOKENS)!, /minified/);
    // one long line in a big file is fine (typescript.js has a few)
    assert.equal(whyLeftOut(code.repeat(20) + `const s = "${'y'.repeat(1500)}";\n`, SPECIAL_TOKENS), undefined);
    assert.match(whyLeftOut(`${code}// <|endoftext|>\n`, SPECIAL_TOKENS)!, /special token <\|endoftext\|>/);
  });

  it('every recipe package is installed at its pinned version (npm ci gives the corpus the model was trained on)', () => {
    for (const p of CORPUS_RECIPE) {
      assert.equal(installedVersion(NODE_MODULES, p.name), p.version,
        `${p.name}: the lock file installs another version than scripts/default-model/corpus.ts pins — update the recipe and rebuild the model (npm run train:default-model)`);
    }
  });

  it('reads a package: files in path order, parts held out by FNV-1a of their id, sizes add up', () => {
    const c = buildCorpus({ nodeModules: NODE_MODULES, specialTokens: SPECIAL_TOKENS, only: (p) => p.name === 'onnxruntime-common' });
    const st = c.packages[0];
    const ids = c.parts.map((p) => p.id);
    assert.deepEqual(ids, [...ids].sort());
    assert.ok(ids.every((id) => id.startsWith('onnxruntime-common/lib/') && id.endsWith('.ts#0')));
    assert.equal(st.files, c.parts.length);
    for (const p of c.parts) assert.equal(p.heldOut, fnv1a(p.id) % HELD_OUT_MOD === 0);
    assert.ok(c.parts.some((p) => p.heldOut) && c.parts.some((p) => !p.heldOut));
    assert.equal(st.trainChars + st.heldOutChars, st.chars);
    assert.equal(fnv1a(''), 0x811c9dc5);
    assert.equal(fnv1a('a'), 0xe40c292c);   // FNV-1a test vector
  });

  it('refuses a package whose installed version differs from the pin, naming its package.json (unless drift is allowed)', () => {
    const nm = tmpDir();
    const pkg = path.join(nm, 'onnxruntime-common');
    fs.mkdirSync(path.join(pkg, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ version: '0.0.1' }));
    fs.writeFileSync(path.join(pkg, 'lib', 'a.ts'), 'export const a = 1;\n');
    const only = (p: { name: string }) => p.name === 'onnxruntime-common';
    assert.throws(() => buildCorpus({ nodeModules: nm, specialTokens: SPECIAL_TOKENS, only }),
      (e: unknown) => isIdpError(e) && e.code === 'INPUT' && e.file === path.join(pkg, 'package.json') && /0\.0\.1/.test(e.message));
    const c = buildCorpus({ nodeModules: nm, specialTokens: SPECIAL_TOKENS, only, allowDrift: true });
    assert.equal(c.packages[0].installed, '0.0.1');
    assert.equal(c.parts.length, 1);
    assert.throws(() => buildCorpus({ nodeModules: tmpDir(), specialTokens: SPECIAL_TOKENS, only }), (e: unknown) => isIdpError(e) && e.code === 'NOT_FOUND');
  });

  it('fimSplit: prefix + middle + suffix is the chunk; the middle is the rest of a line or up to two more, without its newline', () => {
    const chunk = Array.from({ length: 30 }, (_, i) => `  const v${i} = f(${i});`).join('\n') + '\n';
    const r = Rng.for(3, 'test');
    for (let k = 0; k < 500; k++) {
      const s = fimSplit(chunk, r);
      assert.equal(s.prefix + s.middle + s.suffix, chunk);
      assert.ok((s.middle.match(/\n/g) ?? []).length <= 2);
      assert.ok(!s.middle.endsWith('\n'));
      assert.ok(s.suffix === '' || s.suffix.startsWith('\n'));
    }
  });

  it('trainingDocuments: held-out parts excluded, about `rate` of the chunks in FIM form, deterministic, text preserved', () => {
    const c = buildCorpus({ nodeModules: NODE_MODULES, specialTokens: SPECIAL_TOKENS, only: (p) => p.name === 'commander' || p.name === 'onnxruntime-common' });
    const a = trainingDocuments(c.parts, 0.3, 1);
    const b = trainingDocuments(c.parts, 0.3, 1);
    assert.deepEqual(a, b);
    assert.notDeepEqual(trainingDocuments(c.parts, 0.3, 2).docs, a.docs);
    assert.equal(a.docs.length, a.fimDocs + a.plainDocs);
    const rate = a.fimDocs / a.chunks;
    assert.ok(rate > 0.2 && rate < 0.4, `FIM rate ${rate}`);
    const restored = a.docs.map((d) => (d.startsWith(FIM_PREFIX) ? unFim(d) : d)).join('');
    assert.equal(restored, c.parts.filter((p) => !p.heldOut).map((p) => p.text).join(''));
    assert.equal(trainingDocuments(c.parts, 0, 1).fimDocs, 0);
  });
});
