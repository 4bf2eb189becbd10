// IDP's selection rule, calibrated (docs/idp.md, "Selection that reads the content").
//
// The graph (graph.ts) reads, at the selection layer ℓ, each query head's attention mass on each prompt,
// averaged over the voting input tokens: f [H·m] (head h, prompt i at h·m + i), and picks
// argmax_i (f·W + b)_i. The paper's rule is W = stacked identities / H, b = 0 (the head-mean mass).
// Measured on banks whose prompts were trained on different kinds of text, that argmax does not follow
// the content: prompts of equal length draw almost the same mass, and the mass that does differ points
// the other way at some layers (../shared/docs/idp-routing-measurements.md). A linear rule fitted on
// each prompt's own text does follow it, and costs the same at run time (one [H·m, m] MatMul).
//
// The fit is linear discriminant analysis: class means μ_i of f over prompt i's calibration documents,
// the pooled within-class covariance S shrunk toward its diagonal, S_α = (1 − α)·S + α·diag(S), and
//   W[:, i] = S_α⁻¹ μ_i,   b_i = −½ μ_iᵀ S_α⁻¹ μ_i        (equal priors: a bank routes whatever comes)
// less their mean over the prompts (the same argmax; scores become log-likelihood ratios)
// α is chosen by stratified k-fold cross-validation, as is the layer (the lowest layer within
// `layerSlack` of the best cross-validated accuracy: at ℓ = 0 IDP equals the chosen prompt alone, and
// every layer before ℓ attends to all prompts, which costs prefill time and changes the result).

import { inputError } from '../errors';

export type SelectionRule = 'paper' | 'calibrated';

export interface SelectionCalibration {
  /** The layer whose per-head masses W reads. */
  layer: number;
  /** W [H·m][m]: row h·m + j (head h's mass on prompt j), column i (prompt i's score). */
  weight: number[][];
  /** b [m]. */
  bias: number[];
  fit: {
    method: 'lda';
    /** Shrinkage α toward the diagonal. */
    shrinkage: number;
    /** Calibration documents per prompt. */
    documents: number[];
    /** Stratified k-fold cross-validated routing accuracy, and k. */
    cvAccuracy: number;
    folds: number;
    /** Accuracy on the calibration documents themselves (with the final fit). */
    trainAccuracy: number;
  };
}

/** The paper's rule as weights: W = stacked identities / H ([H·m, m], row-major), so f·W is the head-mean mass. */
export function paperWeights(H: number, m: number): Float32Array {
  const w = new Float32Array(H * m * m);
  for (let h = 0; h < H; h++) for (let i = 0; i < m; i++) w[(h * m + i) * m + i] = 1 / H;
  return w;
}

export function calibrationWeights(c: SelectionCalibration): { weight: Float32Array; bias: Float32Array } {
  return { weight: Float32Array.from(c.weight.flat()), bias: Float32Array.from(c.bias) };
}

/** Checks a stored calibration's shape against the bank ([H·m][m], [m]); returns a message or undefined. */
export function calibrationProblem(c: SelectionCalibration, H: number, m: number): string | undefined {
  if (!Number.isInteger(c?.layer) || c.layer < 0) return 'its "layer" must be a non-negative integer';
  if (!Array.isArray(c.weight) || c.weight.length !== H * m) return `layer ${c.layer}: "weight" must have ${H * m} rows (heads × prompts)`;
  if (c.weight.some((r) => !Array.isArray(r) || r.length !== m || r.some((x) => !Number.isFinite(x)))) return `layer ${c.layer}: every "weight" row must hold ${m} finite numbers`;
  if (!Array.isArray(c.bias) || c.bias.length !== m || c.bias.some((x) => !Number.isFinite(x))) return `layer ${c.layer}: "bias" must hold ${m} finite numbers`;
  return undefined;
}

// ---- linear discriminant analysis ---------------------------------------------------------------

const ALPHAS = [0.02, 0.1, 0.3, 0.6, 1];

interface Lda { weight: Float64Array; bias: Float64Array }   // weight [F, m] row-major

/** Solves A x = B for symmetric positive definite A [F, F] and B [F, m] (Cholesky); both row-major. */
function solveSpd(A: Float64Array, B: Float64Array, F: number, m: number): Float64Array {
  const L = new Float64Array(F * F);
  for (let i = 0; i < F; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * F + j];
      for (let k = 0; k < j; k++) s -= L[i * F + k] * L[j * F + k];
      if (i === j) L[i * F + i] = Math.sqrt(Math.max(s, 1e-300));
      else L[i * F + j] = s / L[j * F + j];
    }
  }
  const X = Float64Array.from(B);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < F; i++) {            // L y = b
      let s = X[i * m + c];
      for (let k = 0; k < i; k++) s -= L[i * F + k] * X[k * m + c];
      X[i * m + c] = s / L[i * F + i];
    }
    for (let i = F - 1; i >= 0; i--) {       // Lᵀ x = y
      let s = X[i * m + c];
      for (let k = i + 1; k < F; k++) s -= L[k * F + i] * X[k * m + c];
      X[i * m + c] = s / L[i * F + i];
    }
  }
  return X;
}

function fitLda(x: Float64Array[], y: number[], m: number, alpha: number): Lda {
  const F = x[0].length;
  const mu = new Float64Array(m * F);       // [m, F]
  const count = new Array<number>(m).fill(0);
  x.forEach((v, n) => { count[y[n]]++; for (let f = 0; f < F; f++) mu[y[n] * F + f] += v[f]; });
  for (let i = 0; i < m; i++) for (let f = 0; f < F; f++) mu[i * F + f] /= Math.max(count[i], 1);
  const S = new Float64Array(F * F);
  const d = new Float64Array(F);
  x.forEach((v, n) => {
    for (let f = 0; f < F; f++) d[f] = v[f] - mu[y[n] * F + f];
    for (let a = 0; a < F; a++) for (let b = 0; b <= a; b++) S[a * F + b] += d[a] * d[b];
  });
  const dof = Math.max(x.length - m, 1);
  let meanDiag = 0;
  for (let a = 0; a < F; a++) meanDiag += S[a * F + a] / dof / F;
  const ridge = 1e-6 * meanDiag + 1e-12;     // constant features (a prompt no head looks at) stay solvable
  for (let a = 0; a < F; a++) {
    for (let b = 0; b < a; b++) { S[a * F + b] *= (1 - alpha) / dof; S[b * F + a] = S[a * F + b]; }
    S[a * F + a] = S[a * F + a] / dof + ridge;
  }
  const muT = new Float64Array(F * m);      // [F, m]
  for (let i = 0; i < m; i++) for (let f = 0; f < F; f++) muT[f * m + i] = mu[i * F + f];
  const weight = solveSpd(S, muT, F, m);
  const bias = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let q = 0;
    for (let f = 0; f < F; f++) q += mu[i * F + f] * weight[f * m + i];
    bias[i] = -0.5 * q;
  }
  // the same argmax with every score less the prompts' mean: scores are then log-likelihood ratios against
  // the average prompt (LDA's class posteriors are their softmax), with magnitudes float32 keeps exact
  for (let f = 0; f < F; f++) {
    let mean = 0;
    for (let i = 0; i < m; i++) mean += weight[f * m + i] / m;
    for (let i = 0; i < m; i++) weight[f * m + i] -= mean;
  }
  const mb = bias.reduce((x, v) => x + v, 0) / m;
  for (let i = 0; i < m; i++) bias[i] -= mb;
  return { weight, bias };
}

function predict(l: Lda, v: Float64Array, m: number): number {
  let best = 0;
  let top = -Infinity;
  for (let i = 0; i < m; i++) {
    let s = l.bias[i];
    for (let f = 0; f < v.length; f++) s += v[f] * l.weight[f * m + i];
    if (s > top) { top = s; best = i; }
  }
  return best;
}

/** Stratified k-fold folds: a document's fold is its group's rank within its class mod k (parts of one document share a fold). */
function folds(y: number[], groups: number[], m: number, k: number): number[] {
  const rank = new Array<number>(m).fill(0);
  const seen = new Map<number, number>();
  return y.map((c, n) => {
    let f = seen.get(groups[n]);
    if (f === undefined) { f = rank[c]++ % k; seen.set(groups[n], f); }
    return f;
  });
}

/** Stratified k-fold accuracy of LDA with shrinkage α. */
function cvAccuracy(x: Float64Array[], y: number[], fold: number[], m: number, alpha: number, k: number): number {
  let right = 0;
  for (let f = 0; f < k; f++) {
    const tr = x.map((_, n) => n).filter((n) => fold[n] !== f);
    const l = fitLda(tr.map((n) => x[n]), tr.map((n) => y[n]), m, alpha);
    x.forEach((v, n) => { if (fold[n] === f && predict(l, v, m) === y[n]) right++; });
  }
  return right / x.length;
}

/**
 * Fits the calibration of one layer from labelled features (x[n] = f of document n at `layer`, y[n] its
 * prompt; groups[n]: which source document it is a part of, default its own). Every prompt needs at least 2 documents.
 */
export function fitCalibration(layer: number, x: Float32Array[], y: number[], m: number, groups?: number[]): SelectionCalibration {
  const documents = new Array<number>(m).fill(0);
  const g = groups ?? y.map((_, n) => n);
  const sources = new Set<number>();
  y.forEach((c, n) => { if (!sources.has(g[n])) { sources.add(g[n]); documents[c]++; } });
  if (documents.some((n) => n < 2)) throw inputError(`calibrating the selection needs at least 2 documents for every prompt (have ${documents.join(', ')})`);
  const xs = x.map((v) => Float64Array.from(v));
  const k = Math.min(5, Math.min(...documents));
  const fold = folds(y, g, m, k);
  let best = { alpha: 1, acc: -1 };
  for (const alpha of ALPHAS) {
    const acc = cvAccuracy(xs, y, fold, m, alpha, k);
    if (acc > best.acc + 1e-12 || (Math.abs(acc - best.acc) <= 1e-12 && alpha > best.alpha)) best = { alpha, acc };
  }
  const l = fitLda(xs, y, m, best.alpha);
  const F = xs[0].length;
  const trainAccuracy = xs.filter((v, n) => predict(l, v, m) === y[n]).length / xs.length;
  return {
    layer,
    weight: Array.from({ length: F }, (_, f) => Array.from(l.weight.subarray(f * m, (f + 1) * m))),
    bias: Array.from(l.bias),
    fit: { method: 'lda', shrinkage: best.alpha, documents, cvAccuracy: best.acc, folds: k, trainAccuracy },
  };
}

/** Per layer, how many of the labelled documents the paper's rule (argmax of the head-mean mass) routes right. */
export function paperAccuracy(x: Float32Array[], y: number[], H: number, m: number): number {
  let right = 0;
  x.forEach((v, n) => {
    let best = 0;
    let top = -Infinity;
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let h = 0; h < H; h++) s += v[h * m + i];
      if (s > top) { top = s; best = i; }
    }
    if (best === y[n]) right++;
  });
  return right / x.length;
}

/** The layer to select at: the lowest whose cross-validated accuracy is within `slack` of the best. */
export function chooseLayer(fits: SelectionCalibration[], slack: number): SelectionCalibration {
  const top = Math.max(...fits.map((f) => f.fit.cvAccuracy));
  return fits.filter((f) => f.fit.cvAccuracy >= top - slack).sort((a, b) => a.layer - b.layer)[0];
}
