// Fig. 2's perplexity axis: lm-eval's word perplexity where every point has the same task's, else the held-out
// token perplexity, and the points say which.
import { strict as assert } from 'assert';
import { promptLengthPoints } from '../../../src/engine/study/run';
import type { StudyRow } from '../../../src/protocol/study-schema';

const row = (id: string, kind: StudyRow['kind'], acc: number, word?: number, tokenPpl = 9): StudyRow => ({
  id, label: id, kind, params: { paper: 0, trained: 0, stored: 0 } as StudyRow['params'], status: 'done',
  headline: {
    arc_easy: { metric: 'acc', value: acc } as StudyRow['headline'][string],
    ...(word !== undefined ? { wikitext: { metric: 'word_perplexity', value: word } as StudyRow['headline'][string] } : {}),
  },
  heldout: { nll: Math.log(tokenPpl), ppl: tokenPpl, tokens: 100 },
});

describe('study: Fig. 2 points', () => {
  const prompts = (id: string) => (id === 'prompt-8' ? [8] : id === 'idp-4+8' ? [4, 8] : []);

  it('uses the word perplexity every prompt-based row has, with the task named', () => {
    const pts = promptLengthPoints([row('base', 'base', 60, 20), row('compressed', 'compressed', 40, 35), row('prompt-8', 'prompt', 45, 30), row('idp-4+8', 'idp', 47, 29)], prompts);
    assert.deepEqual(pts.map((p) => [p.row, p.tokens, p.ppl, p.perplexity, p.pplTask]),
      [['compressed', 0, 35, 'word', 'wikitext'], ['prompt-8', 8, 30, 'word', 'wikitext'], ['idp-4+8', 12, 29, 'word', 'wikitext']]);
  });

  it('falls back to the held-out token perplexity when a row lacks it', () => {
    const pts = promptLengthPoints([row('compressed', 'compressed', 40, 35, 11), row('prompt-8', 'prompt', 45, undefined, 10)], prompts);
    assert.deepEqual(pts.map((p) => [p.row, p.ppl, p.perplexity]), [['compressed', 11, 'token'], ['prompt-8', 10, 'token']]);
  });
});
