// Round-to-nearest: the baseline quantizer. Each row of W [out, in] gets one grid per group of input
// columns (or one per row with group size −1), chosen from that group's min/max (quant-grid.ts), and
// every weight is rounded to it independently. Produces the representation the GPTQ writer takes.

import { checkQuantizable, defaultGIdx, numGroups, QuantBits, QuantizedLinear } from '../models/quant/gptq-format';
import { findParams, quantCode } from './quant-grid';

export interface RtnOptions {
  bits: QuantBits;
  groupSize: number;
  sym: boolean;
  /** 1 (default) for the v1 "gptq" layout, 0 for gptq_v2. */
  minZero?: 0 | 1;
}

/** Quantize W [out, in] (row-major) by rounding to nearest. `module` names it in errors. */
export function quantizeRtn(w: ArrayLike<number>, outFeatures: number, inFeatures: number, o: RtnOptions, module = 'layer'): QuantizedLinear {
  checkQuantizable(module, inFeatures, outFeatures, o.bits, o.groupSize, undefined, false);   // packing is the writer's check
  const K = inFeatures;
  const N = outFeatures;
  const G = numGroups(K, o.groupSize);
  const gs = o.groupSize === -1 ? K : o.groupSize;
  const maxq = (1 << o.bits) - 1;
  const scales = new Float32Array(G * N);
  const zeros = new Int32Array(G * N);
  const codes = new Uint8Array(N * K);
  for (let g = 0; g < G; g++) {
    const cols = Array.from({ length: gs }, (_, j) => g * gs + j);
    // scales/zeros [G, N]: row r of W writes entry g·N + r
    findParams(w, N, K, cols, { bits: o.bits, sym: o.sym, minZero: o.minZero }, scales, zeros, g * N, 1, module);
    for (let r = 0; r < N; r++) {
      const s = scales[g * N + r];
      const z = zeros[g * N + r];
      for (const c of cols) codes[r * K + c] = quantCode(w[r * K + c], s, z, maxq);
    }
  }
  return { bits: o.bits, groupSize: o.groupSize, inFeatures: K, outFeatures: N, codes, scales, zeros, gIdx: defaultGIdx(K, o.groupSize) };
}
