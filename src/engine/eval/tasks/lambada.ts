// LAMBADA, OpenAI's detokenized test set (lm-eval lambada_openai.yaml): context = every word but the
// last (split on single spaces), continuation = " " + the last word; loglikelihood → acc (the word is
// the greedy continuation) and perplexity. Reads llm-foundry's {context, continuation} (the staged
// form: original text = context + " " + continuation) and the original {text} JSONL.

import { readItems } from './read';
import { Doc, Task } from './types';

export function loadLambada(file: string): Task {
  const docs: Doc[] = readItems(file).map((it, index) => {
    let context: string;
    let word: string;
    if (it.has('text')) {
      const words = it.str('text').split(' ');
      if (words.length < 2) it.fail('"text" has no space: no last word to predict');
      word = words[words.length - 1];
      context = words.slice(0, -1).join(' ');
    } else {
      context = it.str('context');
      word = it.str('continuation');
    }
    if (!word) it.fail('the word to predict is empty');
    return { type: 'loglikelihood' as const, context, continuation: ` ${word}`, index, source: it.where };
  });
  return { name: 'lambada_openai', outputType: 'loglikelihood', metrics: ['perplexity', 'acc'], docs, files: [file], split: 'test', notes: [] };
}
