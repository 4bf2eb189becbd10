// The round-to-nearest K-quant writer (src/engine/formats/ggml-quantize.ts) checked through the test's own
// ggml block decoder (test/helpers/ggml-blocks.ts, written from ggml's dequantize_row_* independently of
// the writer): every value comes back within about half a quantization step of its sub-block, the error
// over noise is that of a uniform quantizer of the sub-block's range, zero blocks stay zero, and Q6_K
// keeps each block's largest-magnitude value (it maps to code −32 exactly).

import { strict as assert } from 'assert';
import { QK_K, Q4_K_BYTES, Q6_K_BYTES, quantizeQ4_K, quantizeQ6_K } from '../../../src/engine/formats/ggml-quantize';
import { blockBytes, dequantBlocks } from '../../helpers/ggml-blocks';
import { mulberry32 } from '../../helpers/prng';

/** Rows of noise in kinds that exercise the writer: symmetric, all-positive, all-negative, with outliers, tiny. */
function testValues(blocks: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const x = new Float32Array(blocks * QK_K);
  for (let b = 0; b < blocks; b++) {
    const kind = b % 5;
    const size = [0.05, 1, 0.02, 3, 0.3][kind];
    for (let i = 0; i < QK_K; i++) {
      let v = (r() * 2 - 1) * size;
      if (kind === 1) v = Math.abs(v) + 0.5;          // all positive: the minimum is clipped to 0
      if (kind === 2) v = -Math.abs(v) - 0.01;        // all negative
      if (kind === 3 && r() < 0.02) v *= 8;           // outliers
      x[b * QK_K + i] = v;
    }
  }
  return x;
}

/**
 * Errors per sub-block of `sub` values against the step of a uniform grid over the sub-block's range
 * (`step`: Q4_K 16 levels over [min(lo, 0), hi], Q6_K ±max|x| in 32 steps each way): `worst` is the
 * largest error in units of the largest such step in its 256-value block (the sub-block scales are
 * themselves rounded onto the block's grid, which moves a small sub-block's grid by up to half a block
 * scale unit), `rmsRatio` the RMS error over that of ideal per-sub-block uniform quantizers (step/√12).
 */
function errorStats(x: Float32Array, y: Float64Array, sub: number, step: (v: Float32Array) => number): { worst: number; rmsRatio: number } {
  let worst = 0, se = 0, ideal = 0;
  for (let b = 0; b < x.length / QK_K; b++) {
    let blockStep = 0;
    for (let s = b * QK_K; s < (b + 1) * QK_K; s += sub) blockStep = Math.max(blockStep, step(x.subarray(s, s + sub)));
    for (let s = b * QK_K; s < (b + 1) * QK_K; s += sub) {
      const h = step(x.subarray(s, s + sub));
      for (let i = s; i < s + sub; i++) {
        const e = Math.abs(x[i] - y[i]);
        worst = Math.max(worst, e / blockStep);
        se += e * e;
        ideal += (h * h) / 12;
      }
    }
  }
  return { worst, rmsRatio: Math.sqrt(se / ideal) };
}

describe('ggml K-quant writer (round to nearest)', () => {
  it('Q4_K: blocks of 144 bytes that decode to within ~half a step of each 32-value sub-block', () => {
    const x = testValues(40, 1);
    const q = quantizeQ4_K(x);
    assert.equal(q.length, (x.length / QK_K) * Q4_K_BYTES);
    assert.equal(q.length, blockBytes('Q4_K', x.length));
    const y = dequantBlocks('Q4_K', q, x.length);
    const { worst, rmsRatio } = errorStats(x, y, 32, (v) => (Math.max(...v) - Math.min(0, ...v)) / 15);
    // ½ step from rounding, plus ≤ 15 × ½ scale unit and ½ min unit (each 1/63 of the block's largest).
    assert.ok(worst <= 0.65, `worst error ${worst.toFixed(3)} steps`);
    assert.ok(rmsRatio <= 1.25, `RMS error ${rmsRatio.toFixed(3)} × a uniform quantizer's`);
  });

  it('Q6_K: blocks of 210 bytes that decode to within ~one step of its block (−32..31 grid)', () => {
    const x = testValues(40, 2);
    const q = quantizeQ6_K(x);
    assert.equal(q.length, (x.length / QK_K) * Q6_K_BYTES);
    assert.equal(q.length, blockBytes('Q6_K', x.length));
    const y = dequantBlocks('Q6_K', q, x.length);
    const { worst, rmsRatio } = errorStats(x, y, 16, (v) => Math.max(...v.map(Math.abs)) / 32);
    // The grid is −32..31 with the largest |x| at −32: a value of the other sign as large clips at 31 (one
    // step), plus ≤ 32 × ½ scale unit (1/128 of the block's largest) from rounding the sub-block scale.
    assert.ok(worst <= 1.2, `worst error ${worst.toFixed(3)} steps`);
    assert.ok(rmsRatio <= 1.25, `RMS error ${rmsRatio.toFixed(3)} × a uniform quantizer's`);
  });

  it("Q6_K keeps each block's largest-magnitude value (code −32 at the largest sub-block scale)", () => {
    const x = testValues(10, 3);
    const y = dequantBlocks('Q6_K', quantizeQ6_K(x), x.length);
    for (let b = 0; b < x.length / QK_K; b++) {
      let at = b * QK_K;
      for (let i = b * QK_K; i < (b + 1) * QK_K; i++) if (Math.abs(x[i]) > Math.abs(x[at])) at = i;
      // f16 rounding of d: relative 2⁻¹¹, or for a subnormal d (|x| ≲ 0.25) half its spacing 2⁻²⁴ × 128 × 32.
      assert.ok(Math.abs(y[at] - x[at]) <= 2 ** -11 * Math.abs(x[at]) + 2 ** -13, `block ${b}: ${x[at]} → ${y[at]}`);
    }
  });

  it('zero blocks stay zero, and a length that is not whole blocks is refused', () => {
    const x = new Float32Array(2 * QK_K);
    x.fill(0.25, QK_K);                                  // second block constant
    for (const [type, f] of [['Q4_K', quantizeQ4_K], ['Q6_K', quantizeQ6_K]] as const) {
      const y = dequantBlocks(type, f(x), x.length);
      for (let i = 0; i < QK_K; i++) assert.ok(y[i] === 0, `${type} value ${i}: ${y[i]}`);
      for (let i = QK_K; i < 2 * QK_K; i++) assert.ok(Math.abs(y[i] - 0.25) <= 0.25 * 2e-3, `${type} value ${i}: ${y[i]}`);
      assert.throws(() => f(new Float32Array(QK_K + 32)), new RegExp(`${type}: 288 values`));
    }
  });
});
