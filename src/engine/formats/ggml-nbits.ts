// ggml's quantized blocks → ORT MatMulNBits tensors, without going through float (written from the
// published block layouts of ggml-common.h / ggml-quants.c; facts, not code).
//
// A GGUF matrix with ne = [K, N] is N rows of K values, each row a run of blocks. MatMulNBits
// (models/quant/nbits.ts has the layout) computes W[n, k] = scale[n, b] · (code[n, k] − zero[n, b]) per
// block b of `blockSize` columns. Per type (d, dmin, m: f16; sc, m6: the 6-bit sub-block scale and min):
//
//   type   block  ggml value                     MatMulNBits                      exact?
//   Q4_0   32     d · (q − 8)                    4-bit, zero 8, scale d           yes
//   Q8_0   32     d · q, q int8                  8-bit, code q + 128, zero 128    yes
//   Q5_0   32     d · (q − 16), q 5-bit          8-bit, zero 16                   yes
//   Q6_K   16     d · sc · (q − 32), sc int8     8-bit, zero 32, scale d·sc       yes (d·sc exact in fp32)
//   Q4_1   32     d · q + m                      4-bit, zero 0, scale d, + m      offset term
//   Q5_1   32     d · q + m                      8-bit, zero 0, scale d, + m      offset term
//   Q4_K   32     d·sc · q − dmin·m6             4-bit, zero 0, scale d·sc, + o   offset term
//   Q5_K   32     d·sc · q − dmin·m6             8-bit, zero 0, scale d·sc, + o   offset term
//
// "Offset term": a block minimum is not an integer zero point in general (m / d is any real), and
// MatMulNBits with float zero points runs unpacked (ORT 1.30 CPU: no prepacking, B dequantized on every
// call), so such types keep zero 0 and carry the per-block offset o[n, b] (`offsets`, [N, kBlocks]) for
// the graph to add: y[n] = MatMulNBits(x)[n] + Σ_b o[n, b] · Σ_{k ∈ b} x[k] (models/quant-linear.ts).
// That is the same sum, so the mapping stays exact up to float rounding.
// Q2_K and Q3_K (and the IQ types) are not mapped: their tensors are dequantized to F32 as before.

import { f16ToF32 } from './dtypes';

export type NBitsGgmlType = 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q8_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';
export const NBITS_GGML_TYPES: readonly string[] = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];

/** bits, MatMulNBits block size, ggml block (values, bytes). */
const SPEC: Record<NBitsGgmlType, { bits: 4 | 8; blockSize: number; qk: number; bytes: number }> = {
  Q4_0: { bits: 4, blockSize: 32, qk: 32, bytes: 18 }, Q4_1: { bits: 4, blockSize: 32, qk: 32, bytes: 20 },
  Q5_0: { bits: 8, blockSize: 32, qk: 32, bytes: 22 }, Q5_1: { bits: 8, blockSize: 32, qk: 32, bytes: 24 },
  Q8_0: { bits: 8, blockSize: 32, qk: 32, bytes: 34 },
  Q4_K: { bits: 4, blockSize: 32, qk: 256, bytes: 144 }, Q5_K: { bits: 8, blockSize: 32, qk: 256, bytes: 176 },
  Q6_K: { bits: 8, blockSize: 16, qk: 256, bytes: 210 },
};

export const nbitsSpecOf = (type: NBitsGgmlType) => SPEC[type];

export interface NBitsMatrix {
  type: NBitsGgmlType;
  bits: 4 | 8;
  blockSize: number;
  rows: number;               // N
  cols: number;               // K
  kBlocks: number;
  b: Uint8Array;              // [N, kBlocks, blockSize·bits/8]
  scales: Float32Array;       // [N, kBlocks]
  zeroPoints: Uint8Array;     // [N, ceil(kBlocks·bits/8)]
  /** Added per block: W[n, k] = scale·(code − zero) + offsets[n, b] (types with a minimum); [N, kBlocks]. */
  offsets?: Float32Array;
}

let F16: Float32Array | undefined;
const f16 = (dv: DataView, at: number) => (F16 ??= Float32Array.from({ length: 65536 }, (_, i) => f16ToF32(i)))[dv.getUint16(at, true)];

/** The 6-bit scale and min of sub-block j (0…7) of a Q4_K / Q5_K super-block's 12 scale bytes at `s`. */
function scaleMinK4(bytes: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [bytes[s + j] & 63, bytes[s + j + 4] & 63];
  return [(bytes[s + j + 4] & 0xf) | ((bytes[s + j - 4] >> 6) << 4), (bytes[s + j + 4] >> 4) | ((bytes[s + j] >> 6) << 4)];
}

/** Convert a ggml matrix (rows of `cols` values, `bytes` as in the file) into MatMulNBits tensors. */
export function ggmlToNBits(type: NBitsGgmlType, bytes: Uint8Array, rows: number, cols: number): NBitsMatrix {
  const sp = SPEC[type];
  if (cols % sp.qk !== 0) throw new Error(`ggmlToNBits: a ${type} row of ${cols} values is not whole blocks of ${sp.qk}`);
  const rowBytes = (cols / sp.qk) * sp.bytes;
  if (bytes.byteLength < rows * rowBytes) throw new Error(`ggmlToNBits: ${bytes.byteLength} bytes cannot hold ${rows} × ${cols} ${type} values`);
  const { bits, blockSize: bs } = sp;
  const kBlocks = cols / bs;
  const blob = (bs * bits) / 8;
  const zpRow = Math.ceil((kBlocks * bits) / 8);
  const out: NBitsMatrix = {
    type, bits, blockSize: bs, rows, cols, kBlocks,
    b: new Uint8Array(rows * kBlocks * blob), scales: new Float32Array(rows * kBlocks), zeroPoints: new Uint8Array(rows * zpRow),
    ...(['Q4_1', 'Q5_1', 'Q4_K', 'Q5_K'].includes(type) ? { offsets: new Float32Array(rows * kBlocks) } : {}),
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const zero = type === 'Q4_0' ? 8 : type === 'Q8_0' ? 128 : type === 'Q5_0' ? 16 : type === 'Q6_K' ? 32 : 0;
  // every block of a row gets the same zero point
  const zpByte = bits === 8 ? zero : zero | (zero << 4);
  out.zeroPoints.fill(zpByte);
  if (bits === 4 && kBlocks % 2 === 1) for (let n = 0; n < rows; n++) out.zeroPoints[n * zpRow + zpRow - 1] = zero;
  const codes = new Uint8Array(sp.qk);                    // one ggml block's codes, in column order

  for (let n = 0; n < rows; n++) {
    for (let blk = 0; blk < cols / sp.qk; blk++) {
      const at = n * rowBytes + blk * sp.bytes;
      const b0 = (blk * sp.qk) / bs;                        // first MatMulNBits block of this ggml block
      const set = (sub: number, scale: number, offset?: number) => {
        out.scales[n * kBlocks + b0 + sub] = scale;
        if (offset !== undefined) out.offsets![n * kBlocks + b0 + sub] = offset;
      };
      switch (type) {
        case 'Q4_0': case 'Q4_1': {
          const q = type === 'Q4_0' ? at + 2 : at + 4;
          for (let j = 0; j < 16; j++) { codes[j] = bytes[q + j] & 0xf; codes[j + 16] = bytes[q + j] >> 4; }
          set(0, f16(dv, at), type === 'Q4_1' ? f16(dv, at + 2) : undefined);
          break;
        }
        case 'Q5_0': case 'Q5_1': {
          const h = type === 'Q5_0' ? at + 2 : at + 4;
          const qh = dv.getUint32(h, true);
          const q = h + 4;
          for (let j = 0; j < 16; j++) {
            codes[j] = (bytes[q + j] & 0xf) | (((qh >>> j) & 1) << 4);
            codes[j + 16] = (bytes[q + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4);
          }
          set(0, f16(dv, at), type === 'Q5_1' ? f16(dv, at + 2) : undefined);
          break;
        }
        case 'Q8_0':
          for (let j = 0; j < 32; j++) codes[j] = (dv.getInt8(at + 2 + j) + 128) & 0xff;
          set(0, f16(dv, at));
          break;
        case 'Q4_K': case 'Q5_K': {
          const d = f16(dv, at), dmin = f16(dv, at + 2);
          const s = at + 4;                                   // 12 scale bytes
          const qh = type === 'Q5_K' ? at + 16 : -1;          // 32 high-bit bytes (Q5_K)
          const ql = type === 'Q5_K' ? at + 48 : at + 16;     // 128 bytes of low nibbles
          for (let c = 0; c < 4; c++) {                       // 64 values per chunk: two sub-blocks of 32
            for (let l = 0; l < 32; l++) {
              const byte = bytes[ql + 32 * c + l];
              let lo = byte & 0xf, hi = byte >> 4;
              if (qh >= 0) {
                lo |= ((bytes[qh + l] >> (2 * c)) & 1) << 4;
                hi |= ((bytes[qh + l] >> (2 * c + 1)) & 1) << 4;
              }
              codes[64 * c + l] = lo;
              codes[64 * c + 32 + l] = hi;
            }
          }
          for (let j = 0; j < 8; j++) {
            const [sc, m] = scaleMinK4(bytes, s, j);
            set(j, Math.fround(d * sc), -Math.fround(dmin * m));
          }
          break;
        }
        case 'Q6_K': {
          const ql = at, qh = at + 128, sc = at + 192, d = f16(dv, at + 208);
          for (let half = 0; half < 2; half++) {             // 128 values each
            const L = ql + 64 * half, H = qh + 32 * half, o = 128 * half;
            for (let l = 0; l < 32; l++) {
              const h = bytes[H + l];
              codes[o + l] = (bytes[L + l] & 0xf) | ((h & 3) << 4);
              codes[o + l + 32] = (bytes[L + l + 32] & 0xf) | (((h >> 2) & 3) << 4);
              codes[o + l + 64] = (bytes[L + l] >> 4) | (((h >> 4) & 3) << 4);
              codes[o + l + 96] = (bytes[L + l + 32] >> 4) | (((h >> 6) & 3) << 4);
            }
          }
          for (let j = 0; j < 16; j++) set(j, Math.fround(d * dv.getInt8(sc + j)));
          break;
        }
      }
      // codes → B: per MatMulNBits block, low bits first
      for (let i = 0; i < sp.qk; i++) {
        const k = blk * sp.qk + i;
        const base = (n * kBlocks + Math.floor(k / bs)) * blob;
        const pos = k % bs;
        if (bits === 8) out.b[base + pos] = codes[i];
        else out.b[base + (pos >> 1)] |= codes[i] << ((pos & 1) * 4);
      }
    }
  }
  return out;
}

/** The same matrix with its rows reordered: row r of the result is row from[r] (q/k rotary layouts). */
export function permuteNBitsRows(m: NBitsMatrix, from: Int32Array): NBitsMatrix {
  const take = <T extends Uint8Array | Float32Array>(a: T, width: number): T => {
    const o = new (a.constructor as { new(n: number): T })(a.length);
    for (let r = 0; r < m.rows; r++) o.set(a.subarray(from[r] * width, (from[r] + 1) * width), r * width);
    return o;
  };
  const blob = (m.blockSize * m.bits) / 8;
  return {
    ...m, b: take(m.b, m.kBlocks * blob), scales: take(m.scales, m.kBlocks), zeroPoints: take(m.zeroPoints, m.zeroPoints.length / m.rows),
    ...(m.offsets ? { offsets: take(m.offsets, m.kBlocks) } : {}),
  };
}
