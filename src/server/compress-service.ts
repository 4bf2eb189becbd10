// idp/compress in the engine process: the compression pipeline (engine/compress) in-process, with
// progress per layer and cancellation between modules. The output folder appears only when complete.

import { performance } from 'perf_hooks';
import { compressModel } from '../engine/compress/compress';
import { linearModules } from '../engine/compress/modules';
import { loadModel } from '../engine/models/load';
import type { LoadedModel } from '../engine/models/config';
import type { QuantBits } from '../engine/compress/gptq-format';
import { inputError } from '../engine/errors';
import type { CompressParams, CompressProgressValue, CompressReply } from './workflow-protocol';
import { isNonEmptyString, ParamChecker } from './params';
import type { Cancellation } from './engine-service';
import { OutputClaim, withClaim } from '../engine/formats/output-folder';

const KEYS = ['model', 'method', 'out', 'bits', 'groupSize', 'sym', 'actOrder', 'sparsity', 'pattern', 'calib', 'samples', 'seqlen', 'seed',
  'dense', 'skipUnfit', 'threads', 'progressToken'] as const;

export function checkCompressParams(p: CompressParams): void {
  const c = ParamChecker.of('compress', p, KEYS);
  c.model('model', true);
  c.oneOf('method', ['rtn', 'gptq', 'sparsegpt', 'magnitude'], true);
  c.path('out', true);
  c.oneOf('bits', [2, 3, 4, 8]);
  if (p.groupSize !== undefined && p.groupSize !== -1) c.int('groupSize', 1);
  c.bool('sym');
  c.bool('actOrder');
  c.num('sparsity', 0, 1, { maxExclusive: true });
  if (p.pattern !== undefined && !(typeof p.pattern === 'string' && /^\d+:\d+$/.test(p.pattern))) c.fail('pattern', "'N:M', e.g. '2:4'");
  c.data('calib', true);
  if (Array.isArray(p.calib) && !p.calib.every((x) => isNonEmptyString(x))) c.fail('calib', 'files / globs');
  c.int('samples', 1);
  c.int('seqlen', 2);
  c.int('seed', 0);
  c.bool('dense');
  c.bool('skipUnfit');
  c.int('threads', 1);
  c.progressToken();
  if ((p.method === 'rtn' || p.method === 'gptq') && p.bits === undefined) throw inputError(`compress: method ${p.method} needs bits`);
  if ((p.method === 'gptq' || p.method === 'sparsegpt') && p.calib === undefined) throw inputError(`compress: method ${p.method} needs calib (files, or 'model')`);
  if ((p.method === 'sparsegpt' || p.method === 'magnitude') && p.sparsity === undefined && p.pattern === undefined) {
    throw inputError(`compress: method ${p.method} needs sparsity or pattern`);
  }
}

/** The largest of 128, 64, 32 that divides every linear layer's input width (GPTQ groups), else per channel (-1). */
export function autoGroupSize(m: LoadedModel): number {
  const widths = linearModules(m.config).map((x) => x.inFeatures);
  return [128, 64, 32].find((g) => widths.every((w) => w % g === 0)) ?? -1;
}

export async function runCompress(p: CompressParams, token: Cancellation, onProgress?: (v: CompressProgressValue) => void): Promise<CompressReply> {
  checkCompressParams(p);
  // claimed before the model is loaded: a refused or busy folder fails at once (output-folder.ts)
  return withClaim(undefined, p.out, { kind: 'compress', mode: 'replace' }, (claim) => compressClaimed(p, claim, token, onProgress));
}

async function compressClaimed(p: CompressParams, claim: OutputClaim, token: Cancellation, onProgress?: (v: CompressProgressValue) => void): Promise<CompressReply> {
  const t0 = performance.now();
  let layersDone = 0;
  let layers = 0;
  onProgress?.({ stage: 'load', layersDone: 0, layers: 0, message: 'loading the model' });
  const pat = p.pattern ? p.pattern.split(':').map(Number) : undefined;
  const m = await loadModel(p.model);
  const groupSize = p.groupSize ?? autoGroupSize(m);
  const r = await compressModel(m, {
    method: p.method, out: p.out, bits: p.bits as QuantBits | undefined, groupSize, sym: p.sym, actOrder: p.actOrder,
    sparsity: p.sparsity, pattern: pat ? { n: pat[0], m: pat[1] } : undefined, calib: p.calib, samples: p.samples, seqlen: p.seqlen,
    seed: p.seed, output: p.dense ? 'dense' : 'gptq', skipUnfit: p.skipUnfit, threads: p.threads, claim,
    isCancelled: () => token.isCancellationRequested,
    onProgress: (e) => {
      layers = e.layers;
      if (e.stage === 'layer') layersDone = (e.layer ?? 0) + 1;
      onProgress?.({ stage: e.stage, layersDone, layers, message: e.message });
    },
  });
  const rel = r.modules.filter((m) => m.relError !== undefined);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : undefined);
  return {
    out: r.out, cancelled: r.cancelled, layers, groupSize, modules: r.modules.length, quantized: r.modules.filter((m) => m.quantized).length, skipped: r.skipped,
    meanRelError: mean(rel.map((m) => m.relError!)),
    meanBaselineRelError: mean(rel.filter((m) => m.baselineError !== undefined && m.error !== undefined && m.error > 0)
      .map((m) => (m.relError! * m.baselineError!) / m.error!)),
    loaders: r.loaders,
    seconds: (performance.now() - t0) / 1000,
  };
}
