// An IDP prompt bank: m soft prompts P_i [n_i, e] in the shared right-aligned layout (prompt i at
// positions N − n_i … N − 1, the input from N whichever prompt is chosen; N = max n_i unless set), the
// selection layer and score, and each prompt's per-layer K/V computed once for one model.
//
// On disk (a folder):
//   bank.json           format, version, build id, model identity (fingerprint incl. quantized layers),
//                       N, selection layer, score, per-prompt {n, start, source, losses}, K/V graph options,
//                       and optionally the selection's calibration per layer (calibration.ts)
//   prompts.safetensors prompt.<i>                      [n_i, e]
//   kv.safetensors      key.<i>.<layer>, value.<i>.<layer> [K, n_i, D]
// The safetensors files are written first (each atomically) and bank.json last; all three carry the same
// build id, so a reader never mixes files of two builds. K/V made for another model (fingerprint) or
// with other kernel settings are recomputed from the prompts in memory (computeKv) with a warning.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { LoadedModel } from '../models/config';
import { fingerprint } from '../train/checkpoint';
import { loadTensors, saveTensors, TensorSet } from '../train/tensors';
import { tokenEmbedding } from '../train/methods/prompt';
import { writeTextAtomic } from '../train/trainer';
import { formatError, inputError, notFound } from '../errors';
import { computePromptKVs, KvGraphOptions, PromptKV } from './kv';
import { checkSelectionLayer } from './graph';
import { calibrationProblem, SelectionCalibration } from './calibration';
import type { SessionOptions } from '../runtime/session';

export const BANK_FILE = 'bank.json';
export const PROMPTS_FILE = 'prompts.safetensors';
export const KV_FILE = 'kv.safetensors';
const VERSION = 1;

/** 'mass': attention mass on the prompt's slots (docs/design.md, "IDP, precisely"); 'mean': mass / n_i (mean over the prompt's slots). */
export type SelectionScore = 'mass' | 'mean';

export interface BankPromptInfo {
  n: number;
  start: number;
  /** Where the prompt came from (training run folder, adapter, "random"). */
  source?: string;
  initialEvalLoss?: number;
  evalLoss?: number;
}

export interface BankModelInfo {
  source: string;
  architecture: string;
  embedWidth: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  /** Hash of every weight's name, shape, dtype and ends, quantized layers included. */
  weights: string;
}

export interface BankJson {
  format: 'idp-bank';
  version: number;
  build: string;
  model: BankModelInfo;
  positions: number;
  selectionLayer: number;
  score: SelectionScore;
  prompts: BankPromptInfo[];
  kvGraph: KvGraphOptions;
  /** Settings the prompts were trained with (idp bank train). */
  training?: Record<string, unknown>;
  /** Fitted selection rules, one per layer fitted (calibration.ts); the one at selectionLayer is used by default. */
  calibration?: SelectionCalibration[];
}

const infoCache = new WeakMap<LoadedModel, BankModelInfo>();

/** Identity of a model's weights, GPTQ layers included (the training fingerprint covers float tensors only); once per loaded model. */
export function modelInfo(m: LoadedModel): BankModelInfo {
  let info = infoCache.get(m);
  if (!info) {
    info = computeModelInfo(m);
    infoCache.set(m, info);
  }
  return info;
}

function computeModelInfo(m: LoadedModel): BankModelInfo {
  const h = crypto.createHash('sha256').update(fingerprint(m).weights);
  for (const [name, q] of [...(m.quant?.modules ?? new Map())].sort(([a], [b]) => (a < b ? -1 : 1))) {
    h.update(`${name}:${q.bits}:${q.groupSize};`);
    const src = q.source ?? { qweight: q.b, scales: q.scales, qzeros: q.zeroPoints ?? q.offsets };   // GGUF: its converted tensors
    for (const ref of [src.qweight, src.scales, src.qzeros].filter((r): r is NonNullable<typeof r> => !!r)) {
      const n = Math.min(256, ref.byteLength);
      const buf = Buffer.alloc(2 * n);
      const fd = fs.openSync(ref.file, 'r');
      try {
        fs.readSync(fd, buf, 0, n, ref.offset);
        fs.readSync(fd, buf, n, n, ref.offset + ref.byteLength - n);
      } finally {
        fs.closeSync(fd);
      }
      h.update(buf);
    }
  }
  const c = m.config;
  return {
    source: m.source, architecture: c.hfArchitecture, embedWidth: tokenEmbedding(c).width, layers: c.numLayers,
    kvHeads: c.numKvHeads, headDim: c.headDim, weights: h.digest('hex').slice(0, 32),
  };
}

const sameKvGraph = (a: KvGraphOptions, b: KvGraphOptions) =>
  !!a.dequantize === !!b.dequantize && (a.quantAccuracyLevel ?? null) === (b.quantAccuracyLevel ?? null);

export interface BankOptions {
  /** N: where the input starts (default max n_i). */
  positions?: number;
  selectionLayer?: number;
  score?: SelectionScore;
  sources?: string[];
}

export class IdpBank {
  /** Cached K/V of every prompt for `kvModel` (undefined until computed or loaded). */
  kv?: PromptKV[];
  private kvKey?: string;
  training?: Record<string, unknown>;
  /** Fitted selection rules by layer (calibration.ts); empty: the paper's rule. */
  calibration: SelectionCalibration[] = [];
  /** Where load() found this bank's prompts and K/V, with their build id and K/V key (saveSettings). */
  private stored?: { dir: string; build: string; kvKey: string };

  constructor(readonly prompts: Float32Array[], readonly info: BankPromptInfo[], readonly positions: number,
    public selectionLayer: number, public score: SelectionScore) {}

  /** A bank of prompts (each [n_i, e]) for model m in the right-aligned layout. */
  static fromPrompts(m: LoadedModel, prompts: Array<{ embeddings: Float32Array; n: number }>, o: BankOptions = {}): IdpBank {
    const e = tokenEmbedding(m.config).width;
    if (prompts.length === 0) throw inputError('a prompt bank needs at least one prompt');
    for (const p of prompts) {
      if (!(Number.isInteger(p.n) && p.n >= 1) || p.embeddings.length !== p.n * e) throw inputError(`a prompt of ${p.n} tokens needs [${p.n}, ${e}] values, got ${p.embeddings.length}`);
    }
    const maxN = Math.max(...prompts.map((p) => p.n));
    const N = o.positions ?? maxN;
    if (!(Number.isInteger(N) && N >= maxN)) throw inputError(`the prompts end at position N = ${N}, which must be ≥ the longest prompt (${maxN} tokens)`);
    if (N >= m.config.maxPositions) throw inputError(`prompts up to position ${N} leave no room in the model's context of ${m.config.maxPositions}`);
    const layer = o.selectionLayer ?? 0;
    checkSelectionLayer(layer, m.config.numLayers);
    const info = prompts.map((p, i) => ({ n: p.n, start: N - p.n, source: o.sources?.[i] }));
    return new IdpBank(prompts.map((p) => p.embeddings), info, N, layer, o.score ?? 'mass');
  }

  /**
   * A bank of some of these prompts (by index, in the order given), each at the positions it was trained at
   * (same start, same N). A calibration is not carried over: it was fitted to tell all m prompts apart, so the
   * smaller bank selects by the paper's rule until it is calibrated itself.
   */
  subset(indices: number[]): IdpBank {
    if (!indices.length || indices.some((i) => !(Number.isInteger(i) && i >= 0 && i < this.m)) || new Set(indices).size !== indices.length) {
      throw inputError(`a sub-bank takes distinct prompts 0…${this.m - 1}, got [${indices.join(', ')}]`);
    }
    const b = new IdpBank(indices.map((i) => this.prompts[i]), indices.map((i) => ({ ...this.info[i] })), this.positions, this.selectionLayer, this.score);
    b.training = this.training;
    return b;
  }

  /** The calibrated rule for selection at `layer`, if one was fitted. */
  calibrationAt(layer: number): SelectionCalibration | undefined {
    return this.calibration.find((c) => c.layer === layer);
  }

  get m(): number {
    return this.prompts.length;
  }

  /** Σ n_i: the past slots of an IDP prefill. */
  get slots(): number {
    return this.info.reduce((a, p) => a + p.n, 0);
  }

  /** First past slot of each prompt in the concatenated cache. */
  offsets(): number[] {
    const out: number[] = [];
    let at = 0;
    for (const p of this.info) { out.push(at); at += p.n; }
    return out;
  }

  /** Score weights [m, P] (the graph's idp_segments): 1 (mass) or 1/n_i (mean) on prompt i's slots. */
  segments(): Float32Array {
    const P = this.slots;
    const s = new Float32Array(this.m * P);
    const off = this.offsets();
    this.info.forEach((p, i) => s.fill(this.score === 'mean' ? 1 / p.n : 1, i * P + off[i], i * P + off[i] + p.n));
    return s;
  }

  /** The K/V of every prompt for model m, computed once per (model, kernel settings) and kept. */
  async computeKv(m: LoadedModel, o: SessionOptions & { graph?: KvGraphOptions } = {}): Promise<PromptKV[]> {
    const key = JSON.stringify([modelInfo(m).weights, !!o.graph?.dequantize, o.graph?.quantAccuracyLevel ?? null]);
    if (this.kv && this.kvKey === key) return this.kv;
    this.checkModel(m);
    this.kv = await computePromptKVs(m, this.prompts.map((embeddings, i) => ({ embeddings, n: this.info[i].n, start: this.info[i].start })), o);
    this.kvKey = key;
    return this.kv;
  }

  /** The bank's prompts fit model m (embedding width, context, selection layer). */
  checkModel(m: LoadedModel, file?: string): void {
    const e = tokenEmbedding(m.config).width;
    const bad = this.prompts.findIndex((p, i) => p.length !== this.info[i].n * e);
    if (bad >= 0) throw inputError(`prompt ${bad} has width ${this.prompts[bad].length / this.info[bad].n}; the model's embeddings have width ${e}`, file);
    if (this.positions >= m.config.maxPositions) throw inputError(`the bank's prompts end at position ${this.positions}, beyond the model's context of ${m.config.maxPositions}`, file);
    checkSelectionLayer(this.selectionLayer, m.config.numLayers, file);
    for (const c of this.calibration) {
      const bad = calibrationProblem(c, m.config.numHeads, this.m) ?? (c.layer >= m.config.numLayers ? `layer ${c.layer} does not exist` : undefined);
      if (bad) throw inputError(`the bank's selection calibration does not fit the model (${m.config.numHeads} heads, ${this.m} prompts): ${bad}`, file);
    }
  }

  /** Write the bank for model m (computing its K/V first when needed); atomic per file, bank.json last. */
  async save(dir: string, m: LoadedModel, o: SessionOptions & { graph?: KvGraphOptions } = {}): Promise<string> {
    const kv = await this.computeKv(m, o);
    const abs = path.resolve(dir);
    fs.mkdirSync(abs, { recursive: true });
    const build = crypto.randomBytes(8).toString('hex');
    const meta = { format: 'idp-bank', build };
    const e = tokenEmbedding(m.config).width;
    const c = m.config;
    saveTensors(path.join(abs, PROMPTS_FILE), new Map(this.prompts.map((p, i) => [`prompt.${i}`, { data: p, shape: [this.info[i].n, e] }])), meta);
    const kvSet: TensorSet = new Map();
    kv.forEach((p, i) => {
      for (let l = 0; l < c.numLayers; l++) {
        kvSet.set(`key.${i}.${l}`, { data: p.keys[l], shape: [c.numKvHeads, p.n, c.headDim] });
        kvSet.set(`value.${i}.${l}`, { data: p.values[l], shape: [c.numKvHeads, p.n, c.headDim] });
      }
    });
    saveTensors(path.join(abs, KV_FILE), kvSet, meta);
    this.writeJson(abs, m, build, o.graph);
    return abs;
  }

  /**
   * Writes the bank's settings (selection layer, score, calibration, training record) into the folder load()
   * read it from, beside the prompts and K/V already there (same build id); a bank read elsewhere, or whose
   * K/V were recomputed for another model or kernel settings, is saved whole.
   */
  async saveSettings(dir: string, m: LoadedModel, o: SessionOptions & { graph?: KvGraphOptions } = {}): Promise<string> {
    const abs = path.resolve(dir);
    const st = this.stored;
    if (!st || st.dir !== abs || st.kvKey !== this.kvKey || !this.kv) return this.save(abs, m, o);
    this.writeJson(abs, m, st.build, o.graph);
    return abs;
  }

  private writeJson(abs: string, m: LoadedModel, build: string, graph: KvGraphOptions | undefined): void {
    const json: BankJson = {
      format: 'idp-bank', version: VERSION, build, model: modelInfo(m), positions: this.positions, selectionLayer: this.selectionLayer,
      score: this.score, prompts: this.info, kvGraph: { dequantize: graph?.dequantize, quantAccuracyLevel: graph?.quantAccuracyLevel },
      ...(this.training ? { training: this.training } : {}),
      ...(this.calibration.length ? { calibration: this.calibration } : {}),
    };
    writeTextAtomic(path.join(abs, BANK_FILE), JSON.stringify(json, null, 2) + '\n');
  }

  /**
   * Read a bank folder. With a model, checks the prompts fit it and takes the stored K/V when they were made
   * for this model with these kernel settings; otherwise they are recomputed on first use (`onWarning` says so).
   */
  static load(dir: string, m?: LoadedModel, o: { graph?: KvGraphOptions; onWarning?: (msg: string) => void } = {}): IdpBank {
    const abs = path.resolve(dir);
    const file = path.join(abs, BANK_FILE);
    if (!fs.existsSync(abs)) throw notFound(abs);
    if (!fs.existsSync(file)) throw formatError(abs, `not an IDP prompt bank: no ${BANK_FILE}`);
    let j: BankJson;
    try {
      j = JSON.parse(fs.readFileSync(file, 'utf8')) as BankJson;
    } catch (e) {
      throw formatError(file, `not valid JSON (${(e as Error).message})`);
    }
    if (j?.format !== 'idp-bank') throw formatError(file, 'not an IDP prompt bank (format is not "idp-bank")');
    if (j.version !== VERSION) throw formatError(file, `bank version ${j.version}; this build reads version ${VERSION}`);
    if (!Array.isArray(j.prompts) || j.prompts.length === 0) throw formatError(file, 'the bank lists no prompts');
    const N = j.positions;
    if (!Number.isInteger(N)) throw formatError(file, '"positions" must be an integer');
    j.prompts.forEach((p, i) => {
      if (!(Number.isInteger(p?.n) && p.n >= 1 && p.start === N - p.n)) {
        throw formatError(file, `prompt ${i}: n = ${p?.n}, start = ${p?.start}; prompts are right-aligned to N = ${N} (start = N − n)`);
      }
    });
    if (j.score !== 'mass' && j.score !== 'mean') throw formatError(file, `unknown score ${JSON.stringify(j.score)} (mass or mean)`);
    const readSet = (name: string) => {
      const f = path.join(abs, name);
      if (!fs.existsSync(f)) throw formatError(file, `the bank's ${name} is missing`);
      const r = loadTensors(f);
      if (r.metadata.build !== j.build) throw formatError(f, `belongs to another build of the bank (${r.metadata.build}, bank.json says ${j.build}): rebuild the bank`);
      return { f, t: r.tensors };
    };
    const pr = readSet(PROMPTS_FILE);
    const e = j.model?.embedWidth;
    const prompts = j.prompts.map((p, i) => {
      const t = pr.t.get(`prompt.${i}`);
      if (!t || t.shape.length !== 2 || t.shape[0] !== p.n || t.shape[1] !== e) {
        throw formatError(pr.f, `tensor 'prompt.${i}' must have shape [${p.n}, ${e}]${t ? `, has [${t.shape.join(', ')}]` : ' (missing)'}`);
      }
      return t.data;
    });
    const bank = new IdpBank(prompts, j.prompts.map((p) => ({ ...p })), N, j.selectionLayer, j.score);
    bank.training = j.training;
    if (j.calibration !== undefined) {
      if (!Array.isArray(j.calibration)) throw formatError(file, '"calibration" must be a list (one fitted rule per layer)');
      for (const c of j.calibration) {
        const rows = Array.isArray(c?.weight) ? c.weight.length : 0;
        const bad = rows % j.prompts.length ? `"weight" has ${rows} rows, not a multiple of ${j.prompts.length} prompts` : calibrationProblem(c, rows / j.prompts.length, j.prompts.length);
        if (bad) throw formatError(file, `selection calibration: ${bad}`);
      }
      bank.calibration = j.calibration;
    }
    if (!m) return bank;
    bank.checkModel(m, file);
    const here = modelInfo(m);
    if (here.weights !== j.model.weights) {
      o.onWarning?.(`${file}: the bank was built for ${j.model.source} (weights ${j.model.weights}); recomputing its K/V for ${m.source}`);
      return bank;
    }
    if (!sameKvGraph(j.kvGraph ?? {}, o.graph ?? {})) return bank;   // other kernel settings: recomputed on first use
    const kvs = readSet(KV_FILE);
    const c = m.config;
    bank.kv = j.prompts.map((p, i) => {
      const get = (kind: string, l: number) => {
        const t = kvs.t.get(`${kind}.${i}.${l}`);
        if (!t || t.shape.join() !== [c.numKvHeads, p.n, c.headDim].join()) {
          throw formatError(kvs.f, `tensor '${kind}.${i}.${l}' must have shape [${c.numKvHeads}, ${p.n}, ${c.headDim}]`);
        }
        return t.data;
      };
      return {
        n: p.n, start: p.start,
        keys: Array.from({ length: c.numLayers }, (_, l) => get('key', l)),
        values: Array.from({ length: c.numLayers }, (_, l) => get('value', l)),
      };
    });
    bank.kvKey = JSON.stringify([here.weights, !!o.graph?.dequantize, o.graph?.quantAccuracyLevel ?? null]);
    bank.stored = { dir: abs, build: j.build, kvKey: bank.kvKey };
    return bank;
  }
}
