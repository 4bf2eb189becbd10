// Tasks built from any held-out text, in the nine tasks' formats, for models too small to score above
// chance on those (the embedded default model, stories260K):
//
//   text_lambada        LAMBADA-style: the context is the document up to the last word of a sentence
//                       (≥ minContextWords words, whole sentences back to ≤ maxContextWords), the target
//                       " " + that word (letters only; its trailing punctuation dropped, as LAMBADA
//                       passages end at the word); loglikelihood → acc, perplexity
//   text_next_sentence  HellaSwag-style multiple choice: the previous contextSentences sentences, then
//                       the true next sentence among `choices` − 1 distractor sentences drawn from the
//                       whole corpus (seeded; never equal to the true one); acc, acc_norm
//   text_next_line      the same for lines (code, poetry): the previous contextLines lines (ending in
//                       "\n"), the true next non-blank line among distractor lines; acc, acc_norm
//   text_ppl            loglikelihood_rolling of each document; word/byte perplexity, bits per byte
//
// Documents: each file (plain text) or JSONL "text" row, split at TinyStories' "<|endoftext|>".
// Every random choice is keyed by (seed, task, item), so a task is the same for the same text and seed.

import { inputError } from '../errors';
import { Rng } from '../rng';
import { readCorpus } from './corpus';
import { pyRstrip } from './pystr';
import { Doc, mc, MetricName, OutputType, Task } from './tasks/types';

export const HELDOUT_TASKS = ['text_lambada', 'text_next_sentence', 'text_next_line', 'text_ppl'] as const;
export type HeldoutTask = (typeof HELDOUT_TASKS)[number];

export interface HeldoutOptions {
  seed?: number;
  /** Choices per multiple-choice item, the true one included (default 4). */
  choices?: number;
  contextSentences?: number;   // default 4
  contextLines?: number;       // default 8
  minContextWords?: number;    // default 20
  maxContextWords?: number;    // default 200
}

export const isHeldoutTask = (name: string): name is HeldoutTask => (HELDOUT_TASKS as readonly string[]).includes(name);

/** Documents of held-out files (paths or globs). */
export function heldoutDocuments(patterns: string[]): { docs: string[]; files: string[] } {
  if (!patterns.length) throw inputError('held-out tasks need text: give --heldout FILE (plain text, JSONL with "text", or a quoted glob)');
  const { docs, files } = readCorpus(patterns);
  const out = docs.flatMap((d) => d.split('<|endoftext|>')).map((d) => d.trim()).filter(Boolean);
  if (!out.length) throw inputError(`the held-out text is empty (${files.join(', ')})`);
  return { docs: out, files };
}

export interface Span { start: number; end: number }

/** Sentence spans: text up to [.!?] (plus closing quotes/brackets) followed by whitespace, and any tail. */
export function sentenceSpans(doc: string): Span[] {
  const spans: Span[] = [];
  const re = /[.!?]+["'”’)\]]*(?=\s|$)/g;
  let start = 0;
  const push = (end: number) => {
    while (start < end && /\s/.test(doc[start])) start++;
    if (end > start) spans.push({ start, end });
  };
  for (let m = re.exec(doc); m; m = re.exec(doc)) {
    push(m.index + m[0].length);
    start = m.index + m[0].length;
  }
  push(pyRstrip(doc).length);
  return spans;
}

const wordCount = (s: string) => s.split(/\s+/).filter(Boolean).length;

function lambadaDocs(docs: string[], o: Required<HeldoutOptions>): Doc[] {
  const out: Doc[] = [];
  docs.forEach((doc, d) => {
    const spans = sentenceSpans(doc);
    spans.forEach((s, k) => {
      const m = /(?<=\s)(\p{L}+)[^\p{L}\p{N}\s]*$/u.exec(doc.slice(s.start, s.end));
      if (!m || doc[s.start + m.index - 1] !== ' ') return;
      const wordAt = s.start + m.index;
      let from = k;
      while (from > 0 && wordCount(doc.slice(spans[from - 1].start, wordAt)) <= o.maxContextWords) from--;
      const context = pyRstrip(doc.slice(spans[from].start, wordAt));
      const n = wordCount(context);
      if (n < o.minContextWords || n > o.maxContextWords) return;
      out.push({ type: 'loglikelihood', context, continuation: ` ${m[1]}`, index: out.length, source: `doc ${d} sentence ${k}` });
    });
  });
  return out;
}

/** True option at a seeded position among distractors drawn from `pool` (distinct, never equal to it). */
function withDistractors(truth: string, pool: string[], n: number, rng: Rng): { choices: string[]; gold: number } | undefined {
  const key = (s: string) => s.trim();
  const used = new Set([key(truth)]);
  const picked: string[] = [];
  for (let tries = 0; picked.length < n - 1 && tries < 50 * n; tries++) {
    const c = pool[rng.int(pool.length)];
    if (used.has(key(c))) continue;
    used.add(key(c));
    picked.push(c);
  }
  if (picked.length < n - 1) return undefined;
  const gold = rng.int(n);
  picked.splice(gold, 0, truth);
  return { choices: picked, gold };
}

function distinctCount(xs: string[]): number {
  return new Set(xs.map((s) => s.trim())).size;
}

function nextSentenceDocs(docs: string[], o: Required<HeldoutOptions>): Doc[] {
  const perDoc = docs.map((doc) => sentenceSpans(doc).map((s) => ({ ...s, text: doc.slice(s.start, s.end) })));
  const pool = perDoc.flat().map((s) => s.text);
  if (distinctCount(pool) < o.choices) throw inputError(`the held-out text has ${distinctCount(pool)} distinct sentences: too few for ${o.choices} choices`);
  const out: Doc[] = [];
  perDoc.forEach((sents, d) => {
    for (let k = 1; k < sents.length; k++) {
      const first = sents[Math.max(0, k - o.contextSentences)];
      const context = docs[d].slice(first.start, sents[k - 1].end);
      const pick = withDistractors(sents[k].text, pool, o.choices, Rng.for(o.seed, 'text_next_sentence', d, k));
      if (!pick) continue;
      out.push({ ...mc(context, pick.choices, pick.gold), index: out.length, source: `doc ${d} sentence ${k}` });
    }
  });
  return out;
}

function nextLineDocs(docs: string[], o: Required<HeldoutOptions>): Doc[] {
  const perDoc = docs.map((doc) => doc.split('\n').map((l) => pyRstrip(l)));
  const pool = perDoc.flat().filter((l) => l.trim());
  if (distinctCount(pool) < o.choices) throw inputError(`the held-out text has ${distinctCount(pool)} distinct lines: too few for ${o.choices} choices`);
  const out: Doc[] = [];
  perDoc.forEach((lines, d) => {
    for (let k = 1; k < lines.length; k++) {
      if (!lines[k].trim()) continue;
      const ctxLines = lines.slice(Math.max(0, k - o.contextLines), k);
      if (!ctxLines.some((l) => l.trim())) continue;
      const pick = withDistractors(lines[k], pool, o.choices, Rng.for(o.seed, 'text_next_line', d, k));
      if (!pick) continue;
      out.push({ ...mc(`${ctxLines.join('\n')}\n`, pick.choices, pick.gold, { delimiter: '' }), index: out.length, source: `doc ${d} line ${k + 1}` });
    }
  });
  return out;
}

const SHAPE: Record<HeldoutTask, { outputType: OutputType; metrics: MetricName[] }> = {
  text_lambada: { outputType: 'loglikelihood', metrics: ['perplexity', 'acc'] },
  text_next_sentence: { outputType: 'multiple_choice', metrics: ['acc', 'acc_norm'] },
  text_next_line: { outputType: 'multiple_choice', metrics: ['acc', 'acc_norm'] },
  text_ppl: { outputType: 'loglikelihood_rolling', metrics: ['word_perplexity', 'byte_perplexity', 'bits_per_byte'] },
};

/** Build one held-out task from documents. */
export function buildHeldoutTask(name: HeldoutTask, docs: string[], files: string[], opts: HeldoutOptions = {}): Task {
  const o: Required<HeldoutOptions> = {
    seed: 1234, choices: 4, contextSentences: 4, contextLines: 8, minContextWords: 20, maxContextWords: 200, ...opts,
  };
  if (!(Number.isInteger(o.choices) && o.choices >= 2)) throw inputError(`choices must be an integer ≥ 2, got ${o.choices}`);
  let items: Doc[];
  switch (name) {
    case 'text_lambada': items = lambadaDocs(docs, o); break;
    case 'text_next_sentence': items = nextSentenceDocs(docs, o); break;
    case 'text_next_line': items = nextLineDocs(docs, o); break;
    case 'text_ppl': items = docs.map((text, index) => ({ type: 'loglikelihood_rolling' as const, text, index, source: `doc ${index}` })); break;
  }
  if (!items.length) {
    throw inputError(`${name}: the held-out text (${files.join(', ')}) yields no items` +
      (name === 'text_lambada' ? ` (no sentence ends in a word after ≥ ${o.minContextWords} words of context)` : ''));
  }
  return {
    name, ...SHAPE[name], docs: items, files, split: 'held-out text',
    notes: [`built from held-out text (seed ${o.seed}); not an lm-eval task`],
  };
}
