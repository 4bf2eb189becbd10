// The compress job (`idp compress`, idp/compress): the compression pipeline (engine/compress) with its
// options checked in one place, the group size chosen automatically when none is given (the largest of
// 128, 64, 32 dividing every layer's input, else one group per row: models/quant/modules.ts autoGroupSize),
// progress per layer and an abort between modules. The output folder appears only when complete.

import { performance } from 'perf_hooks';
import { compressModel, CompressResult, ModuleStat } from '../compress/compress';
import type { QuantBits } from '../models/quant/gptq-format';
import type { LoaderVerdict } from '../compress/gptq-loaders';
import { inputError } from '../errors';
import { withClaim } from '../formats/output-folder';
import { DataSource, ParamChecker } from './check';

export type { DataSource } from './check';
import { cancelledBy, JobHooks } from './hooks';
import { checkModelOptions, MODEL_KEYS, ModelOptions, openModel } from './model';

export type CompressMethodName = 'rtn' | 'gptq' | 'sparsegpt' | 'magnitude';

export interface CompressJobOptions extends ModelOptions {
  method: CompressMethodName;
  /** Output model folder (written atomically). */
  out: string;
  bits?: 2 | 3 | 4 | 8;
  /** -1: one group per row; default the largest of 128, 64, 32 that divides every layer's input, else -1. */
  groupSize?: number;
  /** Symmetric quantization (default true: the checkpoint every GPTQ loader reads). */
  sym?: boolean;
  /** GPTQ: columns by decreasing activation (desc_act); staticGroups: group grids chosen before any update. */
  actOrder?: boolean;
  staticGroups?: boolean;
  /** GPTQ / SparseGPT: calibrate a block's later layers on its already compressed ones (default true). */
  trueSequential?: boolean;
  /** Dampening, fraction of the mean Hessian diagonal (default 0.01). */
  damp?: number;
  /** [0, 1): unstructured sparsity; or an N:M pattern "2:4". */
  sparsity?: number;
  pattern?: string;
  /** Calibration data (gptq, sparsegpt). */
  calib?: DataSource;
  samples?: number;
  seqlen?: number;
  seed?: number;
  /** Write a dense fake-quantized float model instead of the GPTQ layout. */
  dense?: boolean;
  /** Zero-point layout (default gptq). */
  format?: 'gptq' | 'gptq_v2';
  /** Quantize the output projection too (RTN; a tied embedding stored once, quantized), at headBits (4 or 8). */
  quantizeHead?: boolean;
  headBits?: 4 | 8;
  /** Leave layers the GPTQ layout cannot store unquantized instead of failing. */
  skipUnfit?: boolean;
  /** Replace a non-empty output folder IDP Lab wrote. */
  overwrite?: boolean;
}

export interface CompressProgressValue {
  stage: 'load' | 'calibration' | 'layer' | 'module' | 'write';
  /** Layers finished / in the model. */
  layersDone: number;
  layers: number;
  message: string;
}

export interface CompressJobResult {
  out: string;
  cancelled: boolean;
  layers: number;
  /** The quantization group size used. */
  groupSize: number;
  modules: number;
  quantized: number;
  skipped: string[];
  /** Mean ‖ΔWX‖²/‖WX‖² over the modules (calibrated methods), and the RTN / magnitude baseline's. */
  meanRelError?: number;
  meanBaselineRelError?: number;
  /** Which GPTQ loaders (AutoGPTQ, GPTQModel, transformers) read the folder; absent for a float model. */
  loaders?: LoaderVerdict[];
  /** Every module's figures (per-module errors, timings). */
  moduleStats: ModuleStat[];
  seconds: number;
}

const KEYS = [...MODEL_KEYS, 'method', 'out', 'bits', 'groupSize', 'sym', 'actOrder', 'staticGroups', 'trueSequential', 'damp', 'sparsity', 'pattern',
  'calib', 'samples', 'seqlen', 'seed', 'dense', 'format', 'quantizeHead', 'headBits', 'skipUnfit', 'overwrite'] as const;

export function checkCompressOptions(o: CompressJobOptions, absolutePaths = false): void {
  const c = ParamChecker.of('compress', o, KEYS, absolutePaths);
  checkModelOptions(c);
  c.oneOf('method', ['rtn', 'gptq', 'sparsegpt', 'magnitude'], true);
  c.path('out', true);
  c.oneOf('bits', [2, 3, 4, 8]);
  if (o.groupSize !== undefined && o.groupSize !== -1) c.int('groupSize', 1);
  for (const k of ['sym', 'actOrder', 'staticGroups', 'trueSequential', 'dense', 'quantizeHead', 'skipUnfit', 'overwrite'] as const) c.bool(k);
  c.oneOf('headBits', [4, 8]);
  c.num('damp', 0, 1);
  c.num('sparsity', 0, 1, { maxExclusive: true });
  if (o.pattern !== undefined && !(typeof o.pattern === 'string' && /^\d+:\d+$/.test(o.pattern))) c.fail('pattern', "'N:M', e.g. '2:4'");
  c.data('calib', true);
  c.int('samples', 1);
  c.int('seqlen', 2);
  c.int('seed', 0);
  c.oneOf('format', ['gptq', 'gptq_v2']);
  if ((o.method === 'rtn' || o.method === 'gptq') && o.bits === undefined) throw inputError(`compress: method ${o.method} needs bits (--bits)`);
  if ((o.method === 'gptq' || o.method === 'sparsegpt') && o.calib === undefined) {
    throw inputError(`compress: method ${o.method} needs calibration data (--calib FILE..., or --calib model)`);
  }
  if ((o.method === 'sparsegpt' || o.method === 'magnitude') && o.sparsity === undefined && o.pattern === undefined) {
    throw inputError(`compress: method ${o.method} needs sparsity or pattern (--sparsity / --pattern)`);
  }
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : undefined);

/** The figures of a compression (compress.ts's result) as the job reports them. */
export function compressSummary(r: CompressResult, layers: number, seconds: number): CompressJobResult {
  const rel = r.modules.filter((m) => m.relError !== undefined);
  return {
    out: r.out, cancelled: r.cancelled, layers, groupSize: r.groupSize, modules: r.modules.length, quantized: r.modules.filter((m) => m.quantized).length,
    skipped: r.skipped, meanRelError: mean(rel.map((m) => m.relError!)),
    meanBaselineRelError: mean(rel.filter((m) => m.baselineError !== undefined && m.error !== undefined && m.error > 0)
      .map((m) => (m.relError! * m.baselineError!) / m.error!)),
    loaders: r.loaders, moduleStats: r.modules, seconds,
  };
}

export async function run(o: CompressJobOptions, hooks: JobHooks<CompressProgressValue> = {}): Promise<CompressJobResult> {
  checkCompressOptions(o, hooks.absolutePaths);
  // claimed before the model is loaded: a refused or busy folder fails at once (output-folder.ts)
  return withClaim(hooks.claim, o.out, { kind: 'compress', mode: 'replace', overwrite: o.overwrite }, async (claim) => {
    const t0 = performance.now();
    let layersDone = 0;
    hooks.onProgress?.({ stage: 'load', layersDone: 0, layers: 0, message: 'loading the model' });
    const { m, threads } = await openModel(o);
    const pat = o.pattern ? o.pattern.split(':').map(Number) : undefined;
    const r = await compressModel(m, {
      method: o.method, out: o.out, bits: o.bits as QuantBits | undefined, groupSize: o.groupSize, sym: o.sym, actOrder: o.actOrder,
      staticGroups: o.staticGroups, trueSequential: o.trueSequential, dampPercent: o.damp, sparsity: o.sparsity,
      pattern: pat ? { n: pat[0], m: pat[1] } : undefined, calib: o.calib, samples: o.samples, seqlen: o.seqlen, seed: o.seed,
      output: o.dense ? 'dense' : 'gptq', format: o.format, quantizeHead: o.quantizeHead, headBits: o.headBits, skipUnfit: o.skipUnfit, overwrite: o.overwrite, threads, claim,
      isCancelled: cancelledBy(hooks.signal),
      onProgress: (e) => {
        if (e.stage === 'layer') layersDone = (e.layer ?? 0) + 1;
        hooks.onProgress?.({ stage: e.stage, layersDone, layers: e.layers, message: e.message });
      },
    });
    return compressSummary(r, m.config.numLayers, (performance.now() - t0) / 1000);
  });
}
