// GPTQ / SparseGPT on synthetic layers: the blocked ORT linear algebra against float64, GPTQ against a
// float64 column-by-column transcription of the algorithm written here, GPTQ beating RTN and SparseGPT
// beating magnitude pruning on ‖ΔW X‖, exact sparsity and N:M patterns, joint sparsity + quantization.

import { strict as assert } from 'assert';
import { prng } from '../../helpers/tiny-hf';
import { Linalg } from '../../../src/engine/compress/linalg';
import { gptqQuantize, reconstructionError } from '../../../src/engine/compress/gptq';
import { kthSmallest, magnitudePrune, smallest, sparseGpt } from '../../../src/engine/compress/sparsegpt';
import { quantizeRtn } from '../../../src/engine/compress/rtn';
import { dequantize, QuantBits } from '../../../src/engine/models/quant/gptq-format';
import { findParams } from '../../../src/engine/compress/quant-grid';
import { expectIdpError } from '../../helpers/tiny-hf';

// The quantization grid restated from GPTQ's Quantizer (per row over a group: xmin = min(0, min w), xmax =
// max(0, max w); sym: symmetric range and zero 2^(bits−1); both 0 → [−1, 1]; scale = (xmax − xmin) / maxq,
// zero = round(−xmin / scale); code = clamp(round(w / scale) + zero, 0, maxq)) plus IDP Lab's two documented
// rules (docs/compression.md): scales rounded to fp16 as stored, and the v1 layout's zero ≥ 1 (a zero that would
// round to 0 becomes 1 with scale xmax / (maxq − 1)). Written here without the engine's quant-grid.ts.
const rne = (x: number) => { const f = Math.floor(x); const d = x - f; return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f; };
function toF16(x: number): number {
  if (x === 0) return 2 ** -24;
  const e = Math.max(Math.floor(Math.log2(x)), -14);   // below 2^-14 fp16 is subnormal: fixed step 2^-24
  const step = 2 ** (e - 10);
  return Math.max(rne(x / step) * step, 2 ** -24);
}
function refGrid(w: ArrayLike<number>, N: number, K: number, cols: number[], bits: number, sym: boolean): { scale: number[]; zero: number[] } {
  const maxq = 2 ** bits - 1;
  const scale: number[] = [], zero: number[] = [];
  for (let r = 0; r < N; r++) {
    let lo = Math.min(0, ...cols.map((c) => w[r * K + c]));
    let hi = Math.max(0, ...cols.map((c) => w[r * K + c]));
    if (sym) { hi = Math.max(-lo, hi); if (lo < 0) lo = -hi; }
    if (lo === 0 && hi === 0) { lo = -1; hi = 1; }
    let s = toF16((hi - lo) / maxq);
    let z = sym ? (maxq + 1) / 2 : Math.min(maxq, Math.max(0, rne(-lo / s)));
    if (!sym && z < 1) { s = toF16(hi / (maxq - 1)); z = 1; }
    scale.push(s); zero.push(z);
  }
  return { scale, zero };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Correlated activations X [rows, K] (a shared low-rank part + noise + a few large channels) → H = XᵀX (float64). */
function hessian(rows: number, K: number, seed: number): Float64Array {
  const r = prng(seed);
  const rank = 6;
  const basis = Array.from({ length: rank * K }, () => gauss(r));
  const H = new Float64Array(K * K);
  const x = new Float64Array(K);
  for (let t = 0; t < rows; t++) {
    const c = Array.from({ length: rank }, () => gauss(r));
    for (let k = 0; k < K; k++) {
      let v = 0.3 * gauss(r);
      for (let j = 0; j < rank; j++) v += c[j] * basis[j * K + k];
      x[k] = v * (k % 17 === 0 ? 4 : 1);
    }
    for (let i = 0; i < K; i++) { const xi = x[i]; if (xi !== 0) for (let j = 0; j < K; j++) H[i * K + j] += xi * x[j]; }
  }
  return H;
}

function randomW(N: number, K: number, seed: number): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: N * K }, () => gauss(r) * 0.1);
}

/** Float64 GPTQ, column by column without blocks (mathematically the same update), per-channel or plain groups. */
function refGptq(W0: Float32Array, H0: Float64Array, N: number, K: number, bits: number, gs: number, sym: boolean, damp = 0.01): Float64Array {
  const W = Float64Array.from(W0);
  const H = Float64Array.from(H0);
  let mean = 0;
  for (let i = 0; i < K; i++) mean += H[i * K + i];
  for (let i = 0; i < K; i++) H[i * K + i] += damp * mean / K;
  // Hinv by Gauss-Jordan (float64), then its upper Cholesky factor U (Hinv = Uᵀ U)
  const A = Float64Array.from(H);
  const inv = new Float64Array(K * K);
  for (let i = 0; i < K; i++) inv[i * K + i] = 1;
  for (let c = 0; c < K; c++) {
    const p = A[c * K + c];
    for (let j = 0; j < K; j++) { A[c * K + j] /= p; inv[c * K + j] /= p; }
    for (let r = 0; r < K; r++) {
      if (r === c) continue;
      const f = A[r * K + c];
      if (f) for (let j = 0; j < K; j++) { A[r * K + j] -= f * A[c * K + j]; inv[r * K + j] -= f * inv[c * K + j]; }
    }
  }
  const U = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    let d = inv[i * K + i];
    for (let k = 0; k < i; k++) d -= U[k * K + i] ** 2;
    U[i * K + i] = Math.sqrt(d);
    for (let j = i + 1; j < K; j++) {
      let v = inv[i * K + j];
      for (let k = 0; k < i; k++) v -= U[k * K + i] * U[k * K + j];
      U[i * K + j] = v / U[i * K + i];
    }
  }
  const maxq = 2 ** bits - 1;
  const g = gs === -1 ? K : gs;
  let grid = { scale: [] as number[], zero: [] as number[] };
  const Q = new Float64Array(N * K);
  for (let i = 0; i < K; i++) {
    if (i % g === 0) grid = refGrid(W, N, K, Array.from({ length: g }, (_, j) => i + j), bits, sym);
    for (let r = 0; r < N; r++) {
      const w = W[r * K + i];
      const s = grid.scale[r], z = grid.zero[r];
      const q = Math.fround(s * (Math.min(maxq, Math.max(0, rne(w / s) + z)) - z));
      Q[r * K + i] = q;
      const e = (w - q) / U[i * K + i];
      for (let j = i; j < K; j++) W[r * K + j] -= e * U[i * K + j];
    }
  }
  return Q;
}

describe('compress linear algebra (ORT-backed, blocked)', () => {
  let la: Linalg;
  before(async () => { la = await Linalg.create(1); });
  after(async () => { await la.release(); });

  it('hinvFactor gives U upper with Uᵀ U H = I over several blocks', async () => {
    const K = 300;
    const H = hessian(600, K, 3);
    for (let i = 0; i < K; i++) H[i * K + i] += 1;
    const U = await la.hinvFactor(Float64Array.from(H), K);
    let worst = 0;
    for (let i = 0; i < K; i++) for (let j = 0; j < i; j++) assert.equal(U[i * K + j], 0);
    // (Uᵀ U H)[i][j]
    const UH = new Float64Array(K * K);
    for (let i = 0; i < K; i++) for (let k = i; k < K; k++) { const u = U[i * K + k]; if (u) for (let j = 0; j < K; j++) UH[i * K + j] += u * H[k * K + j]; }
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        let v = 0;
        for (let k = 0; k <= Math.min(i, K - 1); k++) v += U[k * K + i] * UH[k * K + j];
        worst = Math.max(worst, Math.abs(v - (i === j ? 1 : 0)));
      }
    }
    assert.ok(worst < 2e-3, `max |Uᵀ U H − I| = ${worst}`);
  });

  it('a matrix that is not positive definite is an INPUT error', async () => {
    const H = new Float64Array([1, 2, 2, 1]);
    await expectIdpError(() => la.hinvFactor(H, 2, 'q_proj'), 'INPUT', undefined, /q_proj is not positive definite/);
  });
});

describe('quantization grid', () => {
  it('the engine grid equals the restated rules exactly (2–8 bits, sym and asym, wide, narrow, one-signed and zero rows)', () => {
    const N = 64, K = 32;
    const r = prng(77);
    const W = Float32Array.from({ length: N * K }, (_, i) => {
      const row = Math.floor(i / K);
      const g = gauss(r) * 10 ** ((row % 7) - 4);                  // 1e-4 … 1e2
      return row % 9 === 0 ? 0 : row % 5 === 0 ? Math.abs(g) : row % 11 === 0 ? -Math.abs(g) : g;
    });
    const cols = Array.from({ length: K }, (_, j) => j);
    let rows = 0;
    for (const bits of [2, 3, 4, 8] as QuantBits[]) {
      for (const sym of [false, true]) {
        const scale = new Float32Array(N), zero = new Int32Array(N);
        findParams(W, N, K, cols, { bits, sym }, scale, zero);
        const ref = refGrid(W, N, K, cols, bits, sym);
        for (let i = 0; i < N; i++, rows++) {
          assert.equal(scale[i], ref.scale[i], `${bits}-bit sym=${sym} row ${i}: scale`);
          assert.equal(zero[i], ref.zero[i], `${bits}-bit sym=${sym} row ${i}: zero`);
        }
      }
    }
    assert.equal(rows, 512);
  });
});

describe('GPTQ on synthetic layers', function () {
  this.timeout(30000);
  let la: Linalg;
  before(async () => { la = await Linalg.create(1); });
  after(async () => { await la.release(); });

  it('matches a float64 column-by-column GPTQ (codes and error)', async () => {
    const N = 24, K = 160;   // two blocks of 128
    const W = randomW(N, K, 5);
    const H = hessian(400, K, 6);
    for (const [bits, gs] of [[4, -1], [3, 32], [2, 32]] as Array<[QuantBits, number]>) {
      const ref = refGptq(W, H, N, K, bits, gs, false);
      const got = dequantize((await gptqQuantize(la, W, Float64Array.from(H), N, K, { bits, groupSize: gs, sym: false })).quantized);
      let same = 0;
      for (let i = 0; i < ref.length; i++) if (Math.abs(ref[i] - got[i]) < 1e-6) same++;
      assert.ok(same / ref.length > 0.99, `${bits}-bit: ${same} of ${ref.length} weights agree`);
      const eRef = await reconstructionError(la, W, ref, H, N, K);
      const eGot = await reconstructionError(la, W, got, H, N, K);
      assert.ok(Math.abs(eGot - eRef) / eRef < 0.02, `${bits}-bit: error ${eGot} vs reference ${eRef}`);
    }
  });

  it('matches it too when groups straddle or exceed the 128-column panels (96, 256)', async () => {
    // the sweep widens its panels to whole groups and brings a group up to date before choosing its grid;
    // reading stale columns instead (the earlier block-lazy sweep) agreed on only 57 % of weights here.
    // One float32 near-tie (row 2, group 5 for 96) flips a code and the difference runs down that row.
    const N = 12, K = 768;
    const W = randomW(N, K, 8);
    const H = hessian(900, K, 9);
    for (const gs of [96, 256]) {
      const ref = refGptq(W, H, N, K, 3, gs, false);
      const got = dequantize((await gptqQuantize(la, W, Float64Array.from(H), N, K, { bits: 3, groupSize: gs, sym: false })).quantized);
      let same = 0;
      for (let i = 0; i < ref.length; i++) if (Math.abs(ref[i] - got[i]) < 1e-6) same++;
      assert.ok(same / ref.length > 0.97, `group ${gs}: ${same} of ${ref.length} weights agree`);
      const eRef = await reconstructionError(la, W, ref, H, N, K);
      const eGot = await reconstructionError(la, W, got, H, N, K);
      assert.ok(Math.abs(eGot - eRef) / eRef < 0.02, `group ${gs}: error ${eGot} vs reference ${eRef}`);
    }
  });

  for (const bits of [2, 3, 4, 8] as QuantBits[]) {
    it(`${bits}-bit: lower ‖ΔW X‖ than RTN (per-channel, group 32, act-order, static groups, sym)`, async () => {
      const N = 48, K = 192;
      const W = randomW(N, K, 10 + bits);
      const H = hessian(500, K, 20 + bits);
      for (const o of [{ groupSize: -1, sym: false }, { groupSize: 32, sym: false }, { groupSize: 32, sym: true, actOrder: true },
        { groupSize: 32, sym: false, actOrder: true, staticGroups: true }]) {
        const r = await gptqQuantize(la, W, Float64Array.from(H), N, K, { bits, ...o });
        const q = r.quantized;
        assert.ok(q.codes.every((c) => c < 2 ** bits));
        if (o.actOrder && !o.staticGroups) assert.ok(q.gIdx.some((g, k) => g !== Math.floor(k / 32)), 'act-order permutes g_idx');
        if (o.staticGroups) assert.ok(q.gIdx.every((g, k) => g === Math.floor(k / 32)));
        const rtn = dequantize(quantizeRtn(W, N, K, { bits, groupSize: o.groupSize, sym: o.sym }));
        const eG = await reconstructionError(la, W, dequantize(q), H, N, K);
        const eR = await reconstructionError(la, W, rtn, H, N, K);
        assert.ok(eG < eR, `${JSON.stringify(o)}: GPTQ ${eG} ≥ RTN ${eR}`);
      }
    });
  }

  it('dead inputs (zero Hessian rows) get zero weight and no NaN', async () => {
    const N = 8, K = 64;
    const W = randomW(N, K, 1);
    const H = hessian(200, K, 2);
    for (let j = 0; j < K; j++) { H[5 * K + j] = 0; H[j * K + 5] = 0; }
    const q = dequantize((await gptqQuantize(la, W, H, N, K, { bits: 4, groupSize: -1, sym: true })).quantized);
    assert.ok(q.every(Number.isFinite));
    for (let r = 0; r < N; r++) assert.equal(q[r * K + 5], 0);
  });
});

describe('SparseGPT on synthetic layers', function () {
  this.timeout(30000);
  let la: Linalg;
  before(async () => { la = await Linalg.create(1); });
  after(async () => { await la.release(); });
  const N = 40, K = 256;
  const W = randomW(N, K, 31);
  const H = hessian(500, K, 32);

  it('unstructured: exactly the requested number of zeros, lower error than magnitude pruning', async () => {
    for (const p of [0.5, 0.3, 0.77]) {
      const r = await sparseGpt(la, W, Float64Array.from(H), N, K, { sparsity: p });
      const zeros = r.weights.reduce((a, x) => a + (x === 0 ? 1 : 0), 0);
      assert.equal(zeros, Math.round(p * N * K));
      const mag = magnitudePrune(W, N, K, { sparsity: p });
      assert.equal(mag.weights.reduce((a, x) => a + (x === 0 ? 1 : 0), 0), Math.round(p * N * K));
      const eS = await reconstructionError(la, W, r.weights, H, N, K);
      const eM = await reconstructionError(la, W, mag.weights, H, N, K);
      assert.ok(eS < eM, `p=${p}: SparseGPT ${eS} ≥ magnitude ${eM}`);
    }
  });

  it('N:M: every aligned group of M inputs in every row has exactly N zeros (2:4, 4:8)', async () => {
    for (const [n, m] of [[2, 4], [4, 8]]) {
      const r = await sparseGpt(la, W, Float64Array.from(H), N, K, { pattern: { n, m } });
      for (let row = 0; row < N; row++) {
        for (let c = 0; c < K; c += m) {
          let z = 0;
          for (let j = 0; j < m; j++) z += r.weights[row * K + c + j] === 0 ? 1 : 0;
          assert.equal(z, n, `row ${row} cols ${c}…${c + m - 1}`);
        }
      }
      const mag = magnitudePrune(W, N, K, { pattern: { n, m } });
      assert.ok(await reconstructionError(la, W, r.weights, H, N, K) < await reconstructionError(la, W, mag.weights, H, N, K));
    }
  });

  it('joint 50% + 4-bit: pruned weights stay exactly 0, the rest are on the grid', async () => {
    const r = await sparseGpt(la, W, Float64Array.from(H), N, K, { sparsity: 0.5, quant: { bits: 4, groupSize: 64, sym: false } });
    const deq = dequantize(r.quantized!);
    assert.deepEqual(deq, r.weights);
    let z = 0;
    for (let i = 0; i < deq.length; i++) { if (r.mask[i]) assert.equal(deq[i], 0); if (deq[i] === 0) z++; }
    assert.ok(z >= Math.round(0.5 * N * K));
  });

  it('selection gives the sorted order statistic (ties, constants, one element) and smallest() its indices', () => {
    const r = prng(77);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(r() * 200);
      const kind = trial % 3;
      const a = Float64Array.from({ length: n }, () => (kind === 0 ? Math.floor(r() * 4) : kind === 1 ? r() : 2));
      const sorted = Float64Array.from(a).sort();
      const t = Math.floor(r() * n);
      assert.equal(kthSmallest(Float64Array.from(a), t), sorted[t]);
      const idx = smallest(a, t + 1);
      const picked = Array.from(idx, (i) => a[i]).sort((x, y) => x - y);
      assert.deepEqual(picked, Array.from(sorted.subarray(0, t + 1)));
    }
  });

  it('bad targets are INPUT errors naming the layer', async () => {
    await expectIdpError(() => sparseGpt(la, W, Float64Array.from(H), N, K, { sparsity: 1.2 }, 'fc1'), 'INPUT', undefined, /fc1: sparsity/);
    await expectIdpError(() => sparseGpt(la, W, Float64Array.from(H), N, K, { pattern: { n: 2, m: 3 } }, 'fc1'), 'INPUT', undefined, /multiple of M = 3/);
    await expectIdpError(() => sparseGpt(la, W, Float64Array.from(H), N, K, {}, 'fc1'), 'INPUT', undefined, /either/);
  });
});
