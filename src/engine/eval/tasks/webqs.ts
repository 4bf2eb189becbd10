// WebQuestions (lm-eval webqs.yaml, test split): "Question: {question}\nAnswer:", choices = the
// answers with lm-eval's _remove_prefixes (sorted; an answer that starts with the answer kept just
// before it is dropped — if the shorter one is greedy the longer cannot change the outcome), gold =
// every choice; exact_match = 1 if any accepted answer is the greedy continuation. Reads the original
// release (JSON array of {qText, answers}, the staged test.json) and HF exports ({question, answers}).

import { pyCompare } from '../pystr';
import { readItems } from './read';
import { Doc, mc, Task } from './types';

export function removePrefixes(answers: string[]): string[] {
  const sorted = [...answers].sort(pyCompare);
  const out = [sorted[0]];
  for (const a of sorted.slice(1)) if (!a.startsWith(out[out.length - 1])) out.push(a);
  return out;
}

export function loadWebqs(file: string): Task {
  const docs: Doc[] = readItems(file).map((it, index) => {
    const question = it.has('qText') ? it.str('qText') : it.str('question');
    const choices = removePrefixes(it.strs('answers', 1));
    return { ...mc(`Question: ${question}\nAnswer:`, choices, choices.map((_, i) => i)), index, source: it.where };
  });
  return { name: 'webqs', outputType: 'multiple_choice', metrics: ['exact_match'], docs, files: [file], split: 'test', notes: [] };
}
