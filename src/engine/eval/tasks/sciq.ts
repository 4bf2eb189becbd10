// SciQ (lm-eval sciq.yaml, test split): "{support.lstrip()}\nQuestion: {question}\nAnswer:", choices
// [distractor1, distractor2, distractor3, correct_answer], gold 3. Reads the original release's JSON
// array (test.json) and HF JSONL exports — both rows {question, distractor1..3, correct_answer, support}.
// No copy is staged: pass the file with --tasks sciq=FILE or put it under DIR/sciq/.

import { readItems } from './read';
import { Doc, mc, Task } from './types';
import { pyLstrip } from '../pystr';

export function loadSciq(file: string): Task {
  const docs: Doc[] = readItems(file).map((it, index) => {
    const support = it.has('support') ? it.str('support') : it.fail('missing field "support"');
    const choices = [it.str('distractor1'), it.str('distractor2'), it.str('distractor3'), it.str('correct_answer')];
    return { ...mc(`${pyLstrip(support)}\nQuestion: ${it.str('question')}\nAnswer:`, choices, 3), index, source: it.where };
  });
  return { name: 'sciq', outputType: 'multiple_choice', metrics: ['acc', 'acc_norm'], docs, files: [file], split: 'test', notes: [] };
}
