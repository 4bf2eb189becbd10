// WinoGrande (winogrande_xl validation, lm-eval winogrande.yaml): partial evaluation — two contexts
// sentence[:i] + option (i = index of "_"), one continuation " " + sentence[i+1:].strip(); acc =
// the gold option's context gives the continuation the higher loglikelihood. Reads llm-foundry's
// {context_options, continuation, gold} (the staged form) and the original {sentence, option1,
// option2, answer} rows.

import { readItems } from './read';
import { Doc, mc, Task } from './types';
import { pyStrip } from '../pystr';

export function loadWinogrande(file: string): Task {
  const docs: Doc[] = readItems(file).map((it, index) => {
    let contexts: string[];
    let target: string;
    let gold: number;
    if (it.has('sentence')) {
      const s = it.str('sentence');
      const i = s.indexOf('_');
      if (i < 0) it.fail('"sentence" has no "_" blank');
      contexts = [s.slice(0, i) + it.str('option1'), s.slice(0, i) + it.str('option2')];
      target = pyStrip(s.slice(i + 1));
      const answer = it.str('answer');
      if (answer !== '1' && answer !== '2') it.fail(`"answer" is "${answer}", not "1" or "2" (the test split is unlabeled)`);
      gold = answer === '1' ? 0 : 1;
    } else {
      contexts = it.strs('context_options', 2);
      target = it.str('continuation');
      gold = it.index(it.int('gold'), contexts.length);
    }
    return { ...mc(contexts, contexts, gold, { continuation: target }), index, source: it.where };
  });
  return { name: 'winogrande', outputType: 'multiple_choice', metrics: ['acc'], docs, files: [file], split: 'validation (winogrande_xl)', notes: [] };
}
