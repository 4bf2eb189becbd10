// `idp/inspect` in the engine process: run a prompt bank's IDP over one input on the loaded model
// (and, when asked, on the uncompressed model it was made from) and report the selection, the scores
// and the attention maps (engine/idp/report.ts). The IdpLM of a bank is kept between requests (its
// sessions and prompt K/V are the expensive part) until the model, the bank on disk or the selection
// settings change.

import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../engine/models/load';
import { LoadedModel, threadsFor } from '../engine/models/config';
import { IdpBank } from '../engine/idp/bank';
import { IdpLM } from '../engine/idp/runner';
import { inspectReport, InspectReport } from '../engine/idp/report';
import { promptIds } from '../engine/runtime/generate';
import { bosFor } from '../engine/tokenizers/tokenizer';
import { inputError, notFound } from '../engine/errors';
import type { InspectParams, InspectReply } from './protocol';

const KEYS = new Set(['bank', 'model', 'text', 'ids', 'maxTokens', 'heads', 'compare', 'selectionLayer', 'score']);
const isInt = (x: unknown, min: number) => typeof x === 'number' && Number.isInteger(x) && x >= min;

export const DEFAULT_INSPECT_TOKENS = 96;

/** Rejects parameters a client could get wrong (the wire is untyped at run time). */
export function checkInspectParams(p: InspectParams): void {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw inputError('inspect: parameters must be an object');
  const unknown = Object.keys(p).filter((k) => !KEYS.has(k));
  if (unknown.length) throw inputError(`inspect: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`);
  if (typeof p.bank !== 'string' || p.bank.trim() === '') throw inputError('inspect: no bank folder given');
  if (p.model !== undefined && !(typeof p.model === 'string' && p.model.trim() !== '')) throw inputError('inspect: model must be a model path');
  if (p.text !== undefined && typeof p.text !== 'string') throw inputError('inspect: text must be a string');
  if (p.ids !== undefined && !(Array.isArray(p.ids) && p.ids.length > 0 && p.ids.every((i) => isInt(i, 0)))) throw inputError('inspect: ids must be a non-empty array of token ids');
  if (p.text !== undefined && p.ids !== undefined) throw inputError('inspect: give text or ids, not both');
  if (p.maxTokens !== undefined && !isInt(p.maxTokens, 1)) throw inputError('inspect: maxTokens must be a positive integer');
  if (p.heads !== undefined && typeof p.heads !== 'boolean') throw inputError('inspect: heads must be a boolean');
  if (p.compare !== undefined && p.compare !== true && !(typeof p.compare === 'string' && p.compare.trim() !== '')) throw inputError('inspect: compare must be a model path or true');
  if (p.selectionLayer !== undefined && !isInt(p.selectionLayer, 0)) throw inputError('inspect: selectionLayer must be a non-negative integer');
  if (p.score !== undefined && p.score !== 'mass' && p.score !== 'mean') throw inputError("inspect: score must be 'mass' or 'mean'");
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

export class Inspector {
  private cache: Cached[] = [];
  /** Models loaded for inspections only (the bank's model, the uncompressed one), by path; at most two. */
  private models: Array<{ path: string; model: LoadedModel }> = [];
  /** The model the engine holds (set by each request). */
  private loaded?: LoadedModel;

  constructor(private readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  private idpFor(model: LoadedModel, p: InspectParams, threads?: number): IdpLM {
    const bankJson = path.join(path.resolve(p.bank), 'bank.json');
    let stamp: number;
    try {
      stamp = fs.statSync(bankJson).mtimeMs;
    } catch {
      throw notFound(bankJson, 'no prompt bank here (train one with IDP: Train Prompt Bank or idp bank train)');
    }
    const key = `${bankJson}|${stamp}|${p.selectionLayer ?? ''}|${p.score ?? ''}`;
    const hit = this.cache.find((c) => c.key === key && c.model === model);
    if (hit) return hit.idp;
    const bank = IdpBank.load(p.bank, model, { onWarning: (w) => this.log(w) });
    if (p.score) bank.score = p.score;
    const idp = new IdpLM(model, bank, { threads, selectionLayer: p.selectionLayer });
    this.keep([{ key, model, idp }, ...this.cache].slice(0, 4));
    return idp;
  }

  /** Replaces the cache, freeing the ORT sessions of runners it drops (requests run one at a time: exclusive). */
  private keep(next: Cached[]): void {
    for (const c of this.cache) if (!next.includes(c)) void c.idp.release();
    this.cache = next;
  }

  private async one(model: LoadedModel, p: InspectParams, threads: number | undefined, ids?: number[]): Promise<{ report: InspectReport; ids: number[]; dropped: number }> {
    const idp = this.idpFor(model, p, model === this.loaded ? threads : threadsFor(model));
    const all = ids ?? p.ids ?? promptIds(idp.lm, model.tokenizer, p.text ?? '');
    const bos = bosFor(idp.lm.config, model.tokenizer);
    const fit = fitInput(all, Math.min(p.maxTokens ?? DEFAULT_INSPECT_TOKENS, idp.maxInput), bos);
    const r = await idp.inspect(fit.ids, { heads: p.heads });
    const report = inspectReport(idp, fit.ids, r, model.tokenizer);
    limitHeads(report);
    return { report, ids: fit.ids, dropped: fit.dropped };
  }

  /** A model loaded for inspection (kept for the next request). */
  private async modelAt(want: string): Promise<LoadedModel> {
    const hit = this.models.find((m) => m.path === want);
    if (hit) return hit.model;
    const model = await loadModel(want);
    this.models = [{ path: want, model }, ...this.models].slice(0, 2);
    this.keep(this.cache.filter((c) => this.models.some((m) => m.model === c.model) || c.model === this.loaded));
    return model;
  }

  /**
   * Runs the inspection on `p.model` (else `loaded`, the model the engine holds) and, with `compare`, on
   * the uncompressed model.
   */
  async inspect(loaded: LoadedModel | undefined, p: InspectParams, threads?: number): Promise<InspectReply> {
    checkInspectParams(p);
    this.loaded = loaded;
    const same = (a: string, b: string) => path.resolve(a) === path.resolve(b);
    let model: LoadedModel;
    if (p.model !== undefined && !(loaded && same(loaded.source, p.model))) model = await this.modelAt(p.model);
    else if (loaded) model = loaded;
    else throw inputError('no model loaded: load one first, or name the model to inspect with');
    const main = await this.one(model, p, threads);
    const reply: InspectReply = { model: model.source, bank: path.resolve(p.bank), report: main.report, dropped: main.dropped };
    if (p.compare !== undefined) {
      const want = p.compare === true ? compressedFrom(model) : p.compare;
      const other = loaded && same(loaded.source, want) ? loaded : await this.modelAt(want);
      if (other.config.vocabSize !== model.config.vocabSize) throw inputError(`${want} has another vocabulary (${other.config.vocabSize} tokens, not ${model.config.vocabSize}): it cannot be compared token for token`);
      const cmp = await this.one(other, p, threads, main.ids);
      reply.compare = { model: other.source, report: cmp.report };
    }
    return reply;
  }
}
