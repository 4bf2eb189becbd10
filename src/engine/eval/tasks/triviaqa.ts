// TriviaQA (lm-eval triviaqa/default.yaml: rc.nocontext validation): prompt "Question: {question}?\nAnswer:",
// greedy generation until "\n", "." or ",", the answer's leading whitespace stripped (eval/metrics.ts), exact_match
// against every alias ignoring case and punctuation. Reads:
//   llm-foundry JSONL {"context": "Question: …?\nAnswer:", "answer", "aliases": [...]} (the staged 3000-question subsample)
//   HF export         {"question", "answer": {"aliases": [...], "value"}}
//   original release  {"Data": [{"Question", "Answer": {"Aliases": [...], "Value"}}]}

import { readItems } from './read';
import { Doc, Task } from './types';

export const TRIVIAQA_UNTIL = ['\n', '.', ','];

export function loadTriviaqa(file: string): Task {
  const items = readItems(file);
  const docs: Doc[] = items.map((it, index) => {
    let context: string;
    let targets: string[];
    if (it.has('context')) {
      context = it.str('context');
      targets = it.strs('aliases', 1);
    } else if (it.has('Question')) {
      context = `Question: ${it.str('Question')}?\nAnswer:`;
      targets = it.obj('Answer').strs('Aliases', 1);
    } else {
      context = `Question: ${it.str('question')}?\nAnswer:`;
      targets = it.obj('answer').strs('aliases', 1);
    }
    return { type: 'generate_until' as const, context, until: TRIVIAQA_UNTIL, targets, index, source: it.where };
  });
  const foundry = items[0].has('context');
  return {
    name: 'triviaqa', outputType: 'generate_until', metrics: ['exact_match'], docs, files: [file],
    split: foundry ? 'llm-foundry 3000-question subsample (source split undocumented)' : 'validation (rc.nocontext)',
    notes: foundry ? ['llm-foundry subsample of 3000 questions, answers clipped to ≤ 10 tokens; lm-eval uses all 17944 rc.nocontext validation questions'] : [],
  };
}
