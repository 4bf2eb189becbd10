// A model with a trained adapter applied, for scoring (perplexity, evaluation): soft prompt, prefix or
// LoRA from a PEFT folder (or the method object straight from training). The graph is the model's own
// with the adapter's hooks (tensors fed as inputs); soft-prompt slots are cut from the logits, a
// prefix is the past of every row. Implements eval/perplexity.ts's LogitsScorer.

import * as fs from 'fs';
import * as path from 'path';
import type * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../models/config';
import { buildGraph } from '../models/graph';
import { io } from '../models/blocks';
import { createSession, releaseSessions, SessionOptions } from '../runtime/session';
import { formatError, inputError, notFound, unsupported } from '../errors';
import { batchFeeds } from './batch';
import { trainIo } from './graph';
import { ADAPTER_CONFIG } from './peft';
import type { TrainMethod } from './methods/method';
import { SoftPrompt } from './methods/prompt';
import { Prefix } from './methods/prefix';
import { Lora } from './methods/lora';

/** Load a PEFT adapter folder of any supported type (PROMPT_TUNING, PREFIX_TUNING, LORA). */
export function loadAdapter(m: LoadedModel, dir: string): TrainMethod {
  const file = path.join(path.resolve(dir), ADAPTER_CONFIG);
  if (!fs.existsSync(path.resolve(dir))) throw notFound(path.resolve(dir));
  if (!fs.existsSync(file)) throw formatError(path.resolve(dir), `not a PEFT adapter folder: no ${ADAPTER_CONFIG}`);
  let type: unknown;
  try {
    type = (JSON.parse(fs.readFileSync(file, 'utf8')) as { peft_type?: unknown }).peft_type;
  } catch (e) {
    throw formatError(file, `not valid JSON (${(e as Error).message})`);
  }
  switch (type) {
    case 'PROMPT_TUNING': return SoftPrompt.load(m, dir);
    case 'PREFIX_TUNING': return Prefix.load(m, dir);
    case 'LORA': return Lora.load(m, dir);
    default: throw unsupported(`peft_type ${JSON.stringify(type)} is not supported (PROMPT_TUNING, PREFIX_TUNING or LORA)`, file);
  }
}

export class AdaptedLM {
  private session?: Promise<ort.InferenceSession>;
  readonly config: LoadedModel['config'];

  constructor(readonly method: TrainMethod, readonly options: SessionOptions = {}) {
    const c = method.model.config;
    const slots = method.layout.promptSlots + method.layout.pastLen + method.layout.positionStart;
    // the context left for text once the prompt/prefix slots are taken
    this.config = { ...c, maxPositions: c.maxPositions - slots };
  }

  /** Frees the session now (a later call builds it again). */
  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await releaseSessions([s]);
  }

  private run(): Promise<ort.InferenceSession> {
    if (!this.session) {
      const m = this.method.model;
      const g = buildGraph(m, { attention: 'explicit', ...this.method.graphOptions(false).build, logits: 'all' });
      this.session = createSession(g.toModelProto(), m.weightsDir, { ...this.options, sharedWeights: true });
    }
    return this.session;
  }

  /** Logits [len, V] of each sequence (prompt slots removed); equal-length sequences share a run. */
  async logits(seqs: number[][]): Promise<Float32Array[]> {
    if (seqs.length === 0 || seqs.some((s) => s.length === 0)) throw inputError('empty sequence: nothing to score');
    const s = await this.run();
    const V = this.config.vocabSize;
    const lay = this.method.layout;
    const out: Float32Array[] = new Array(seqs.length);
    const byLen = new Map<number, number[]>();
    seqs.forEach((q, i) => byLen.set(q.length, [...(byLen.get(q.length) ?? []), i]));
    for (const [len, idx] of byLen) {
      if (len > this.config.maxPositions) throw inputError(`${len} tokens exceed the ${this.config.maxPositions} positions left after the adapter's ${lay.promptSlots + lay.pastLen} slots`);
      const rows = idx.map((i) => seqs[i]);
      const feeds: Record<string, ort.Tensor> = { ...batchFeeds(this.config, rows, { ignoreFirst: lay.promptSlots, P: lay.pastLen, positionStart: lay.positionStart }) };
      delete feeds[trainIo.labels];
      const T = lay.promptSlots + len;
      Object.assign(feeds, this.method.feeds({ B: rows.length, T, step: 0, micro: 0 }, false, 0));
      const r = await s.run(feeds);
      const lg = r[io.logits].data as Float32Array;   // [B, T, V]
      idx.forEach((i, b) => { out[i] = lg.slice((b * T + lay.promptSlots) * V, (b + 1) * T * V); });
    }
    return out;
  }
}
