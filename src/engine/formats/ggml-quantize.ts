// Float32 rows → ggml K-quant blocks (Q4_K, Q6_K), round-to-nearest, in ggml's published block layouts
// (the structs of ggml-common.h; the values they stand for are those of ggml's dequantize_row_q4_K /
// _q6_K). Used to write K-quant GGUFs of the benchmark's random models (bench/write-random-llama.ts).
//
// This is plain round-to-nearest: per sub-block a scale (and for Q4_K a minimum) from the sub-block's
// range, the sub-block scales rounded onto the block's 6-/8-bit scale grid, then every value rounded to
// the nearest code under the stored (f16-rounded) scales. It does NOT reproduce llama.cpp's quantizer,
// which searches the sub-block scale and minimum (make_qkx2_quants / make_qx_quants, optionally weighted
// by an importance matrix): llama.cpp's blocks of the same floats differ, and have a somewhat lower error.
// The layout is the same, so any reader of ggml blocks reads these.
//
//   Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}   256 values = 8 sub-blocks of 32;
//        x = d·sc_j·q − dmin·m_j, q ∈ 0..15, sc_j, m_j ∈ 0..63 (6 bits each, packed into scales[12])
//   Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}  256 values = 16 sub-blocks of 16;
//        x = d·sc_j·(q − 32), q ∈ 0..63, sc_j ∈ −128..127; a sub-block's largest |x| maps to code −32
//        (as ggml's symmetric grids), so a value of the other sign as large clips at +31.
//
// f16 block scales of small weights are subnormal (Q6_K's d of weights ~0.02 is ~5e-6), as in ggml's own
// files; the sub-block scales are rounded against the stored d, so this costs only their resolution.

import { f16ToF32, f32ToF16 } from './dtypes';

export const QK_K = 256;
export const Q4_K_BYTES = 144;
export const Q6_K_BYTES = 210;

function checkLength(type: string, x: Float32Array): void {
  if (x.length % QK_K !== 0) throw new Error(`${type}: ${x.length} values are not a whole number of ${QK_K}-value blocks`);
}

/** Round an f32 through f16 (what a reader of the stored scale gets). */
const viaF16 = (v: number) => f16ToF32(f32ToF16(v));

/** `x` (a multiple of 256 values, rows laid end to end) as Q4_K blocks. */
export function quantizeQ4_K(x: Float32Array): Uint8Array {
  checkLength('Q4_K', x);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * Q4_K_BYTES);
  const dv = new DataView(out.buffer);
  const scale = new Float64Array(8), min = new Float64Array(8);   // per sub-block: step and −minimum
  const ls = new Uint8Array(8), lm = new Uint8Array(8);
  for (let b = 0; b < nb; b++) {
    const v = x.subarray(b * QK_K, (b + 1) * QK_K);
    const at = b * Q4_K_BYTES;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let lo = Infinity, hi = -Infinity;
      for (let l = 0; l < 32; l++) { const t = v[32 * j + l]; if (t < lo) lo = t; if (t > hi) hi = t; }
      if (lo > 0) lo = 0;                    // the minimum is subtracted: never positive (as ggml's)
      scale[j] = (hi - lo) / 15;
      min[j] = -lo;
      if (scale[j] > maxScale) maxScale = scale[j];
      if (min[j] > maxMin) maxMin = min[j];
    }
    const d = viaF16(maxScale / 63), dmin = viaF16(maxMin / 63);
    for (let j = 0; j < 8; j++) {
      ls[j] = d > 0 ? Math.min(63, Math.round(scale[j] / d)) : 0;
      lm[j] = dmin > 0 ? Math.min(63, Math.round(min[j] / dmin)) : 0;
    }
    dv.setUint16(at, f32ToF16(d), true);
    dv.setUint16(at + 2, f32ToF16(dmin), true);
    const sc = out.subarray(at + 4, at + 16);
    for (let j = 0; j < 8; j++) {
      if (j < 4) { sc[j] = ls[j]; sc[j + 4] = lm[j]; } else {
        sc[j + 4] = (ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4);
        sc[j - 4] |= (ls[j] >> 4) << 6;
        sc[j] |= (lm[j] >> 4) << 6;
      }
    }
    // Codes under the stored scales: q = round((x + dmin·m) / (d·sc)), clamped to 0..15.
    const qs = out.subarray(at + 16, at + Q4_K_BYTES);
    for (let j = 0; j < 8; j++) {
      const step = Math.fround(d * ls[j]), off = Math.fround(dmin * lm[j]);
      const inv = step > 0 ? 1 / step : 0;
      const chunk = j >> 1, high = j & 1;    // sub-blocks 2c (low nibbles) and 2c+1 (high) share qs[32c..32c+31]
      for (let l = 0; l < 32; l++) {
        const q = Math.max(0, Math.min(15, Math.round((v[32 * j + l] + off) * inv)));
        qs[32 * chunk + l] |= high ? q << 4 : q;
      }
    }
  }
  return out;
}

/** `x` (a multiple of 256 values, rows laid end to end) as Q6_K blocks. */
export function quantizeQ6_K(x: Float32Array): Uint8Array {
  checkLength('Q6_K', x);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * Q6_K_BYTES);
  const dv = new DataView(out.buffer);
  const scale = new Float64Array(16);
  const L = new Uint8Array(QK_K);
  for (let b = 0; b < nb; b++) {
    const v = x.subarray(b * QK_K, (b + 1) * QK_K);
    const at = b * Q6_K_BYTES;
    // Per sub-block of 16: the value of largest magnitude maps to code −32 (the grid is −32..31), as in
    // ggml's symmetric quantizers; the block scale d puts the largest |sub-block scale| at −128.
    let maxScale = 0;
    for (let j = 0; j < 16; j++) {
      let m = 0;
      for (let l = 0; l < 16; l++) { const t = v[16 * j + l]; if (Math.abs(t) > Math.abs(m)) m = t; }
      scale[j] = m / -32;
      if (Math.abs(scale[j]) > Math.abs(maxScale)) maxScale = scale[j];
    }
    const d = viaF16(maxScale / -128);
    const sc = new Int8Array(out.buffer, at + 192, 16);
    for (let j = 0; j < 16; j++) sc[j] = d !== 0 ? Math.max(-128, Math.min(127, Math.round(scale[j] / d))) : 0;
    dv.setUint16(at + 208, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      const step = Math.fround(d * sc[j]);
      const inv = step !== 0 ? 1 / step : 0;
      for (let l = 0; l < 16; l++) L[16 * j + l] = Math.max(-32, Math.min(31, Math.round(v[16 * j + l] * inv))) + 32;
    }
    // Packing (two halves of 128): ql holds the low 4 bits of values l, l+64 (ql[l]) and l+32, l+96
    // (ql[l+32]); qh[l] the high 2 bits of values l, l+32, l+64, l+96.
    for (let h = 0; h < 2; h++) {
      const ql = at + 64 * h, qh = at + 128 + 32 * h, o = 128 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[o + l], q2 = L[o + l + 32], q3 = L[o + l + 64], q4 = L[o + l + 96];
        out[ql + l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
        out[ql + l + 32] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
        out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return out;
}
