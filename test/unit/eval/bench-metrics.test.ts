// lm-eval's metrics on hand-computed cases, one group per task type: multiple choice (acc, acc_norm
// with code-point lengths, exact_match with several golds, multiple-input WinoGrande), loglikelihood
// (LAMBADA acc and perplexity), generate_until (TriviaQA stop strings, whitespace filter, exact_match
// normalisation), loglikelihood_rolling (word/byte perplexity, bits per byte), standard errors.

import { strict as assert } from 'assert';
import { aggregateMetric, bootstrapStderr, generationMetrics, loglikelihoodMetrics, mcMetrics, meanStderr, normalizeAnswer, perplexityOf, rollingMetrics } from '../../../src/engine/eval/metrics';
import { cutAtStops } from '../../../src/engine/eval/scoring';
import { mc } from '../../../src/engine/eval/tasks/types';
import { TRIVIAQA_UNTIL } from '../../../src/engine/eval/tasks/triviaqa';
import { pyCapitalize, pyCompare, pyLen, pyStrip, pyWordCount } from '../../../src/engine/eval/pystr';

const res = (lls: number[], greedy: boolean[] = lls.map(() => false)) => lls.map((ll, i) => ({ ll, isGreedy: greedy[i], tokens: 1 }));
const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('bench metrics: multiple choice (arc, sciq, piqa, hellaswag)', () => {
  it('acc takes the highest loglikelihood; acc_norm divides by the choice length first', () => {
    // ll/len: −10/4 = −2.5, −12/10 = −1.2, −9.5/2 = −4.75 → acc_norm picks 1; raw ll picks 2
    const d = mc('Q', ['aaaa', 'bbbbbbbbbb', 'cc'], 1);
    const m = mcMetrics(d, res([-10, -12, -9.5]));
    assert.deepEqual([m.acc, m.acc_norm, m.pred, m.predNorm], [0, 1, 2, 1]);
    const g = mcMetrics(mc('Q', ['aaaa', 'bbbbbbbbbb', 'cc'], 2), res([-10, -12, -9.5]));
    assert.deepEqual([g.acc, g.acc_norm], [1, 0]);
  });

  it('acc_norm lengths are Python len(): code points, not UTF-16 units or bytes', () => {
    // "😀😀": 2 code points (4 UTF-16 units, 8 bytes). Per code point: −3/2 = −1.5 < −4/3 → choice 1.
    // UTF-16 units would give −0.75 (choice 0), bytes −0.375 (choice 0).
    const m = mcMetrics(mc('Q', ['😀😀', 'abc'], 1), res([-3, -4]));
    assert.equal(m.acc_norm, 1);
    assert.equal(pyLen('😀😀'), 2);
  });

  it('ties go to the first maximum (numpy argmax)', () => {
    assert.equal(mcMetrics(mc('Q', ['a', 'b'], 0), res([-1, -1])).acc, 1);
    assert.equal(mcMetrics(mc('Q', ['a', 'b'], 1), res([-1, -1])).acc, 0);
  });

  it('exact_match is whether the gold continuation is the greedy one', () => {
    assert.equal(mcMetrics(mc('Q', ['a', 'b'], 1), res([-5, -1], [true, false])).exact_match, 0);
    assert.equal(mcMetrics(mc('Q', ['a', 'b'], 1), res([-5, -1], [false, true])).exact_match, 1);
  });
});

describe('bench metrics: webqs (several golds) and winogrande (multiple input)', () => {
  it('webqs: exact_match = any accepted answer is greedy; acc counts a prediction among the golds', () => {
    const d = mc('Question: q\nAnswer:', ['x', 'y', 'z'], [0, 1, 2]);
    assert.equal(mcMetrics(d, res([-3, -2, -9], [false, false, false])).exact_match, 0);
    assert.equal(mcMetrics(d, res([-3, -2, -9], [false, false, true])).exact_match, 1);
    assert.equal(mcMetrics(mc('Q', ['x', 'y', 'z'], [0, 2]), res([-3, -2, -9])).acc, 0);
  });

  it('winogrande: one context per option, one shared continuation; acc = the gold context scores it higher', () => {
    const d = mc(['… so Sarah', '… so Maria'], ['… so Sarah', '… so Maria'], 1, { continuation: 'always got the easier cases.' });
    assert.deepEqual(d.continuations, [' always got the easier cases.']);
    assert.equal(mcMetrics(d, res([-5.2, -4.1])).acc, 1);
    assert.equal(mcMetrics(d, res([-4.1, -5.2])).acc, 0);
  });
});

describe('bench metrics: lambada (loglikelihood)', () => {
  it('acc is is_greedy; perplexity is exp(−mean ll) over documents', () => {
    assert.deepEqual(loglikelihoodMetrics({ ll: -2.5, isGreedy: true, tokens: 2 }), { acc: 1, perplexity: -2.5 });
    assert.equal(loglikelihoodMetrics({ ll: -0.1, isGreedy: false, tokens: 1 }).acc, 0);
    close(aggregateMetric('perplexity', [-1, -3]).value, Math.exp(2));
    close(perplexityOf([-Math.log(4), -Math.log(4)]), 4);
  });
});

describe('bench metrics: triviaqa (generate_until)', () => {
  it('the answer is cut at the first "\\n", "." or ","', () => {
    assert.equal(cutAtStops(' Paris, France.\nNext', TRIVIAQA_UNTIL), ' Paris');
    assert.equal(cutAtStops(' Dr. Who', TRIVIAQA_UNTIL), ' Dr');
    assert.equal(cutAtStops('\nParis', TRIVIAQA_UNTIL), '');
  });

  it('exact_match: left-stripped answer (lm-eval ≤ 0.4.9.1\'s remove_whitespace), any alias, ignoring case and string.punctuation', () => {
    const doc = { type: 'generate_until' as const, context: 'Question: x?\nAnswer:', until: TRIVIAQA_UNTIL, targets: ['Albert Einstein', 'U.S.A'] };
    assert.deepEqual(generationMetrics(doc, '  ALBERT einstein'), { exact_match: 1, answer: 'ALBERT einstein' });
    assert.deepEqual(generationMetrics(doc, '  ALBERT einstein\t'), { exact_match: 0, answer: 'ALBERT einstein\t' });   // trailing whitespace stays
    assert.equal(generationMetrics(doc, ' usa').exact_match, 1);          // "U.S.A" loses its dots
    assert.equal(generationMetrics(doc, ' Einstein').exact_match, 0);     // no partial credit
    assert.equal(generationMetrics(doc, ' AlbertEinstein').exact_match, 0); // inner spaces count
    assert.equal(normalizeAnswer("Rock 'n' Roll!"), 'rock n roll');
  });
});

describe('bench metrics: loglikelihood_rolling and standard errors', () => {
  it('word and byte perplexity weight the summed ll by words and UTF-8 bytes; bits per byte', () => {
    const a = rollingMetrics('a bb ccc', { ll: -6, tokens: 5 });      // 3 words, 8 bytes
    const b = rollingMetrics('é', { ll: -2, tokens: 1 });             // 1 word, 2 bytes
    assert.deepEqual(a.word_perplexity, [-6, 3]);
    close(aggregateMetric('word_perplexity', [a.word_perplexity!, b.word_perplexity!]).value, Math.exp(8 / 4));
    close(aggregateMetric('byte_perplexity', [a.byte_perplexity!, b.byte_perplexity!]).value, Math.exp(8 / 10));
    close(aggregateMetric('bits_per_byte', [a.bits_per_byte!, b.bits_per_byte!]).value, 8 / 10 / Math.LN2);
    assert.equal(aggregateMetric('bits_per_byte', [a.bits_per_byte!]).stderr, null);
  });

  it('mean stderr is the sample std (ddof 1) / √n', () => {
    // [1,0,1,1]: mean .75, Σ(x−m)² = 3·.0625 + .5625 = .75, var = .25, sd = .5, se = .5/2
    close(meanStderr([1, 0, 1, 1])!, 0.25);
    assert.equal(meanStderr([1]), null);
    const m = aggregateMetric('acc', [1, 0, 1, 1]);
    assert.deepEqual(m, { value: 0.75, stderr: 0.25 });
  });

  it('perplexity stderr: a seeded bootstrap, close to the delta method for many documents', () => {
    const lls = Array.from({ length: 400 }, (_, i) => -1 - ((i * 37) % 100) / 50);
    const a = bootstrapStderr(lls, perplexityOf, 2000, 7)!;
    assert.equal(bootstrapStderr(lls, perplexityOf, 2000, 7), a);
    const delta = perplexityOf(lls) * meanStderr(lls)!;
    assert.ok(Math.abs(a - delta) / delta < 0.1, `bootstrap ${a} vs delta ${delta}`);
  });
});

describe('bench: Python string semantics', () => {
  it('strip, capitalize, code-point order, word count', () => {
    assert.equal(pyStrip('\u3000 x \x1c'), 'x');
    assert.equal(pyStrip('\ufeffx'), '\ufeffx');   // not whitespace in Python
    assert.equal(pyCapitalize('the MAN'), 'The man');
    assert.ok(pyCompare('\uffff', '😀') < 0);       // JS "<" says the opposite (UTF-16 units)
    assert.ok(!('\uffff' < '😀'));
    assert.equal(pyWordCount(' a  b\nc'), 4);       // re.split(r"\s+") keeps the leading empty field
  });
});
