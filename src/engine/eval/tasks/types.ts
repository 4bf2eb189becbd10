// What a benchmark task is once loaded: documents, each knowing the lm-eval requests it makes and
// what its metrics compare them against.

/** multiple_choice: one context and one continuation per choice, or (multiple_input, WinoGrande)
 *  one context per choice and a shared continuation. `choices` is lm-eval's doc_to_choice (its
 *  lengths normalise acc_norm); `gold` is an index or, for WebQS, every accepted index. */
export interface McDoc {
  type: 'multiple_choice';
  contexts: string[];
  continuations: string[];
  choices: string[];
  gold: number | number[];
}

/** loglikelihood (LAMBADA): acc = the continuation is the greedy one; perplexity over documents. */
export interface LoglikelihoodDoc { type: 'loglikelihood'; context: string; continuation: string }

/** generate_until (TriviaQA): greedy answer, cut at `until`, compared with every target. */
export interface GenerateDoc { type: 'generate_until'; context: string; until: string[]; targets: string[] }

/** loglikelihood_rolling (held-out text perplexity): word and byte counts weight the perplexities. */
export interface RollingDoc { type: 'loglikelihood_rolling'; text: string }

export type DocBody = McDoc | LoglikelihoodDoc | GenerateDoc | RollingDoc;
export type Doc = DocBody & {
  /** Position in the task's full document list (stable under --limit). */
  index: number;
  /** Where it came from, e.g. "arc_easy.jsonl:12". */
  source?: string;
};

export type OutputType = DocBody['type'];
export type MetricName = 'acc' | 'acc_norm' | 'exact_match' | 'perplexity' | 'word_perplexity' | 'byte_perplexity' | 'bits_per_byte';

export interface Task {
  name: string;
  outputType: OutputType;
  /** Metrics reported, in lm-eval's order for the task. */
  metrics: MetricName[];
  docs: Doc[];
  /** Files read. */
  files: string[];
  /** Which split / subset the documents are (for the report). */
  split: string;
  /** Known differences from lm-eval's own data for this task. */
  notes: string[];
}

export function mc(context: string | string[], choices: string[], gold: number | number[], opts: { continuation?: string; delimiter?: string } = {}): McDoc {
  const delim = opts.delimiter ?? ' ';
  if (Array.isArray(context)) {
    return { type: 'multiple_choice', contexts: context, continuations: [delim + (opts.continuation ?? '')], choices, gold };
  }
  return { type: 'multiple_choice', contexts: [context], continuations: choices.map((c) => delim + c), choices, gold };
}
