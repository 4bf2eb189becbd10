// Fitting a bank's selection from each prompt's own text (`idp bank calibrate`, and `idp bank train` with
// --prompt-data): documents of prompt i's kind go through the IDP graph with every layer attending to
// every prompt (IdpLM.features), each layer's per-head prompt masses are the features, and
// calibration.ts fits one linear rule per layer; the bank keeps them all and selects at the chosen layer.

import type { LoadedModel } from '../models/config';
import type { SessionOptions } from '../runtime/session';
import { inputError } from '../errors';
import type { IdpBank } from './bank';
import { IdpLM } from './runner';
import type { KvGraphOptions } from './kv';
import { chooseLayer, fitCalibration, paperAccuracy, SelectionCalibration } from './calibration';

export interface CalibrateJob {
  model: LoadedModel;
  bank: IdpBank;
  /** Per prompt, its calibration documents as token ids (BOS first where the model uses one). */
  documents: number[][][];
  /** Choose the lowest layer whose cross-validated accuracy is within this of the best (default 0.02). */
  layerSlack?: number;
  /** Fit only this layer (and select there). */
  layer?: number;
  session?: SessionOptions;
  graph?: KvGraphOptions;
  /**
   * Fit on each document and on its first half too (documents of at least 32 tokens): the prompt masses a
   * document's tokens draw drift with its length, so a rule fitted on whole documents alone can misroute
   * shorter inputs of the same kind (measured: train-routed.test.ts, 100 % of held-out stories routed
   * right whole, 52 % cut to their first 128 tokens; 100 % at 64, 128 and 256 tokens fitted with halves).
   * Default true; false fits whole documents only.
   */
  halves?: boolean;
  /** Rows per graph run (default 8). */
  batch?: number;
  onProgress?: (done: number, of: number) => void;
  isCancelled?: () => boolean;
}

export interface LayerFit {
  layer: number;
  /** Routing accuracy of the paper's rule on the calibration documents. */
  paperAccuracy: number;
  /** Cross-validated accuracy of the fitted rule. */
  cvAccuracy: number;
  trainAccuracy: number;
  shrinkage: number;
}

export interface CalibrateResult {
  status: 'done' | 'cancelled';
  /** The layer the bank now selects at. */
  layer: number;
  layers: LayerFit[];
  documents: number[];
}

/** Fits the bank's selection (bank.calibration, bank.selectionLayer) from each prompt's documents; the caller saves the bank. */
export async function calibrateBank(job: CalibrateJob): Promise<CalibrateResult> {
  const { model: m, bank } = job;
  if (job.documents.length !== bank.m) throw inputError(`calibration text for ${job.documents.length} prompts; the bank has ${bank.m}`);
  const L = m.config.numLayers;
  const H = m.config.numHeads;
  if (job.layer !== undefined && !(Number.isInteger(job.layer) && job.layer >= 0 && job.layer < L)) throw inputError(`layer ${job.layer} does not exist: the model has layers 0…${L - 1}`);
  const idp = new IdpLM(m, bank, { ...job.session, graph: job.graph, selection: 'paper' });
  const withHalves = (ids: number[]) => (job.halves !== false && ids.length >= 32 ? [ids, ids.slice(0, Math.ceil(ids.length / 2))] : [ids]);
  let source = 0;
  const all = job.documents.flatMap((docs, i) => docs.flatMap((d) => { const g = source++; return withHalves(d).map((ids) => ({ ids, y: i, g })); }));
  const feats: Float32Array[][] = [];      // [document][layer] → f [H·m]
  const batch = job.batch ?? 8;
  try {
    // similar lengths together: less padding per run
    const order = all.map((_, k) => k).sort((a, b) => all[a].ids.length - all[b].ids.length);
    for (let at = 0; at < order.length; at += batch) {
      if (job.isCancelled?.()) return { status: 'cancelled', layer: bank.selectionLayer, layers: [], documents: job.documents.map((d) => d.length) };
      const rows = order.slice(at, at + batch);
      const f = await idp.features(rows.map((k) => all[k].ids));
      rows.forEach((k, r) => { feats[k] = f[r]; });
      job.onProgress?.(Math.min(at + batch, order.length), order.length);
    }
  } finally {
    await idp.release();
  }
  const y = all.map((d) => d.y);
  const layers = job.layer !== undefined ? [job.layer] : Array.from({ length: L }, (_, l) => l);
  const fits: SelectionCalibration[] = layers.map((l) => fitCalibration(l, feats.map((f) => f[l]), y, bank.m, all.map((d) => d.g)));
  const chosen = job.layer !== undefined ? fits[0] : chooseLayer(fits, job.layerSlack ?? 0.02);
  bank.calibration = fits;
  bank.selectionLayer = chosen.layer;
  return {
    status: 'done', layer: chosen.layer, documents: fits[0].fit.documents,
    layers: fits.map((c) => ({
      layer: c.layer, paperAccuracy: paperAccuracy(feats.map((f) => f[c.layer]), y, H, bank.m),
      cvAccuracy: c.fit.cvAccuracy, trainAccuracy: c.fit.trainAccuracy, shrinkage: c.fit.shrinkage,
    })),
  };
}
