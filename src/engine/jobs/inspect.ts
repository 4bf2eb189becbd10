// The inspect job (`idp inspect`, idp/inspect): run a prompt bank's IDP over one input on a model (and,
// when asked, on the uncompressed model it was made from) and report the selection, the scores and the
// attention maps (engine/idp/report.ts). An Inspector keeps the IdpLM of a bank between requests (its
// sessions and prompt K/V are the expensive part) until the model, the bank on disk or the selection
// settings change: the engine process keeps one; `run` uses a fresh one.

import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../models/load';
import { LoadedModel, threadsFor } from '../models/config';
import { defaultModelPath } from '../defaults';
import { IdpBank, SelectionScore } from '../idp/bank';
import { IdpLM } from '../idp/runner';
import type { SelectionRule } from '../idp/calibration';
import { inspectReport } from '../idp/report';
import type { InspectReport } from '../../protocol/inspect-report';
import { promptIds } from '../runtime/generate';
import { bosFor } from '../models/bos';
import { inputError, notFound } from '../errors';
import { ParamChecker } from './check';
import type { JobHooks } from './hooks';
import { checkModelOptions, providerFor, RUN_KEYS, RunOptions } from './model';
import type { ExecutionProvider } from '../runtime/session';

export interface InspectOptions extends RunOptions {
  /** Bank folder (idp bank train). */
  bank: string;
  /** Input text (BOS first, as generation does); or token ids as they are. */
  text?: string;
  ids?: number[];
  /** Most input tokens to inspect (default 96): a longer input keeps its last ones (after BOS). */
  maxTokens?: number;
  /** Per-head maps too (layers[].heads). */
  heads?: boolean;
  /** Also run the same input and bank on the uncompressed model: this path, or `true` for the source
   *  named in the model's idp-compress.json. */
  compare?: string | true;
  /** Override the bank's selection layer and score; the rule (default: the bank's calibrated one where it has one). */
  selectionLayer?: number;
  score?: SelectionScore;
  selection?: SelectionRule;
}

export interface InspectResult {
  model: string;
  bank: string;
  report: InspectReport;
  /** Input tokens dropped from the start to fit maxTokens / the context. */
  dropped: number;
  compare?: { model: string; report: InspectReport };
}

/** A model the engine already holds: an inspection without `model` runs on it, with its threads. */
export interface HeldModel { model: LoadedModel; threads?: number }

const KEYS = [...RUN_KEYS, 'bank', 'text', 'ids', 'maxTokens', 'heads', 'compare', 'selectionLayer', 'score', 'selection'] as const;
const isInt = (x: unknown, min: number) => typeof x === 'number' && Number.isInteger(x) && x >= min;

export const DEFAULT_INSPECT_TOKENS = 96;

export function checkInspectOptions(o: InspectOptions, absolutePaths = false): void {
  const c = ParamChecker.of('inspect', o, KEYS, absolutePaths);
  if (typeof o.bank !== 'string' || o.bank.trim() === '') throw inputError('inspect: no bank folder given');
  c.path('bank');
  if (o.model !== undefined && !(typeof o.model === 'string' && o.model.trim() !== '')) c.fail('model', 'a model path or Hub id');
  checkModelOptions(c, true);
  c.str('text');
  if (o.ids !== undefined && !(Array.isArray(o.ids) && o.ids.length > 0 && o.ids.every((i) => isInt(i, 0)))) throw inputError('inspect: ids must be a non-empty array of token ids');
  if (o.text !== undefined && o.ids !== undefined) throw inputError('inspect: give text or ids, not both');
  c.int('maxTokens', 1);
  c.bool('heads');
  if (o.compare !== undefined && o.compare !== true && !c.isModel(o.compare)) c.fail('compare', `${absolutePaths ? 'an absolute ' : 'a '}model path, a Hub id or true`);
  c.int('selectionLayer', 0);
  c.oneOf('score', ['mass', 'mean']);
  c.oneOf('selection', ['calibrated', 'paper']);
}

/** The uncompressed model a compressed folder was made from (idp-compress.json's `source`). */
export function compressedFrom(model: LoadedModel): string {
  // the folder as given (a GPTQ model's weights may be read from a converted cache elsewhere)
  const file = [model.source, model.weightsDir].map((d) => path.join(d, 'idp-compress.json')).find((f) => fs.existsSync(f));
  let source: unknown;
  try {
    source = (JSON.parse(fs.readFileSync(file ?? '', 'utf8')) as { source?: unknown }).source;
  } catch {
    throw inputError(`${model.source} was not compressed by IDP Lab (no readable idp-compress.json): name the uncompressed model to compare with`);
  }
  if (typeof source !== 'string' || !source) throw inputError('idp-compress.json names no source model: name the uncompressed model to compare with', file);
  return source;
}

/** Keeps BOS (when the input starts with it) and the last tokens that fit `limit`. */
export function fitInput(ids: number[], limit: number, bos?: number): { ids: number[]; dropped: number } {
  if (ids.length <= limit) return { ids, dropped: 0 };
  const keepBos = bos !== undefined && ids[0] === bos && limit > 1;
  const tail = ids.slice(ids.length - (limit - (keepBos ? 1 : 0)));
  return { ids: keepBos ? [bos!, ...tail] : tail, dropped: ids.length - limit };
}

/** Most per-head probabilities one reply carries (a large model's every head would be hundreds of MB of JSON). */
export const MAX_HEAD_VALUES = 2_000_000;

/** Keeps per-head maps for the selection layer first, then the others in order, while they fit MAX_HEAD_VALUES. */
export function limitHeads(r: InspectReport, max = MAX_HEAD_VALUES): void {
  let left = max;
  const order = [...r.layers].sort((a, b) => Number(b.layer === r.selectionLayer) - Number(a.layer === r.selectionLayer) || a.layer - b.layer);
  for (const l of order) {
    if (!l.heads) continue;
    const size = l.heads.length * l.map.length * (l.map[0]?.length ?? 0);
    if (size <= left) left -= size;
    else delete l.heads;
  }
}

interface Cached { key: string; model: LoadedModel; idp: IdpLM }

/** One inspection with a fresh Inspector (the CLI): on `model`, else the default model. */
export async function run(o: InspectOptions, hooks: JobHooks<never> = {}): Promise<InspectResult> {
  const inspector = new Inspector(hooks.onWarning);
  try {
    return await inspector.inspect({ ...o, model: o.model ?? defaultModelPath() }, undefined, hooks);
  } finally {
    inspector.release();
  }
}

export class Inspector {
  private cache: Cached[] = [];
  /** Models loaded for inspections only (the bank's model, the uncompressed one), by path and tokenizer; at most two. */
  private models: Array<{ key: string; model: LoadedModel }> = [];
  /** The model the engine holds (set by each request). */
  private held?: HeldModel;

  constructor(private readonly warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  private idpFor(model: LoadedModel, o: InspectOptions, threads: number | undefined, ep: ExecutionProvider): IdpLM {
    const bankJson = path.join(path.resolve(o.bank), 'bank.json');
    let stamp: number;
    try {
      stamp = fs.statSync(bankJson).mtimeMs;
    } catch {
      throw notFound(bankJson, 'no prompt bank here (train one with IDP: Train Prompt Bank or idp bank train)');
    }
    const key = `${bankJson}|${stamp}|${o.selectionLayer ?? ''}|${o.score ?? ''}|${o.selection ?? ''}|${threads ?? ''}|${ep}`;
    const hit = this.cache.find((c) => c.key === key && c.model === model);
    if (hit) return hit.idp;
    const bank = IdpBank.load(o.bank, model, { onWarning: (w) => this.warn(w) });
    if (o.score) bank.score = o.score;
    const idp = new IdpLM(model, bank, { threads, ep, selectionLayer: o.selectionLayer, selection: o.selection });
    this.keep([{ key, model, idp }, ...this.cache].slice(0, 4));
    return idp;
  }

  /** Replaces the cache, freeing the ORT sessions of runners it drops (requests run one at a time: exclusive). */
  private keep(next: Cached[]): void {
    for (const c of this.cache) if (!next.includes(c)) void c.idp.release();
    this.cache = next;
  }

  /** Frees every runner's ORT sessions. */
  release(): void {
    this.keep([]);
  }

  private async one(model: LoadedModel, o: InspectOptions, ep: ExecutionProvider, ids?: number[]): Promise<{ report: InspectReport; ids: number[]; dropped: number }> {
    const threads = model === this.held?.model ? this.held.threads : threadsFor(model, o.threads);
    const idp = this.idpFor(model, o, threads, ep);
    const all = ids ?? o.ids ?? promptIds(idp.lm, model.tokenizer, o.text ?? '');
    const bos = bosFor(idp.lm.config, model.tokenizer);
    const fit = fitInput(all, Math.min(o.maxTokens ?? DEFAULT_INSPECT_TOKENS, idp.maxInput), bos);
    const r = await idp.inspect(fit.ids, { heads: o.heads });
    const report = inspectReport(idp, fit.ids, r, model.tokenizer);
    limitHeads(report);
    return { report, ids: fit.ids, dropped: fit.dropped };
  }

  /** A model loaded for inspection (kept for the next request). */
  private async modelAt(want: string, tokenizer?: string): Promise<LoadedModel> {
    const key = `${path.resolve(want)}|${tokenizer ?? ''}`;
    const hit = this.models.find((m) => m.key === key);
    if (hit) return hit.model;
    const model = await loadModel(want, { tokenizer });
    this.models = [{ key, model }, ...this.models].slice(0, 2);
    this.keep(this.cache.filter((c) => this.models.some((m) => m.model === c.model) || c.model === this.held?.model));
    return model;
  }

  /**
   * Runs the inspection on `o.model` (else `held`, the model the engine holds) and, with `compare`, on
   * the uncompressed model.
   */
  async inspect(o: InspectOptions, held?: HeldModel, hooks: JobHooks<never> = {}): Promise<InspectResult> {
    checkInspectOptions(o, hooks.absolutePaths);
    this.held = held;
    const loaded = held?.model;
    const same = (a: string, b: string) => path.resolve(a) === path.resolve(b);
    let model: LoadedModel;
    if (o.model !== undefined && !(loaded && same(loaded.source, o.model) && o.tokenizer === undefined)) model = await this.modelAt(o.model, o.tokenizer);
    else if (loaded) model = loaded;
    else throw inputError('no model loaded: load one first, or name the model to inspect with');
    const ep = await providerFor(o, this.warn);
    const main = await this.one(model, o, ep);
    const reply: InspectResult = { model: model.source, bank: path.resolve(o.bank), report: main.report, dropped: main.dropped };
    if (o.compare !== undefined) {
      const want = o.compare === true ? compressedFrom(model) : o.compare;
      const other = loaded && same(loaded.source, want) ? loaded : await this.modelAt(want, o.tokenizer);
      if (other.config.vocabSize !== model.config.vocabSize) throw inputError(`${want} has another vocabulary (${other.config.vocabSize} tokens, not ${model.config.vocabSize}): it cannot be compared token for token`);
      const cmp = await this.one(other, o, ep, main.ids);
      reply.compare = { model: other.source, report: cmp.report };
    }
    return reply;
  }
}
