// HellaSwag (lm-eval hellaswag.yaml, validation split): query = preprocess(activity_label + ": " +
// ctx_a + " " + ctx_b.capitalize()), choices = preprocess(each ending), gold = label; acc, acc_norm.
// preprocess: strip, " [title]" → ". ", drop every "[…]", "  " → " ". Reads:
//   original JSONL    {activity_label, ctx_a, ctx_b, endings, label}  (exactly lm-eval's query)
//   llm-foundry JSONL {query, choices, gold}                           (used as given)
//   the staged text   6 lines per item: context, gold, 4 endings (.txt or .txt.gz) — its context is
//                     pp(activity_label) + ": " + pp(ctx) without capitalising ctx_b (see SOURCES.md)

import { formatError } from '../../errors';
import { pyCapitalize, pyStrip } from '../pystr';
import { readItems, readLines } from './read';
import { Doc, mc, Task } from './types';

export function hellaswagPreprocess(text: string): string {
  return pyStrip(text).split(' [title]').join('. ').replace(/\[[^\n]*?\]/g, '').split('  ').join(' ');
}

function fromText(file: string): Doc[] {
  const lines = readLines(file);
  if (lines.length % 6 !== 0) throw formatError(file, `${lines.length} lines is not a whole number of 6-line items (context, gold, 4 endings)`);
  const docs: Doc[] = [];
  for (let k = 0; k < lines.length; k += 6) {
    const g = lines[k + 1].trim();
    if (!/^[0-3]$/.test(g)) throw formatError(file, `line ${k + 2}: gold "${g}" is not 0–3`);
    docs.push({ ...mc(lines[k], lines.slice(k + 2, k + 6), Number(g)), index: k / 6, source: `line ${k + 1}` });
  }
  return docs;
}

export function loadHellaswag(file: string): Task {
  const text = /\.txt(\.gz)?$/i.test(file);
  let docs: Doc[];
  let original = false;
  if (text) docs = fromText(file);
  else {
    docs = readItems(file).map((it, index) => {
      if (it.has('query')) {
        const choices = it.strs('choices', 2);
        return { ...mc(it.str('query'), choices, it.index(it.int('gold'), choices.length)), index, source: it.where };
      }
      original = true;
      const query = hellaswagPreprocess(`${it.str('activity_label')}: ${it.str('ctx_a')} ${pyCapitalize(it.str('ctx_b'))}`);
      const choices = it.strs('endings', 2).map(hellaswagPreprocess);
      return { ...mc(query, choices, it.index(it.int('label'), choices.length, 'label')), index, source: it.where };
    });
  }
  return {
    name: 'hellaswag', outputType: 'multiple_choice', metrics: ['acc', 'acc_norm'], docs, files: [file], split: 'validation',
    notes: original ? [] : [text
      ? 'staged text form: contexts do not capitalise ctx_b and clean brackets slightly differently from lm-eval\'s query, so scores can differ slightly'
      : 'query/choices/gold form used as given (preprocessing as done by its producer)'],
  };
}
