// The bank eval job (`idp bank eval`, idp/bankEval): how an IDP prompt bank routes held-out text — per
// file the prompts its documents select, the routing accuracy against the expected prompt, and the NLL
// under IDP, under no prompt, under each prompt alone, under the best prompt per document (the oracle)
// and under prompts outside the bank (`also`) — engine/idp/eval-bank.ts.

import * as path from 'path';
import { IdpBank, SelectionScore } from '../idp/bank';
import { IdpLM } from '../idp/runner';
import type { SelectionRule } from '../idp/calibration';
import { BankEval, evalBank } from '../idp/eval-bank';
import { computePromptKVs } from '../idp/kv';
import { cachedPromptScorer } from '../idp/baselines';
import { PROMPT_INPUT, SoftPrompt } from '../train/methods/prompt';
import { adapterDir } from '../train/peft';
import { ParamChecker } from './check';
import type { JobHooks } from './hooks';
import { checkModelOptions, openModel, providerFor, RUN_KEYS, RunOptions } from './model';

export interface BankEvalOptions extends RunOptions {
  bank: string;
  /** Held-out text, one entry per kind (file or glob: plain text = one document, JSONL = one per "text"). */
  data: string[];
  /** Per data entry the prompt (0-based) its documents should select, or null for none. */
  expect?: Array<number | null>;
  /** Documents read per entry, tokens read per document. */
  maxDocs?: number;
  maxTokens?: number;
  /** Only the first n tokens of a document choose its prompt (default: all). */
  vote?: number;
  /** Override the bank's selection layer and score; the rule (default: the bank's calibrated one where it has one). */
  selectionLayer?: number;
  score?: SelectionScore;
  selection?: SelectionRule;
  /** Every document's figures too (files[].docs). */
  perDocument?: boolean;
  /** Prompts outside the bank (PEFT prompt-tuning adapters or prompt training runs), scored on the same tokens. */
  also?: string[];
}

export interface BankEvalProgress { entry: string; done: number; of: number }

export type BankEvalResult = BankEval;

const KEYS = [...RUN_KEYS, 'bank', 'data', 'expect', 'maxDocs', 'maxTokens', 'vote', 'selectionLayer', 'score', 'selection', 'perDocument', 'also'] as const;

export function checkBankEvalOptions(o: BankEvalOptions, absolutePaths = false): void {
  const c = ParamChecker.of('bank eval', o, KEYS, absolutePaths);
  checkModelOptions(c, true);
  c.path('bank', true);
  c.paths('data', true);
  c.array('expect', (x) => x === null || (typeof x === 'number' && Number.isInteger(x) && x >= 0), 'an array with, per data entry, a prompt index (0-based) or null');
  c.int('maxDocs', 1);
  c.int('maxTokens', 2);
  c.int('vote', 1);
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.oneOf('selection', ['calibrated', 'paper']);
  c.bool('perDocument');
  c.paths('also');
}

export async function run(o: BankEvalOptions, hooks: JobHooks<BankEvalProgress> = {}): Promise<BankEvalResult> {
  checkBankEvalOptions(o, hooks.absolutePaths);
  const { m, threads } = await openModel(o);
  const bank = IdpBank.load(o.bank, m, { onWarning: hooks.onWarning });
  if (o.score) bank.score = o.score;
  const idp = new IdpLM(m, bank, { threads, ep: await providerFor(o, hooks.onWarning), selectionLayer: o.selectionLayer, selection: o.selection });
  // prompts outside the bank (e.g. one trained on every kind of text), each as a cached prompt at 0 … n − 1
  const extra = await Promise.all((o.also ?? []).map(async (dir) => {
    const p = SoftPrompt.load(m, adapterDir(dir));
    const kv = (await computePromptKVs(m, [{ embeddings: p.params.get(PROMPT_INPUT)!.data, n: p.n, start: 0 }], { threads }))[0];
    return { name: path.basename(path.resolve(dir)), scorer: cachedPromptScorer(idp.lm, kv) };
  }));
  return evalBank({
    extra, idp, data: o.data, expect: o.expect, maxDocs: o.maxDocs, maxTokens: o.maxTokens, vote: o.vote, perDocument: o.perDocument,
    onProgress: hooks.onProgress,
  });
}
