// Tasks built from held-out text: LAMBADA-style last words, next sentence / next line with distractors
// drawn from the same corpus, rolling perplexity documents; determinism by seed; typed errors.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { expectIdpError } from '../../helpers/tiny-hf';
import { buildHeldoutTask, heldoutDocuments, sentenceSpans } from '../../../src/engine/eval/heldout-tasks';
import type { Doc, McDoc } from '../../../src/engine/eval/tasks/types';

const STORY = 'Tom had a red ball. He threw the ball to Sam in the big green park. Sam caught it with both hands! ' +
  '"Good catch," said Tom. Then the two friends walked home.\nMom made soup for dinner.';
const OTHER = 'The cat sat on the mat. It was a sunny day. The dog barked at the bird? A girl sang a song.';

describe('bench held-out tasks', () => {
  it('sentence spans end at . ! ? (with closing quotes) before whitespace, and keep a tail', () => {
    const spans = sentenceSpans(STORY).map((s) => STORY.slice(s.start, s.end));
    assert.deepEqual(spans, ['Tom had a red ball.', 'He threw the ball to Sam in the big green park.', 'Sam caught it with both hands!',
      '"Good catch," said Tom.', 'Then the two friends walked home.', 'Mom made soup for dinner.']);
    assert.deepEqual(sentenceSpans('no end here').map((s) => s.end), [11]);
  });

  it('text_lambada: context up to the last word of a sentence, target " " + the word without punctuation', () => {
    const t = buildHeldoutTask('text_lambada', [STORY], ['story.txt'], { minContextWords: 5, maxContextWords: 20 });
    assert.equal(t.outputType, 'loglikelihood');
    const items = t.docs as Array<Extract<Doc, { type: 'loglikelihood' }>>;
    assert.deepEqual(items.map((d) => d.continuation), [' park', ' hands', ' Tom', ' home', ' dinner']);
    // the context is a prefix of the text and the word follows it after one space
    for (const d of items) assert.ok(STORY.includes(d.context + d.continuation), d.context);
    assert.equal(items[0].context, 'Tom had a red ball. He threw the ball to Sam in the big green');
    // ≤ 20 words of context: whole sentences are dropped from the front (20 words here; one more sentence would make 31)
    assert.equal(items[4].context, 'Sam caught it with both hands! "Good catch," said Tom. Then the two friends walked home.\nMom made soup for');
    assert.ok(items.every((d) => d.context.split(/\s+/).length >= 5));
  });

  it('text_next_sentence: the true sentence among distinct distractors from the corpus, at a seeded position', () => {
    const docs = [STORY, OTHER];
    const t = buildHeldoutTask('text_next_sentence', docs, ['a'], { seed: 3, contextSentences: 2 });
    const pool = new Set(docs.flatMap((d) => sentenceSpans(d).map((s) => d.slice(s.start, s.end))));
    assert.equal(t.docs.length, 5 + 3);
    const golds = new Set<number>();
    for (const d of t.docs as McDoc[]) {
      assert.equal(d.choices.length, 4);
      assert.equal(new Set(d.choices).size, 4);
      for (const c of d.choices) assert.ok(pool.has(c), c);
      assert.deepEqual(d.continuations, d.choices.map((c) => ` ${c}`));
      golds.add(d.gold as number);
    }
    const first = t.docs[0] as McDoc;
    assert.equal(first.contexts[0], 'Tom had a red ball.');
    assert.equal(first.choices[first.gold as number], 'He threw the ball to Sam in the big green park.');
    const third = t.docs[2] as McDoc;
    assert.equal(third.contexts[0], 'He threw the ball to Sam in the big green park. Sam caught it with both hands!');   // 2 sentences back
    assert.ok(golds.size > 1, 'gold positions vary');
    assert.deepEqual(buildHeldoutTask('text_next_sentence', docs, ['a'], { seed: 3, contextSentences: 2 }).docs, t.docs);
    const other = buildHeldoutTask('text_next_sentence', docs, ['a'], { seed: 4, contextSentences: 2 }).docs as McDoc[];
    assert.ok(other.some((d, i) => JSON.stringify(d.choices) !== JSON.stringify((t.docs[i] as McDoc).choices)));
  });

  it('text_next_line: previous lines ending in "\\n", the next non-blank line with no delimiter', () => {
    const code = 'function f(x) {\n  const y = x + 1;\n\n  return y * 2;\n}\nconst a = f(1);\nconsole.log(a);';
    const t = buildHeldoutTask('text_next_line', [code], ['f.ts'], { contextLines: 2 });
    const items = t.docs as McDoc[];
    assert.equal(items.length, 5);   // lines 2, 4, 5, 6, 7 (line 3 is blank)
    assert.equal(items[0].contexts[0], 'function f(x) {\n');
    assert.equal(items[0].choices[items[0].gold as number], '  const y = x + 1;');
    assert.equal(items[1].contexts[0], '  const y = x + 1;\n\n');
    assert.deepEqual(items[0].continuations, items[0].choices);
    for (const d of items) assert.ok(d.choices.every((c) => c.trim().length > 0));
  });

  it('text_ppl: one rolling document per story; files split at <|endoftext|>', () => {
    const dir = tmpDir('idp-heldout-');
    const f = path.join(dir, 'stories.txt');
    fs.writeFileSync(f, `${STORY}\n<|endoftext|>\n${OTHER}\n<|endoftext|>\n`);
    const { docs, files } = heldoutDocuments([f]);
    assert.deepEqual(docs, [STORY, OTHER]);
    const t = buildHeldoutTask('text_ppl', docs, files);
    assert.deepEqual(t.metrics, ['word_perplexity', 'byte_perplexity', 'bits_per_byte']);
    assert.equal((t.docs[1] as Extract<Doc, { type: 'loglikelihood_rolling' }>).text, OTHER);
  });

  it('too little text is an INPUT error that says why', async () => {
    const dir = tmpDir('idp-heldout-bad-');
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, ' <|endoftext|> \n');
    await expectIdpError(() => heldoutDocuments([empty]), 'INPUT', empty, /empty/);
    await expectIdpError(() => heldoutDocuments([]), 'INPUT', undefined, /--heldout/);
    await expectIdpError(() => buildHeldoutTask('text_next_sentence', ['One. Two. Three.'], ['x']), 'INPUT', undefined, /3 distinct sentences/);
    await expectIdpError(() => buildHeldoutTask('text_lambada', ['Short one. Two words.'], ['x.txt']), 'INPUT', 'x.txt', /no items/);
  });
});
