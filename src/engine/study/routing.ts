// The study's routing analysis (prompt:<n>@<data> banks): held-out documents of each prompt's data — none
// trained on, none used to calibrate the selection (run.ts splits them) — go through the bank as IDP runs it, and
// `idp bank eval`'s columns are kept: documents per prompt, the share sent to their own prompt, and the
// mean next-token NLL under IDP, no prompt, each prompt alone and the per-document best prompt.

import type { LoadedModel } from '../models/config';
import type { SessionOptions } from '../runtime/session';
import type { IdpBank } from '../idp/bank';
import type { CalibrateResult } from '../idp/calibrate-bank';
import { IdpLM } from '../idp/runner';
import { evalBank } from '../idp/eval-bank';
import { cachedPromptScorer } from '../idp/baselines';
import { computePromptKVs } from '../idp/kv';
import type { MethodSpec } from './options';
import type { RoutingAnalysis } from '../../protocol/study-schema';

export interface RoutingJob {
  model: LoadedModel;
  bank: IdpBank;
  /** The bank's prompt rows (methods of kind 'prompt', bank order) and each one's test documents (token ids). */
  prompts: MethodSpec[];
  documents: number[][][];
  calibration?: CalibrateResult;
  calibrationSkipped?: string;
  /** Prompts outside the bank scored on the same tokens (union:<n> rows), each at positions 0 … n − 1. */
  extra?: Array<{ row: string; embeddings: Float32Array; n: number }>;
  session: SessionOptions;
  /** Documents per prompt at most (default 40) and tokens per document (default 128). */
  maxDocs?: number;
  maxTokens?: number;
}

/** The routing analysis, or undefined when some prompt has no data of its own (nothing says where its text should go). */
export async function routingAnalysis(job: RoutingJob): Promise<RoutingAnalysis | undefined> {
  if (job.documents.length !== job.bank.m || job.documents.some((d) => !d.length)) return undefined;
  const idp = new IdpLM(job.model, job.bank, job.session);
  const maxTokens = Math.min(job.maxTokens ?? 128, idp.maxInput);
  try {
    const extra = await Promise.all((job.extra ?? []).map(async (x) => ({
      name: x.row, scorer: cachedPromptScorer(idp.lm, (await computePromptKVs(job.model, [{ embeddings: x.embeddings, n: x.n, start: 0 }], job.session))[0]),
    })));
    const r = await evalBank({ extra,
      idp, data: [], maxDocs: job.maxDocs ?? 40, maxTokens,
      sets: job.documents.map((documents, i) => ({ name: job.prompts[i].id, documents })),
      expect: job.documents.map((_, i) => i),
    });
    return {
      selection: { layer: r.selection.layer, score: r.selection.score, rule: r.selection.rule },
      ...(job.calibration ? { calibration: job.calibration.layers.map((l) => ({ layer: l.layer, cvAccuracy: l.cvAccuracy, paperAccuracy: l.paperAccuracy })) } : {}),
      ...(job.calibrationSkipped ? { calibrationSkipped: job.calibrationSkipped } : {}),
      maxTokens,
      prompts: job.prompts.map((p) => ({ row: p.id, n: p.size!, data: p.data ?? '' })),
      sets: r.files.map((f, i) => ({ prompt: i, documents: f.documents, tokens: f.tokens, selected: f.selected, routingAccuracy: f.routingAccuracy ?? 0, nll: f.nll })),
      routingAccuracy: r.routingAccuracy ?? 0,
      nll: r.nll,
      ...(r.extra ? { extra: r.extra } : {}),
    };
  } finally {
    await idp.release();
  }
}
