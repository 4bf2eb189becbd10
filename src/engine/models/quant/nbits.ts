// GPTQ layout → ORT's MatMulNBits (com.microsoft) layout, computed once at load (gptq-load.ts caches it).
//
// MatMulNBits(A [.., K], B, scales, zero_points) with attributes K = in, N = out, bits, block_size:
//   B            uint8 [N, kBlocks, blockSize·bits/8]: per output row, codes along K packed low bits
//                first, each block starting on a byte; kBlocks = ceil(K / blockSize)
//   scales       float [N·kBlocks]
//   zero_points  uint8 [N·ceil(kBlocks·bits/8)]: per row, one bits-wide zero per block, low bits first
//   y = Σ_k A[k] · scale[n, k/bs] · (code[n, k] − zero[n, k/bs])
// (layout and numerics checked against ORT in test/unit/compress/gptq-runtime.test.ts).
//
// Mapping decisions:
// - bits 2/4/8 run as themselves; 3-bit codes (and any codes whose zero points overflow their width,
//   as v1 files with stored zero 2^bits − 1 give) are widened into the next kernel width: same codes,
//   scales and zeros, so identical numerics.
// - block_size must be a power of two ≥ 16: the largest of 128…16 dividing the group size; a group
//   larger than a block just repeats its scale and zero in each block. Per-channel (group −1) with no
//   such divisor of K uses 16 with a padded last block (one scale, so padding is harmless).
// - act-order: columns are sorted by g_idx (stable) so each group is contiguous; the graph gathers the
//   input columns in that order (perm) before the kernel. g_idx that does not split into full groups,
//   a group size with no power-of-two block, or zero points beyond 8 bits fall back to an fp32
//   dequantized weight for that module ('dequant' kernel).

import type { QuantizedLinear } from './gptq-format';
import { isPlainGIdx } from './gptq-format';

export type NBitsPlan =
  | { kernel: 'nbits'; runBits: 2 | 4 | 8; blockSize: number; perm?: Int32Array }
  | { kernel: 'dequant'; reason: string };

const BLOCKS = [128, 64, 32, 16];

export function planNBits(q: QuantizedLinear): NBitsPlan {
  const K = q.inFeatures;
  let maxZero = 0;
  for (let i = 0; i < q.zeros.length; i++) maxZero = Math.max(maxZero, q.zeros[i]);
  const runBits = ([2, 4, 8] as const).find((r) => r >= q.bits && maxZero <= (1 << r) - 1);
  if (!runBits) return { kernel: 'dequant', reason: `zero point ${maxZero} does not fit 8 bits` };
  const gs = q.groupSize === -1 ? K : q.groupSize;
  let blockSize = BLOCKS.find((p) => gs % p === 0);
  if (!blockSize) {
    if (q.groupSize !== -1) return { kernel: 'dequant', reason: `group size ${gs} has no power-of-two divisor ≥ 16 for block_size` };
    blockSize = 16;
  }
  if (isPlainGIdx(q)) return { kernel: 'nbits', runBits, blockSize };
  const perm = Int32Array.from({ length: K }, (_, i) => i).sort((a, b) => q.gIdx[a] - q.gIdx[b] || a - b);
  for (let i = 0; i < K; i++) {
    if (q.gIdx[perm[i]] !== Math.floor(i / gs)) {
      return { kernel: 'dequant', reason: `g_idx does not split the ${K} columns into groups of ${gs}` };
    }
  }
  return { kernel: 'nbits', runBits, blockSize, perm };
}

export interface NBitsTensors {
  b: Uint8Array;            // [N, kBlocks, blob]
  scales: Float32Array;     // [N·kBlocks]
  zeroPoints: Uint8Array;   // [N·ceil(kBlocks·bits/8)]
  perm?: BigInt64Array;     // [K]
  kBlocks: number;
  blob: number;
}

export function toNBits(q: QuantizedLinear, plan: Extract<NBitsPlan, { kernel: 'nbits' }>): NBitsTensors {
  const { inFeatures: K, outFeatures: N } = q;
  const { runBits: r, blockSize: bs, perm } = plan;
  const kBlocks = Math.ceil(K / bs);
  const blob = (bs * r) / 8;
  const zpRow = Math.ceil((kBlocks * r) / 8);
  const b = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  const zeroPoints = new Uint8Array(N * zpRow);
  const colOf = (i: number) => (perm ? perm[i] : i);
  for (let n = 0; n < N; n++) {
    const codeRow = n * K;
    for (let i = 0; i < K; i++) {
      const blk = Math.floor(i / bs);
      const bit = (i % bs) * r;
      b[(n * kBlocks + blk) * blob + (bit >> 3)] |= q.codes[codeRow + colOf(i)] << (bit & 7);
    }
    for (let blk = 0; blk < kBlocks; blk++) {
      const g = q.gIdx[colOf(blk * bs)];
      scales[n * kBlocks + blk] = q.scales[g * N + n];
      const bit = blk * r;
      zeroPoints[n * zpRow + (bit >> 3)] |= q.zeros[g * N + n] << (bit & 7);
    }
  }
  return { b, scales, zeroPoints, perm: perm ? BigInt64Array.from(perm, (x) => BigInt(x)) : undefined, kBlocks, blob };
}
