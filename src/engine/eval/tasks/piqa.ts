// PIQA (lm-eval piqa.yaml, validation split): "Question: {goal}\nAnswer:", choices [sol1, sol2],
// gold = label. Reads the authors' release — valid.jsonl {goal, sol1, sol2} with labels one per line in
// valid-labels.lst beside it (or a labels file given) — and HF exports whose rows carry "label".

import * as fs from 'fs';
import { formatError } from '../../errors';
import { readItems, readLines } from './read';
import { Doc, mc, Task } from './types';

/** The labels file of the authors' layout: X.jsonl → X-labels.lst. */
export const piqaLabelsFile = (file: string) => file.replace(/\.jsonl?(\.gz)?$/i, '-labels.lst');

export function loadPiqa(file: string, labelsFile?: string): Task {
  const items = readItems(file);
  const files = [file];
  let labels: number[] | undefined;
  if (!items[0].has('label')) {
    const lf = labelsFile ?? piqaLabelsFile(file);
    if (!fs.existsSync(lf)) throw formatError(file, `items have no "label" and there is no labels file ${lf}`);
    labels = readLines(lf).map((l, i) => {
      if (!/^[01]$/.test(l.trim())) throw formatError(lf, `line ${i + 1}: label "${l}" is not 0 or 1`);
      return Number(l.trim());
    });
    if (labels.length !== items.length) throw formatError(lf, `${labels.length} labels for ${items.length} questions in ${file}`);
    files.push(lf);
  }
  const docs: Doc[] = items.map((it, index) => {
    const gold = it.index(labels ? labels[index] : it.int('label'), 2, 'label');
    return { ...mc(`Question: ${it.str('goal')}\nAnswer:`, [it.str('sol1'), it.str('sol2')], gold), index, source: it.where };
  });
  return { name: 'piqa', outputType: 'multiple_choice', metrics: ['acc', 'acc_norm'], docs, files, split: 'validation', notes: [] };
}
