// ARC-Easy / ARC-Challenge (lm-eval arc_easy.yaml, test split): "Question: {question}\nAnswer:", the
// choices' texts, gold = the index of answerKey among the labels. Reads:
//   llm-foundry JSONL  {"query": "Question: …", "choices": [...], "gold": i}  (the staged form)
//   HF export          {"question", "choices": {"text": [...], "label": [...]}, "answerKey"}
//   AI2 original JSONL {"question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}

import type { Item } from './read';
import { readItems } from './read';
import { Doc, mc, Task } from './types';

function arcDoc(it: Item): { question: string; choices: string[]; gold: number } {
  if (it.has('query')) {
    const query = it.str('query');
    const choices = it.strs('choices', 2);
    return { question: query, choices, gold: it.index(it.int('gold'), choices.length) };
  }
  let texts: string[];
  let labels: string[];
  let stem: string;
  if (typeof it.value.question === 'object' && it.value.question !== null) {
    const q = it.obj('question');
    stem = q.str('stem');
    const list = q.value.choices;
    if (!Array.isArray(list) || list.length < 2) q.fail('field "choices" is not a list of at least 2 choices');
    const cs = (list as unknown[]).map((c, i) => {
      if (typeof c !== 'object' || c === null) q.fail(`choice ${i} is not an object`);
      const o = c as Record<string, unknown>;
      if (typeof o.text !== 'string' || typeof o.label !== 'string') q.fail(`choice ${i} needs string "text" and "label"`);
      return o as { text: string; label: string };
    });
    texts = cs.map((c) => c.text);
    labels = cs.map((c) => c.label);
  } else {
    stem = it.str('question');
    const c = it.obj('choices');
    texts = c.strs('text', 2);
    labels = c.strs('label', 2);
    if (labels.length !== texts.length) c.fail(`${texts.length} texts but ${labels.length} labels`);
  }
  const key = it.str('answerKey');
  const gold = labels.indexOf(key);
  if (gold < 0) it.fail(`answerKey "${key}" is not one of the labels ${JSON.stringify(labels)}`);
  return { question: `Question: ${stem}`, choices: texts, gold };
}

export function loadArc(name: 'arc_easy' | 'arc_challenge', file: string): Task {
  const items = readItems(file);
  const docs: Doc[] = items.map((it, index) => {
    const d = arcDoc(it);
    return { ...mc(`${d.question}\nAnswer:`, d.choices, d.gold), index, source: it.where };
  });
  const foundry = items[0].has('query');
  return {
    name, outputType: 'multiple_choice', metrics: ['acc', 'acc_norm'], docs, files: [file], split: 'test',
    notes: foundry ? ['llm-foundry conversion: every item has 4 choices; AI2\'s files have a few 3- and 5-choice questions, so parity with lm-eval\'s HF data is unverified'] : [],
  };
}
