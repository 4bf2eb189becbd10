// ggml quantized blocks for tests, written from the published block structs (ggml-common.h) and
// dequantization formulas (ggml-quants.c), independently of the engine's converter
// (src/engine/formats/ggml-nbits.ts): randomBlocks() fills every field of every block at random (codes,
// 6-bit sub-block scales and mins, signed Q6_K scales) with f16 super-scales of a sane size, and
// dequantBlocks() decodes them to float64 exactly as ggml's dequantize_row_* define the values.
//
//   Q4_0 {f16 d; u8 qs[16]}                       x[j] = d·(lo(qs[j]) − 8), x[j+16] = d·(hi(qs[j]) − 8)
//   Q4_1 {f16 d; f16 m; u8 qs[16]}                x = d·q + m
//   Q5_0 {f16 d; u32 qh; u8 qs[16]}               5th bit of x[j] is bit j of qh; x = d·(q − 16)
//   Q5_1 {f16 d; f16 m; u32 qh; u8 qs[16]}        x = d·q + m
//   Q8_0 {f16 d; i8 qs[32]}                       x = d·q
//   Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}           256 values, 8 sub-blocks of 32
//   Q5_K {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}
//   Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}           16 sub-blocks of 16

import { f32ToF16 } from '../../src/engine/formats/dtypes';
import { decodeF16 } from './oracle-models';

export type GgmlType = 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q8_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';
export const GGML_TYPE_ID: Record<GgmlType, number> = { Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14 };
const LAYOUT: Record<GgmlType, { qk: number; bytes: number }> = {
  Q4_0: { qk: 32, bytes: 18 }, Q4_1: { qk: 32, bytes: 20 }, Q5_0: { qk: 32, bytes: 22 }, Q5_1: { qk: 32, bytes: 24 },
  Q8_0: { qk: 32, bytes: 34 }, Q4_K: { qk: 256, bytes: 144 }, Q5_K: { qk: 256, bytes: 176 }, Q6_K: { qk: 256, bytes: 210 },
};

export const blockBytes = (type: GgmlType, n: number) => (n / LAYOUT[type].qk) * LAYOUT[type].bytes;

/** Random blocks for `n` values; `size` sets the magnitude of the f16 super-scales (so |x| ≲ 0.1 · size). */
export function randomBlocks(type: GgmlType, n: number, rand: () => number, size = 1): Uint8Array {
  const { qk, bytes } = LAYOUT[type];
  const out = new Uint8Array((n / qk) * bytes);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  const dv = new DataView(out.buffer);
  const h = (at: number, v: number) => dv.setUint16(at, f32ToF16(v), true);
  const u = (lo: number, hi: number) => (lo + rand() * (hi - lo)) * size;
  for (let b = 0; b < n / qk; b++) {
    const at = b * bytes;
    switch (type) {
      case 'Q4_0': case 'Q5_0': h(at, u(0.002, 0.01)); break;
      case 'Q4_1': case 'Q5_1': h(at, u(0.002, 0.006)); h(at + 2, u(-0.06, 0.01)); break;
      case 'Q8_0': h(at, u(2e-4, 8e-4)); break;
      case 'Q4_K': case 'Q5_K': h(at, u(2e-5, 1e-4)); h(at + 2, u(1e-4, 1e-3)); break;
      case 'Q6_K': h(at + 208, u(2e-5, 1e-4)); break;
    }
  }
  return out;
}

/** The 6-bit scale and min of sub-block j of a K-quant's 12 scale bytes (ggml's get_scale_min_k4). */
function scaleMin(s: Uint8Array, j: number): [number, number] {
  return j < 4 ? [s[j] & 63, s[j + 4] & 63] : [(s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)];
}

/** Blocks → float64 values in order (ggml's dequantize_row_*), f32 products as ggml computes them. */
export function dequantBlocks(type: GgmlType, bytes: Uint8Array, n: number): Float64Array {
  const { qk, bytes: size } = LAYOUT[type];
  const y = new Float64Array(n);
  const f32 = Math.fround;
  const half = (at: number) => decodeF16(bytes[at] | (bytes[at + 1] << 8));
  for (let b = 0; b < n / qk; b++) {
    const at = b * size;
    const o = b * qk;
    if (type === 'Q4_0' || type === 'Q4_1' || type === 'Q5_0' || type === 'Q5_1') {
      const d = half(at);
      const hasMin = type === 'Q4_1' || type === 'Q5_1';
      const m = hasMin ? half(at + 2) : 0;
      const five = type === 'Q5_0' || type === 'Q5_1';
      const qhAt = at + (hasMin ? 4 : 2);
      const qh = five ? (bytes[qhAt] | (bytes[qhAt + 1] << 8) | (bytes[qhAt + 2] << 16) | (bytes[qhAt + 3] << 24)) >>> 0 : 0;
      const qs = qhAt + (five ? 4 : 0);
      for (let j = 0; j < 16; j++) {
        let x0 = bytes[qs + j] & 0x0f, x1 = bytes[qs + j] >> 4;
        if (five) { x0 |= ((qh >>> j) & 1) << 4; x1 |= ((qh >>> (j + 16)) & 1) << 4; }
        const off = type === 'Q4_0' ? 8 : type === 'Q5_0' ? 16 : 0;
        y[o + j] = hasMin ? f32(f32(x0 * d) + m) : f32((x0 - off) * d);
        y[o + j + 16] = hasMin ? f32(f32(x1 * d) + m) : f32((x1 - off) * d);
      }
    } else if (type === 'Q8_0') {
      const d = half(at);
      for (let j = 0; j < 32; j++) y[o + j] = f32(((bytes[at + 2 + j] << 24) >> 24) * d);
    } else if (type === 'Q4_K' || type === 'Q5_K') {
      const d = half(at), dmin = half(at + 2);
      const sc = bytes.subarray(at + 4, at + 16);
      const qh = type === 'Q5_K' ? bytes.subarray(at + 16, at + 48) : undefined;
      let q = type === 'Q5_K' ? at + 48 : at + 16;
      let is = 0, u1 = 1, u2 = 2, k = o;
      for (let j = 0; j < 256; j += 64) {
        const [s1, m1] = scaleMin(sc, is), [s2, m2] = scaleMin(sc, is + 1);
        const d1 = f32(d * s1), mm1 = f32(dmin * m1), d2 = f32(d * s2), mm2 = f32(dmin * m2);
        for (let l = 0; l < 32; l++) y[k++] = f32(d1 * ((bytes[q + l] & 0x0f) + (qh && (qh[l] & u1) ? 16 : 0)) - mm1);
        for (let l = 0; l < 32; l++) y[k++] = f32(d2 * ((bytes[q + l] >> 4) + (qh && (qh[l] & u2) ? 16 : 0)) - mm2);
        q += 32; is += 2; u1 <<= 2; u2 <<= 2;
      }
    } else {
      const d = half(at + 208);
      let ql = at, qh = at + 128, sc = at + 192, k = o;
      for (let n128 = 0; n128 < 2; n128++) {
        for (let l = 0; l < 32; l++) {
          const is = Math.floor(l / 16);
          const s = (i: number) => (bytes[sc + i] << 24) >> 24;
          const q1 = ((bytes[ql + l] & 0xf) | (((bytes[qh + l] >> 0) & 3) << 4)) - 32;
          const q2 = ((bytes[ql + l + 32] & 0xf) | (((bytes[qh + l] >> 2) & 3) << 4)) - 32;
          const q3 = ((bytes[ql + l] >> 4) | (((bytes[qh + l] >> 4) & 3) << 4)) - 32;
          const q4 = ((bytes[ql + l + 32] >> 4) | (((bytes[qh + l] >> 6) & 3) << 4)) - 32;
          y[k + l] = f32(f32(d * s(is)) * q1);
          y[k + l + 32] = f32(f32(d * s(is + 2)) * q2);
          y[k + l + 64] = f32(f32(d * s(is + 4)) * q3);
          y[k + l + 96] = f32(f32(d * s(is + 6)) * q4);
        }
        k += 128; ql += 64; qh += 32; sc += 8;
      }
    }
  }
  return y;
}
