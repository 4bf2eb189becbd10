// The perplexity job (`idp ppl`): WikiText-2 / C4 perplexity as the GPTQ papers compute it
// (eval/perplexity.ts: non-overlapping windows, exp of the mean NLL), on a model alone or with a PEFT
// adapter. An abort stops between batches of windows (the result says cancelled).

import { CausalLM } from '../runtime/lm';
import { evalCorpus, perplexity, PerplexityResult } from '../eval/perplexity';
import { inputError } from '../errors';
import { AdaptedLM, loadAdapter } from '../train/adapted';
import { ParamChecker } from './check';
import { cancelledBy, JobHooks } from './hooks';
import { checkModelOptions, openModel, providerFor, RUN_KEYS, RunOptions } from './model';

export interface PplOptions extends RunOptions {
  /** Evaluation text: raw text (WikiText-2 test joined) or JSONL with "text" (C4); files / globs. */
  data: string[];
  /** PEFT adapter folder applied to the model (prompt tuning, prefix tuning, LoRA). */
  adapter?: string;
  /** Window length (default min(2048, context)). */
  seqlen?: number;
  /** Score at most this many windows (C4 JSONL default 256). */
  maxWindows?: number;
  /** Windows per forward pass (default 1). */
  batch?: number;
  /** GPTQ models: run fp32 on dequantized weights instead of MatMulNBits. */
  dequantize?: boolean;
}

export interface PplProgress { done: number; windows: number }

export type PplResult = PerplexityResult & { files: string[] };

const KEYS = [...RUN_KEYS, 'data', 'adapter', 'seqlen', 'maxWindows', 'batch', 'dequantize'] as const;

export function checkPplOptions(o: PplOptions, absolutePaths = false): void {
  const c = ParamChecker.of('ppl', o, KEYS, absolutePaths);
  checkModelOptions(c, true);
  if (o.data === undefined || (Array.isArray(o.data) && o.data.length === 0)) throw inputError('ppl: give the evaluation text with --data FILE (WikiText-2 raw text, C4 JSONL, …)');
  c.paths('data', true);
  c.path('adapter');
  c.int('seqlen', 2);
  c.int('maxWindows', 1);
  c.int('batch', 1);
  c.bool('dequantize');
}

export async function run(o: PplOptions, hooks: JobHooks<PplProgress> = {}): Promise<PplResult> {
  checkPplOptions(o, hooks.absolutePaths);
  const { m, threads } = await openModel(o);
  if (!m.tokenizer) throw inputError('the model has no tokenizer (give --tokenizer)', m.source);
  const session = { threads, ep: await providerFor(o, hooks.onWarning) };
  const lm = o.adapter ? new AdaptedLM(loadAdapter(m, o.adapter), session)   // soft prompt, prefix or LoRA (PEFT folder)
    : new CausalLM(m, { ...session, graph: o.dequantize ? { dequantize: true } : undefined });
  const corpus = evalCorpus(o.data, m.tokenizer, m.config);
  const r = await perplexity(lm, corpus.ids, {
    seqlen: o.seqlen, maxWindows: o.maxWindows ?? corpus.maxWindows, batch: o.batch ?? 1, isCancelled: cancelledBy(hooks.signal),
    onProgress: (done, windows) => hooks.onProgress?.({ done, windows }),
  });
  return { ...r, files: corpus.files };
}
