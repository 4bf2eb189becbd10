// `idp bank eval`: where a bank sends each kind of text and what that buys. Each data entry (a file, or a
// quoted glob whose files count together) is a set of documents — a plain-text file is one document, a
// JSONL file one per "text" — encoded as the training stream holds them (encodeDocument: BOS first) and
// cut to their first maxTokens tokens. Every document is scored under
//   idp        the bank through IdpLM.score: the selection exactly as the runner makes it (its layer and
//              score, whatever else the runner's selection applies), every token voting as a prompt's
//              tokens do at generation (or only the first `vote`);
//   none       the model alone;
//   prompt i   each bank prompt alone: its cached K/V in the bank's layout, text from N (cachedPromptScorer);
//   oracle     per document, the prompt alone with the lowest NLL (what a perfect router would get);
// all over the same tokens (every next-token prediction after a document's first token), so the columns
// compare directly. NLL is nats per token: per entry over its documents' tokens, overall over all entries'
// tokens (token-weighted). With expectations (entry k belongs to prompt I_k), routing accuracy is the
// share of documents IDP sent to the expected prompt, per entry and over all documents with an expectation.

import { inputError } from '../errors';
import { windowNll, LogitsScorer } from '../eval/perplexity';
import { documentIds } from '../train/data';
import type { SelectionScore } from './bank';
import type { SelectionRule } from './calibration';
import type { IdpLM } from './runner';
import { cachedPromptScorer } from './baselines';

export interface BankEvalJob {
  /** The bank's runner: its selection (bank settings and any overrides given to it) is what is evaluated. */
  idp: IdpLM;
  /** One row per entry: a file, or a quoted glob whose files' documents form one row. */
  data: string[];
  /** Instead of reading `data`: one row per set of documents already encoded (token ids, BOS first), named. */
  sets?: Array<{ name: string; documents: number[][] }>;
  /** Other methods scored on the same tokens (e.g. one prompt trained on every kind of text): NllColumns.extra, in order. */
  extra?: Array<{ name: string; scorer: LogitsScorer }>;
  /** Per entry, the prompt (0-based) its documents belong to, or null; absent: no routing accuracy. */
  expect?: Array<number | null>;
  /** Per entry, only the first maxDocs documents. */
  maxDocs?: number;
  /** Per document, only the first maxTokens tokens (BOS included); default: the context left after the bank's N positions. */
  maxTokens?: number;
  /** Only the first `vote` tokens of a document choose its prompt (default: all of them). */
  vote?: number;
  /** Keep every document's figures in the result (FileEval.docs). */
  perDocument?: boolean;
  /** Relative paths and globs are resolved here (default: the process's folder). */
  cwd?: string;
  onProgress?: (p: { entry: string; done: number; of: number }) => void;
}

/** Mean next-token NLL (nats per token) under each method, over the same tokens. */
export interface NllColumns {
  idp: number;
  none: number;
  /** Each bank prompt alone, in bank order. */
  prompts: number[];
  /** Per document the best prompt alone. */
  oracle: number;
  /** The job's `extra` methods, in order (absent without them). */
  extra?: number[];
}

export interface DocumentEval {
  /** Index among the entry's documents (in file order). */
  index: number;
  /** Tokens scored (predicted): the document's tokens after truncation, minus the first. */
  tokens: number;
  selected: number;
  /** The prompt alone with the lowest NLL. */
  best: number;
  nll: NllColumns;
}

export interface FileEval {
  /** The entry as given (path or glob). */
  file: string;
  /** Documents scored (those of at least two tokens). */
  documents: number;
  tokens: number;
  /** Documents IDP sent to each prompt. */
  selected: number[];
  expected: number | null;
  routingAccuracy: number | null;
  nll: NllColumns;
  /** Documents left out because they encode to fewer than two tokens (nothing to predict); only when > 0. */
  skipped?: number;
  docs?: DocumentEval[];
}

export interface SelectionInfo {
  layer: number;
  score: SelectionScore;
  /** 'calibrated': the bank's fitted rule over every head's attention (calibration.ts); 'paper': argmax of the head-mean score. */
  rule: SelectionRule;
  /** 'all': every token of the document votes; n: its first n tokens. */
  vote: 'all' | number;
}

export interface BankEval {
  prompts: Array<{ n: number; start: number; source?: string }>;
  selection: SelectionInfo;
  /** Tokens per document at most (after BOS). */
  maxTokens: number;
  files: FileEval[];
  documents: number;
  tokens: number;
  routingAccuracy: number | null;
  nll: NllColumns;
  /** Names of the job's `extra` methods (NllColumns.extra), when given. */
  extra?: string[];
}

/** Logits held at once per scoring call (floats): rows are batched up to this many B·T·V. */
const LOGITS_BUDGET = 1 << 24;
const MAX_BATCH = 16;

/** Summed NLL per method, turned into means at the end (token-weighted). */
class Sums {
  tokens = 0;
  idp = 0;
  none = 0;
  oracle = 0;
  readonly prompts: number[];
  readonly extra: number[];
  constructor(m: number, extra = 0) {
    this.prompts = new Array(m).fill(0);
    this.extra = new Array(extra).fill(0);
  }
  add(o: { tokens: number; idp: number; none: number; oracle: number; prompts: number[]; extra?: number[] }): void {
    this.tokens += o.tokens;
    this.idp += o.idp;
    this.none += o.none;
    this.oracle += o.oracle;
    o.prompts.forEach((v, i) => { this.prompts[i] += v; });
    o.extra?.forEach((v, i) => { this.extra[i] += v; });
  }
  means(): NllColumns {
    const t = this.tokens;
    return {
      idp: this.idp / t, none: this.none / t, prompts: this.prompts.map((v) => v / t), oracle: this.oracle / t,
      ...(this.extra.length ? { extra: this.extra.map((v) => v / t) } : {}),
    };
  }
}

function argmin(a: number[]): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] < a[best]) best = i;
  return best;
}

export async function evalBank(job: BankEvalJob): Promise<BankEval> {
  const { idp } = job;
  const m = idp.model;
  const bank = idp.bank;
  const tok = m.tokenizer;
  if (!tok) throw inputError('the model has no tokenizer: give --tokenizer to read text', m.source);
  const rows = job.sets?.length ?? job.data.length;
  if (rows === 0) throw inputError('no data: give at least one file (--data FILE)');
  if (job.expect && job.expect.length !== rows) {
    throw inputError(`--expect lists ${job.expect.length} prompt(s) for ${rows} data file(s): give one per file, in order`);
  }
  job.expect?.forEach((e) => {
    if (e !== null && !(Number.isInteger(e) && e >= 0 && e < bank.m)) throw inputError(`--expect: prompt ${e} is not in the bank (prompts 0…${bank.m - 1})`);
  });
  const maxTokens = job.maxTokens ?? idp.maxInput;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 2)) throw inputError(`--max-tokens must be an integer ≥ 2, got ${maxTokens}`);
  if (maxTokens > idp.maxInput) throw inputError(`--max-tokens ${maxTokens} does not fit after the bank's ${bank.positions} prompt positions (${idp.maxInput} left of the context of ${m.config.maxPositions})`);
  if (job.vote !== undefined && !(Number.isInteger(job.vote) && job.vote >= 1)) throw inputError(`--vote must be an integer ≥ 1, got ${job.vote}`);
  if (job.maxDocs !== undefined && !(Number.isInteger(job.maxDocs) && job.maxDocs >= 1)) throw inputError(`--max-docs must be an integer ≥ 1, got ${job.maxDocs}`);

  // every entry is read and encoded before any scoring, so a bad file fails at once
  const entries = job.sets ? job.sets.map((set) => {
    const all = set.documents.slice(0, job.maxDocs).map((d) => d.slice(0, maxTokens));
    const docs = all.map((ids, index) => ({ ids, index })).filter((d) => d.ids.length >= 2);
    if (docs.length === 0) throw inputError(`${set.name}: no document of at least two tokens to score`);
    return { entry: set.name, docs, skipped: all.length - docs.length };
  }) : job.data.map((entry) => {
    const { ids, index, files, skipped } = documentIds(entry, tok, m.config, { maxDocs: job.maxDocs, maxTokens, cwd: job.cwd });
    if (ids.length === 0) throw inputError('no document of at least two tokens to score', files[0]);
    return { entry, docs: ids.map((d, k) => ({ ids: d, index: index[k] })), skipped };
  });

  const V = m.config.vocabSize;
  const kv = await bank.computeKv(m, { ...idp.options, graph: idp.options.graph });   // the K/V the runner uses
  const singles: LogitsScorer[] = kv.map((p) => cachedPromptScorer(idp.lm, p));
  const total = new Sums(bank.m, job.extra?.length ?? 0);
  let routed = 0;
  let routedRight = 0;
  const files: FileEval[] = [];
  for (const [k, e] of entries.entries()) {
    const expected = job.expect?.[k] ?? null;
    const sums = new Sums(bank.m, job.extra?.length ?? 0);
    const selected = new Array(bank.m).fill(0);
    const docs: DocumentEval[] = new Array(e.docs.length);
    // longest first, so a batch pads little; the budget bounds the logits held at once
    const order = e.docs.map((_, i) => i).sort((a, b) => e.docs[b].ids.length - e.docs[a].ids.length);
    let done = 0;
    for (let at = 0; at < order.length;) {
      const T = e.docs[order[at]].ids.length;
      const B = Math.max(1, Math.min(MAX_BATCH, Math.floor(LOGITS_BUDGET / (T * V))));
      const idx = order.slice(at, at + B);
      at += idx.length;
      const rows = idx.map((i) => e.docs[i].ids);
      const sum = (logits: Float32Array[]) => logits.map((l, b) => windowNll(l, rows[b], V) * (rows[b].length - 1));
      const r = await idp.score(rows, job.vote === undefined ? undefined : rows.map(() => job.vote!));
      const underIdp = sum(r.logits);
      const none = sum(await idp.lm.logits(rows));
      const alone: number[][] = [];
      for (const s of singles) alone.push(sum(await s.logits(rows)));
      const others: number[][] = [];
      for (const x of job.extra ?? []) others.push(sum(await x.scorer.logits(rows)));
      idx.forEach((i, b) => {
        const prompts = alone.map((a) => a[b]);
        const best = argmin(prompts);
        const tokens = rows[b].length - 1;
        const d = { tokens, idp: underIdp[b], none: none[b], prompts, oracle: prompts[best], ...(others.length ? { extra: others.map((o) => o[b]) } : {}) };
        sums.add(d);
        selected[r.selected[b]]++;
        docs[i] = {
          index: e.docs[i].index, tokens, selected: r.selected[b], best,
          nll: { idp: d.idp / tokens, none: d.none / tokens, prompts: prompts.map((v) => v / tokens), oracle: d.oracle / tokens },
        };
      });
      done += idx.length;
      job.onProgress?.({ entry: e.entry, done, of: order.length });
    }
    total.add(sums);
    let routingAccuracy: number | null = null;
    if (expected !== null) {
      routingAccuracy = selected[expected] / e.docs.length;
      routed += e.docs.length;
      routedRight += selected[expected];
    }
    files.push({
      file: e.entry, documents: e.docs.length, tokens: sums.tokens, selected, expected, routingAccuracy, nll: sums.means(),
      ...(e.skipped ? { skipped: e.skipped } : {}), ...(job.perDocument ? { docs } : {}),
    });
  }
  return {
    prompts: bank.info.map((p) => ({ n: p.n, start: p.start, ...(p.source !== undefined ? { source: p.source } : {}) })),
    selection: { ...idp.selectionSettings, vote: job.vote ?? 'all' },
    maxTokens,
    files,
    documents: files.reduce((a, f) => a + f.documents, 0),
    tokens: total.tokens,
    routingAccuracy: routed ? routedRight / routed : null,
    nll: total.means(),
    ...(job.extra?.length ? { extra: job.extra.map((x) => x.name) } : {}),
  };
}

/** The evaluation as a text table: one row per entry and the overall row (NLL in nats per token). */
export function bankEvalTable(r: BankEval): string {
  const m = r.prompts.length;
  const head = ['data', 'docs', 'tokens', 'selected', 'routing', 'IDP', 'none', ...r.prompts.map((p, i) => `prompt ${i} (${p.n})`), 'oracle', ...(r.extra ?? [])];
  const pct = (x: number | null, e: number | null) => (x === null ? '' : `${(100 * x).toFixed(1)} % →${e ?? ''}`);
  const nll = (n: NllColumns) => [n.idp, n.none, ...n.prompts, n.oracle, ...(n.extra ?? [])].map((v) => v.toFixed(4));
  const lines = r.files.map((f) => [f.file, String(f.documents), String(f.tokens), f.selected.join('/'), pct(f.routingAccuracy, f.expected), ...nll(f.nll)]);
  lines.push(['all', String(r.documents), String(r.tokens), r.files.reduce((a, f) => a.map((v, i) => v + f.selected[i]), new Array(m).fill(0)).join('/'),
    r.routingAccuracy === null ? '' : `${(100 * r.routingAccuracy).toFixed(1)} %`, ...nll(r.nll)]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells: string[]) => cells.map((v, i) => (i === 0 ? v.padEnd(w[i]) : v.padStart(w[i]))).join('  ');
  const s = r.selection;
  const vote = s.vote === 'all' ? 'every token votes' : `the first ${s.vote} tokens vote`;
  return [
    `selection at layer ${s.layer} by ${s.rule === 'calibrated' ? 'the bank\'s calibrated rule over every head\'s' : 'the paper\'s rule, head-mean'} attention ${s.score === 'mass' ? 'mass' : 'mean per prompt token'} (${vote}); documents cut to ${r.maxTokens} tokens`,
    line(head), ...lines.map(line),
    'mean next-token NLL in nats per token, the same tokens in every column; selected: documents per prompt; routing: share sent to the expected prompt',
  ].join('\n');
}
