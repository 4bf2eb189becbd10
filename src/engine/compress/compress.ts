// The compression pipeline behind `idp compress`: load a float model, compress every decoder-layer
// linear layer with RTN, GPTQ, SparseGPT (unstructured / N:M, optionally jointly quantized) or
// magnitude pruning, and write the result atomically (write-model.ts).
//
// Calibrated methods (gptq, sparsegpt) go layer by layer (layer-graph.ts): the calibration windows are
// embedded, then for each layer and each group of linear layers sharing an input (true-sequential:
// q/k/v, then o with q/k/v already compressed, then gate/up, then down) the Hessian Σ XᵀX of that input
// is accumulated in ORT, the group is compressed, and finally the layer runs with all its compressed
// weights to give the next layer's inputs — so every layer is calibrated on the outputs of the
// already-compressed layers before it.
//
// --quantize-head: the output projection is quantized too (round to nearest, at --head-bits, with the
// layers' group size and grid) and written as lm_head.qweight … the way GPTQModel stores a quantized head;
// a head tied to the token embedding is stored once, quantized, and the runtime gathers the embedding
// rows from it (models/quant-linear.ts). GPTQ on the head (calibrated on the final hidden states) is not
// done: the head is RTN under every method.
//
// Per module the result records ‖W X − Ŵ X‖² on the calibration inputs (from H) and, for comparison,
// the same error of the baseline on the same inputs (RTN for GPTQ, magnitude pruning for SparseGPT).

import * as path from 'path';
import { inputError } from '../errors';
import { LoadedModel, threadsFor } from '../models/config';
import { loadModel } from '../models/load';
import { dequantize, QuantBits, QuantizedLinear, whyNotQuantizable } from '../models/quant/gptq-format';
import { DEFAULT_GPTQ, GptqConfig, gptqConfigFiles } from '../models/quant/gptq-config';
import { gptqLoaders, LoaderVerdict } from './gptq-loaders';
import { autoGroupSize, headModule, HEAD_MODULE, linearModules, LinearModule, weightOf } from '../models/quant/modules';
import { quantizeRtn } from './rtn';
import { gptqQuantize, reconstructionError } from './gptq';
import { checkSparsity, magnitudePrune, sparseGpt } from './sparsegpt';
import { Linalg } from './linalg';
import { calibrationSet } from './calibration';
import { CalibChunk, layerPrefix, LayerRunner } from './layer-graph';
import { PRODUCER, SparsityInfo, writeQuantizedModel } from './write-model';
import { OutputClaim, withClaim } from '../formats/output-folder';

export type CompressMethod = 'rtn' | 'gptq' | 'sparsegpt' | 'magnitude';

export interface CompressOptions {
  method: CompressMethod;
  /** Output folder (written atomically). */
  out: string;
  /** Quantization bits (rtn, gptq; sparsegpt: joint quantization when given). */
  bits?: QuantBits;
  groupSize?: number;          // default autoGroupSize(): the largest of 128, 64, 32 dividing every layer's input, else -1
  /** Default true: symmetric v1 is the one GPTQ checkpoint every loader reads (gptq-loaders.ts). */
  sym?: boolean;
  actOrder?: boolean;
  staticGroups?: boolean;
  trueSequential?: boolean;    // default true
  dampPercent?: number;        // default 0.01
  blockSize?: number;          // default 128
  sparsity?: number;           // unstructured fraction
  pattern?: { n: number; m: number };
  /** Calibration files / globs, 'model' (sampled from the model), or token windows already made. */
  calib?: string[] | 'model' | number[][];
  samples?: number;            // default 128
  seqlen?: number;             // default min(2048, context)
  seed?: number;               // default 0
  /** 'gptq' (default for quantizing methods): the GPTQ layout; 'dense': a float model with the compressed (fake-quantized) weights. */
  output?: 'gptq' | 'dense';
  format?: 'gptq' | 'gptq_v2';
  /** Quantize the output projection too (lm_head, or the tied embedding stored once as lm_head.*), by RTN. */
  quantizeHead?: boolean;
  /** Bits of the quantized head: 4 or 8 (default: `bits` when it is 4 or 8, else 4). */
  headBits?: 4 | 8;
  /** Leave layers whose shape the GPTQ layout cannot store unquantized instead of failing. */
  skipUnfit?: boolean;
  overwrite?: boolean;
  /** The caller's claim on `out` (output-folder.ts); without one, compressModel claims it before loading the model. */
  claim?: OutputClaim;
  threads?: number;
  onProgress?: (p: CompressProgress) => void;
  isCancelled?: () => boolean;
}

export interface CompressProgress {
  stage: 'calibration' | 'layer' | 'module' | 'write';
  layer?: number;
  layers: number;
  module?: string;
  message: string;
}

export interface ModuleStat {
  name: string;
  layer: number;
  inFeatures: number;
  outFeatures: number;
  quantized: boolean;
  /** ‖W X − Ŵ X‖² over the calibration tokens (calibrated methods). */
  error?: number;
  /** error / ‖W X‖². */
  relError?: number;
  /** The baseline's error on the same inputs (RTN for gptq, magnitude for sparsegpt). */
  baselineError?: number;
  sparsity?: number;
  seconds: number;
}

export interface CompressResult {
  out: string;
  cancelled: boolean;
  /** The quantization group size used (-1: one group per row). */
  groupSize: number;
  modules: ModuleStat[];
  /** Modules left float because the GPTQ layout cannot store their shape (skipUnfit). */
  skipped: string[];
  /** Which GPTQ loaders read the folder written (absent for a float model: --dense or pruning only). */
  loaders?: LoaderVerdict[];
  layerSeconds: number[];
  calibrationSeconds: number;
  totalSeconds: number;
}

const now = () => performance.now() / 1000;

function validate(m: LoadedModel, o: CompressOptions, mods: LinearModule[]): { quantize: boolean; prune: boolean; unfit: string[] } {
  if (m.quant) throw inputError('the model is already GPTQ-quantized: compress its float original', m.source);
  const quantize = o.method === 'rtn' || o.method === 'gptq' || (o.method === 'sparsegpt' && o.bits !== undefined);
  const prune = o.method === 'sparsegpt' || o.method === 'magnitude';
  if ((o.method === 'rtn' || o.method === 'gptq') && o.bits === undefined) throw inputError(`--method ${o.method} needs --bits`);
  if (o.calib === undefined && (o.method === 'gptq' || o.method === 'sparsegpt')) throw inputError(`--method ${o.method} needs calibration data (--calib FILE..., or --calib model)`);
  if (o.method === 'magnitude' && o.bits !== undefined) throw inputError('--method magnitude does not quantize: drop --bits (or use sparsegpt)');
  if (prune) for (const mod of mods) checkSparsity({ sparsity: o.sparsity, pattern: o.pattern }, mod.inFeatures, mod.name, o.blockSize);
  if (!prune && (o.sparsity !== undefined || o.pattern)) throw inputError(`--method ${o.method} does not prune: --sparsity / --pattern need sparsegpt or magnitude`);
  const unfit: string[] = [];
  if (quantize) {
    const gs = o.groupSize ?? autoGroupSize(m.config);
    for (const mod of mods) {
      const memory = whyNotQuantizable(mod.inFeatures, mod.outFeatures, o.bits!, gs, false);
      if (memory) throw inputError(`cannot quantize '${mod.name}' [out ${mod.outFeatures}, in ${mod.inFeatures}]: ${memory}`, m.source);
      if ((o.output ?? 'gptq') === 'gptq' && whyNotQuantizable(mod.inFeatures, mod.outFeatures, o.bits!, gs)) unfit.push(mod.name);
    }
    if (unfit.length && !o.skipUnfit) {
      const why = whyNotQuantizable(mods.find((x) => x.name === unfit[0])!.inFeatures, mods.find((x) => x.name === unfit[0])!.outFeatures, o.bits!, gs);
      throw inputError(`${unfit.length} layer(s) cannot be stored in the GPTQ layout at ${o.bits} bits, e.g. '${unfit[0]}': ${why}. ` +
        'Leave them unquantized (--skip-unfit) or write a dense fake-quantized model (--dense)', m.source);
    }
  }
  if (o.quantizeHead) {
    if (!quantize) throw inputError(`--quantize-head needs a quantizing method (rtn, gptq, or sparsegpt with --bits); --method ${o.method} does not quantize`);
    if (o.output === 'dense') throw inputError('--quantize-head writes the GPTQ layout: it cannot be combined with --dense');
    const head = headModule(m.config);
    const bits = headBitsOf(o);
    const why = whyNotQuantizable(head.inFeatures, head.outFeatures, bits, o.groupSize ?? DEFAULT_GPTQ.groupSize);
    if (why) throw inputError(`cannot quantize the output projection [vocab ${head.outFeatures}, in ${head.inFeatures}] at ${bits} bits: ${why}`, m.source);
  } else if (o.headBits !== undefined) throw inputError('--head-bits needs --quantize-head');
  return { quantize, prune, unfit };
}

/** The head's bits: --head-bits, else the layers' bits when the head kernels run them (4, 8), else 4. */
export function headBitsOf(o: Pick<CompressOptions, 'bits' | 'headBits'>): 4 | 8 {
  if (o.headBits !== undefined) {
    if (o.headBits !== 4 && o.headBits !== 8) throw inputError(`--head-bits must be 4 or 8, got ${String(o.headBits)}`);
    return o.headBits;
  }
  return o.bits === 8 ? 8 : 4;
}

/** Float weights [out, in] back to the stored layout (GPT-2 Conv1D: [in, out]). */
function storedLayout(mod: LinearModule, w: Float32Array): Float32Array {
  if (mod.layout === 'linear') return w;
  const t = new Float32Array(w.length);
  for (let o = 0; o < mod.outFeatures; o++) for (let k = 0; k < mod.inFeatures; k++) t[k * mod.outFeatures + o] = w[o * mod.inFeatures + k];
  return t;
}

const zeroFraction = (w: Float32Array) => w.reduce((a, x) => a + (x === 0 ? 1 : 0), 0) / w.length;

export async function compressModel(model: string | LoadedModel, o: CompressOptions): Promise<CompressResult> {
  // the folder is claimed (rules checked, lock taken) before any compute: a refused or concurrent run fails at once
  return withClaim(o.claim, o.out, { kind: 'compress', mode: 'replace', overwrite: o.overwrite }, (claim) => compressClaimed(model, { ...o, claim }));
}

async function compressClaimed(model: string | LoadedModel, o: CompressOptions & { claim: OutputClaim }): Promise<CompressResult> {
  const t0 = now();
  const m = typeof model === 'string' ? await loadModel(model) : model;
  o = { ...o, threads: threadsFor(m, o.threads) };
  const mods = linearModules(m.config);
  const { quantize, unfit } = validate(m, o, mods);
  const gs = o.groupSize ?? autoGroupSize(m.config);
  const sym = o.sym ?? true;
  const format = o.format ?? 'gptq';
  const minZero = format === 'gptq' ? 1 : 0;
  const L = m.config.numLayers;
  const progress = (p: Omit<CompressProgress, 'layers'>) => o.onProgress?.({ ...p, layers: L });
  const result: CompressResult = { out: path.resolve(o.out), cancelled: false, groupSize: gs, modules: [], skipped: o.skipUnfit ? unfit : [], layerSeconds: [], calibrationSeconds: 0, totalSeconds: 0 };
  const cancelled = () => {
    if (!o.isCancelled?.()) return false;
    result.cancelled = true;
    result.totalSeconds = now() - t0;
    return true;
  };
  const skip = new Set(result.skipped);
  const quantized = new Map<string, QuantizedLinear>();
  const dense = new Map<string, Float32Array>();
  const sparsityOf: Record<string, number> = {};
  const quantOpts = { bits: o.bits!, groupSize: gs, sym, minZero } as const;

  const finishModule = (mod: LinearModule, q: QuantizedLinear | undefined, w: Float32Array, stat: Omit<ModuleStat, 'name' | 'layer' | 'inFeatures' | 'outFeatures' | 'quantized'>) => {
    const keepFloat = !q || skip.has(mod.name) || o.output === 'dense';
    if (q && !keepFloat) quantized.set(mod.name, q);
    else dense.set(mod.name, w);
    if (o.method === 'sparsegpt' || o.method === 'magnitude') sparsityOf[mod.name] = zeroFraction(w);
    result.modules.push({ name: mod.name, layer: mod.layer, inFeatures: mod.inFeatures, outFeatures: mod.outFeatures, quantized: !!q && !skip.has(mod.name), ...stat });
  };

  if (o.method === 'rtn' || o.method === 'magnitude') {
    for (let l = 0; l < L; l++) {
      const tl = now();
      for (const mod of mods.filter((x) => x.layer === l)) {
        if (cancelled()) return result;
        const ts = now();
        const W = weightOf(m, mod);
        if (o.method === 'rtn') {
          if (skip.has(mod.name)) { result.modules.push({ name: mod.name, layer: l, inFeatures: mod.inFeatures, outFeatures: mod.outFeatures, quantized: false, seconds: 0 }); continue; }
          const q = quantizeRtn(W, mod.outFeatures, mod.inFeatures, quantOpts, mod.name);
          finishModule(mod, q, dequantize(q), { seconds: now() - ts });
        } else {
          const r = magnitudePrune(W, mod.outFeatures, mod.inFeatures, { sparsity: o.sparsity, pattern: o.pattern }, mod.name);
          finishModule(mod, undefined, r.weights, { seconds: now() - ts, sparsity: zeroFraction(r.weights) });
        }
      }
      result.layerSeconds.push(now() - tl);
      progress({ stage: 'layer', layer: l, message: `layer ${l + 1}/${L} done (${(now() - tl).toFixed(2)} s)` });
    }
  } else {
    const done = await calibrated(m, o, mods, result, progress, cancelled, finishModule, quantOpts);
    if (!done) return result;
  }

  if (cancelled()) return result;
  if (o.quantizeHead) {
    const ts = now();
    const head = headModule(m.config);
    const q = quantizeRtn(weightOf(m, head), head.outFeatures, head.inFeatures, { ...quantOpts, bits: headBitsOf(o) }, HEAD_MODULE);
    quantized.set(HEAD_MODULE, q);
    result.modules.push({ name: HEAD_MODULE, layer: -1, inFeatures: head.inFeatures, outFeatures: head.outFeatures, quantized: true, seconds: now() - ts });
    progress({ stage: 'module', module: HEAD_MODULE, message: `${HEAD_MODULE}: ${q.bits}-bit RTN${head.weight ? ` (tied to ${head.weight}: stored once, quantized)` : ''}` });
  }
  progress({ stage: 'write', message: `writing ${result.out}` });
  const sparsity: SparsityInfo | undefined = o.method === 'sparsegpt' || o.method === 'magnitude'
    ? { method: o.method, sparsity: o.sparsity ?? o.pattern!.n / o.pattern!.m, pattern: o.pattern ? `${o.pattern.n}:${o.pattern.m}` : null, modules: sparsityOf }
    : undefined;
  const gcfg: GptqConfig | undefined = quantize && quantized.size ? {
    ...DEFAULT_GPTQ, bits: o.bits!, groupSize: gs, sym, descAct: !!o.actOrder && o.method === 'gptq', staticGroups: !!o.staticGroups,
    trueSequential: o.trueSequential ?? true, dampPercent: o.dampPercent ?? DEFAULT_GPTQ.dampPercent, checkpointFormat: format,
    ...(quantized.has(HEAD_MODULE) ? { lmHead: true, headBits: quantized.get(HEAD_MODULE)!.bits } : {}),
  } : undefined;
  if (gcfg) {
    // judged on the same config objects the writer puts in the folder
    const names = mods.map((x) => x.name);
    const files = gptqConfigFiles(gcfg, PRODUCER, names, new Set(quantized.keys()));
    result.loaders = gptqLoaders({
      ...files, quantized: names.filter((x) => quantized.has(x)), float: names.filter((x) => !quantized.has(x)),
      head: quantized.has(HEAD_MODULE) ? (m.config.tieWordEmbeddings ? 'tied' : 'untied') : undefined,
    });
  }
  const report = {
    method: o.method, bits: o.bits ?? null, group_size: quantize ? gs : null, sym: quantize ? sym : null, checkpoint_format: gcfg ? format : null, act_order: !!o.actOrder,
    static_groups: !!o.staticGroups, true_sequential: o.trueSequential ?? true, damp_percent: o.dampPercent ?? DEFAULT_GPTQ.dampPercent,
    sparsity: o.sparsity ?? null, pattern: o.pattern ? `${o.pattern.n}:${o.pattern.m}` : null, output: o.output ?? 'gptq',
    quantize_head: !!o.quantizeHead, head_bits: o.quantizeHead ? headBitsOf(o) : null, tied_head: o.quantizeHead ? m.config.tieWordEmbeddings : null,
    calibration: o.calib === undefined ? null : { sources: isTokenWindows(o.calib) ? 'token windows' : o.calib, samples: o.samples ?? 128, seqlen: o.seqlen ?? null, seed: o.seed ?? 0 },
    source: m.source, skipped: result.skipped, loaders: result.loaders ?? null, modules: result.modules,
    seconds: { calibration: result.calibrationSeconds, layers: result.layerSeconds, total: now() - t0 },
  };
  const ok = writeQuantizedModel(result.out, m, quantized, gcfg, { dense, sparsity, report, overwrite: o.overwrite, claim: o.claim, isCancelled: o.isCancelled });
  if (!ok) { result.cancelled = true; result.totalSeconds = now() - t0; return result; }
  result.totalSeconds = now() - t0;
  return result;
}

const isTokenWindows = (c: CompressOptions['calib']): c is number[][] => Array.isArray(c) && c.length > 0 && Array.isArray(c[0]);

/** Token windows given directly: equal lengths within the context, ids in the vocabulary. */
function checkWindows(m: LoadedModel, w: number[][]): number[][] {
  const T = w[0].length;
  if (T < 2 || T > m.config.maxPositions) throw inputError(`calibration windows of ${T} tokens: need 2 … ${m.config.maxPositions}`);
  for (const s of w) {
    if (s.length !== T) throw inputError('calibration windows must all have the same length');
    for (const id of s) if (!(Number.isInteger(id) && id >= 0 && id < m.config.vocabSize)) throw inputError(`calibration token id ${id} is outside the vocabulary`);
  }
  return w;
}

/** GPTQ / SparseGPT, layer by layer on calibration data. Returns false when cancelled. */
async function calibrated(m: LoadedModel, o: CompressOptions, mods: LinearModule[], result: CompressResult,
  progress: (p: Omit<CompressProgress, 'layers'>) => void, cancelled: () => boolean,
  finishModule: (mod: LinearModule, q: QuantizedLinear | undefined, w: Float32Array, stat: Omit<ModuleStat, 'name' | 'layer' | 'inFeatures' | 'outFeatures' | 'quantized'>) => void,
  quantOpts: { bits: QuantBits; groupSize: number; sym: boolean; minZero: 0 | 1 }): Promise<boolean> {
  const tc = now();
  const seqlen = o.seqlen ?? Math.min(2048, m.config.maxPositions);
  progress({ stage: 'calibration', message: `calibration: ${o.samples ?? 128} × ${seqlen} tokens` });
  const ids = isTokenWindows(o.calib) ? checkWindows(m, o.calib)
    : await calibrationSet(m, { sources: o.calib!, samples: o.samples ?? 128, seqlen, seed: o.seed ?? 0 }, o.threads);
  const la = await Linalg.create(o.threads);
  const runner = await LayerRunner.create(m, o.threads);
  try {
    // chunks of ≤ 4096 tokens per run
    const per = Math.max(1, Math.floor(4096 / seqlen));
    const chunks: CalibChunk[] = [];
    for (let i = 0; i < ids.length; i += per) chunks.push({ ids: ids.slice(i, i + per) });
    for (const c of chunks) await runner.embed(c);
    result.calibrationSeconds = now() - tc;
    const skip = new Set(result.skipped);
    for (let l = 0; l < m.config.numLayers; l++) {
      const tl = now();
      const prefix = layerPrefix(m, l);
      const params = runner.readParams(l);
      const original = new Map(params);
      const pending: Array<() => void> = [];
      for (let gi = 0; gi < runner.groups.length; gi++) {
        if (cancelled()) return false;
        const grp = runner.groups[gi];
        const K = grp.inFeatures;
        const H = new Float64Array(K * K);
        const use = (o.trueSequential ?? true) ? params : original;
        for (const c of chunks) {
          if (cancelled()) return false;
          await runner.accumulateHessian(gi, c, use, H);
        }
        for (const suffix of grp.suffixes) {
          if (cancelled()) return false;
          const mod = mods.find((x) => x.name === prefix + suffix.replace(/\.weight$/, ''))!;
          const ts = now();
          const W = weightOf(m, mod);
          const N = mod.outFeatures;
          let q: QuantizedLinear | undefined;
          let w: Float32Array;
          let baseline: Float32Array;
          let sparsity: number | undefined;
          if (o.method === 'gptq' && !skip.has(mod.name)) {
            const r = await gptqQuantize(la, W, Float64Array.from(H), N, K, {
              ...quantOpts, actOrder: o.actOrder, staticGroups: o.staticGroups, dampPercent: o.dampPercent, blockSize: o.blockSize,
            }, mod.name);
            q = r.quantized;
            w = dequantize(q);
            baseline = dequantize(quantizeRtn(W, N, K, quantOpts, mod.name));
          } else if (o.method === 'gptq') {
            w = W;
            baseline = W;
          } else {
            const joint = o.bits !== undefined && !skip.has(mod.name);
            const r = await sparseGpt(la, W, Float64Array.from(H), N, K, {
              sparsity: o.sparsity, pattern: o.pattern, dampPercent: o.dampPercent, blockSize: o.blockSize,
              quant: joint ? quantOpts : undefined,
            }, mod.name);
            q = r.quantized;
            w = r.weights;
            const mag = magnitudePrune(W, N, K, { sparsity: o.sparsity, pattern: o.pattern }, mod.name).weights;
            baseline = joint ? dequantize(quantizeRtn(mag, N, K, quantOpts, mod.name)) : mag;
            sparsity = zeroFraction(w);
          }
          const ref = await reconstructionError(la, W, new Float32Array(W.length), H, N, K);
          const error = await reconstructionError(la, W, w, H, N, K);
          const baselineError = await reconstructionError(la, W, baseline, H, N, K);
          const apply = () => {
            params.set(`${suffix.replace(/\.weight$/, '')}.weight`, storedLayout(mod, w));
            finishModule(mod, q, w, { error, relError: ref > 0 ? error / ref : 0, baselineError, sparsity, seconds: now() - ts });
          };
          if (o.trueSequential ?? true) apply(); else pending.push(apply);
          progress({ stage: 'module', layer: l, module: mod.name, message: `${mod.name}: ‖ΔWX‖²/‖WX‖² = ${(ref > 0 ? error / ref : 0).toExponential(2)} (baseline ${(ref > 0 ? baselineError / ref : 0).toExponential(2)})` });
        }
      }
      for (const f of pending) f();
      for (const c of chunks) {
        if (cancelled()) return false;
        await runner.forward(c, params);
      }
      result.layerSeconds.push(now() - tl);
      progress({ stage: 'layer', layer: l, message: `layer ${l + 1}/${m.config.numLayers} done (${(now() - tl).toFixed(2)} s)` });
    }
    return true;
  } finally {
    await runner.release();
    await la.release();
  }
}
