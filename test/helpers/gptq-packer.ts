// An independent GPTQ packer for tests, written from AutoGPTQ's published QuantLinear.pack loop
// structure (not from the engine's bit-stream code): intweight [in, out] → qweight rows word by word,
// with the explicit 3-bit branches (10 codes, one code split over two words, …), and qzeros with the
// v1 "zero − 1" offset. Used to check the engine's packGptq and to write checkpoints the engine loads.

export interface TestQuant {
  bits: number;
  inF: number;
  outF: number;
  groups: number;
  /** intweight [in, out] (transposed, as AutoGPTQ holds it) */
  intweight: Uint32Array;
  /** zeros [groups, out] (the true zero points) */
  zeros: Uint32Array;
  /** scales [groups, out] as float (fp16-representable) */
  scales: Float32Array;
  gIdx: Int32Array;
}

/** qweight [in/32·bits, out] as uint32 words. */
export function refPackQweight(t: TestQuant): Uint32Array {
  const { bits, inF, outF } = t;
  const rows = (inF / 32) * bits;
  const qw = new Uint32Array(rows * outF);
  for (let col = 0; col < outF; col++) {
    const iw = (k: number) => t.intweight[k * outF + col];
    const or = (r: number, v: number) => { qw[r * outF + col] = (qw[r * outF + col] | v) >>> 0; };
    let i = 0;
    let row = 0;
    while (row < rows) {
      if (bits === 2 || bits === 4 || bits === 8) {
        for (let j = i; j < i + 32 / bits; j++) or(row, iw(j) << (bits * (j - i)));
        i += 32 / bits;
        row += 1;
      } else if (bits === 3) {
        for (let j = i; j < i + 10; j++) or(row, iw(j) << (3 * (j - i)));
        i += 10;
        or(row, iw(i) << 30);
        row += 1;
        or(row, (iw(i) >> 2) & 1);
        i += 1;
        for (let j = i; j < i + 10; j++) or(row, iw(j) << (3 * (j - i) + 1));
        i += 10;
        or(row, iw(i) << 31);
        row += 1;
        or(row, (iw(i) >> 1) & 0x3);
        i += 1;
        for (let j = i; j < i + 10; j++) or(row, iw(j) << (3 * (j - i) + 2));
        i += 10;
        row += 1;
      } else {
        throw new Error(`bits ${bits}`);
      }
    }
  }
  return qw;
}

/** qzeros [groups, out/32·bits] with stored = zero − 1 (v1). */
export function refPackQzeros(t: TestQuant, v1 = true): Uint32Array {
  const { bits, outF, groups } = t;
  const cols = (outF / 32) * bits;
  const qz = new Uint32Array(groups * cols);
  for (let g = 0; g < groups; g++) {
    const z = (o: number) => (t.zeros[g * outF + o] - (v1 ? 1 : 0)) & ((1 << bits) - 1);
    const or = (c: number, v: number) => { qz[g * cols + c] = (qz[g * cols + c] | v) >>> 0; };
    let i = 0;
    let col = 0;
    while (col < cols) {
      if (bits === 2 || bits === 4 || bits === 8) {
        for (let j = i; j < i + 32 / bits; j++) or(col, z(j) << (bits * (j - i)));
        i += 32 / bits;
        col += 1;
      } else {
        for (let j = i; j < i + 10; j++) or(col, z(j) << (3 * (j - i)));
        i += 10;
        or(col, z(i) << 30);
        col += 1;
        or(col, (z(i) >> 2) & 1);
        i += 1;
        for (let j = i; j < i + 10; j++) or(col, z(j) << (3 * (j - i) + 1));
        i += 10;
        or(col, z(i) << 31);
        col += 1;
        or(col, (z(i) >> 1) & 0x3);
        i += 1;
        for (let j = i; j < i + 10; j++) or(col, z(j) << (3 * (j - i) + 2));
        i += 10;
        col += 1;
      }
    }
  }
  return qz;
}

/** Dequantized W [out, in] by the loader's rule: scale · (code − zero). */
export function refDequant(t: TestQuant): Float64Array {
  const w = new Float64Array(t.outF * t.inF);
  for (let o = 0; o < t.outF; o++) {
    for (let k = 0; k < t.inF; k++) {
      const g = t.gIdx[k];
      w[o * t.inF + k] = t.scales[g * t.outF + o] * (t.intweight[k * t.outF + o] - t.zeros[g * t.outF + o]);
    }
  }
  return w;
}

/** Random quantized layer (codes, zeros in 1…maxq so v1 can store them, fp16-exact scales, optional act-order g_idx). */
export function randomTestQuant(bits: number, inF: number, outF: number, groupSize: number, rand: () => number, actOrder = false): TestQuant {
  const groups = groupSize === -1 ? 1 : inF / groupSize;
  const maxq = (1 << bits) - 1;
  const intweight = new Uint32Array(inF * outF).map(() => Math.floor(rand() * (maxq + 1)));
  const zeros = new Uint32Array(groups * outF).map(() => 1 + Math.floor(rand() * maxq));
  // multiples of 2^-14 in [2^-10, 2^-4]: exactly representable in fp16
  const scales = new Float32Array(groups * outF).map(() => (16 + Math.floor(rand() * 1000)) * 2 ** -14);
  const gIdx = new Int32Array(inF);
  const gs = groupSize === -1 ? inF : groupSize;
  const order = Array.from({ length: inF }, (_, i) => i);
  if (actOrder) {
    for (let i = inF - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  }
  // act-order: the i-th column in the (permuted) processing order belongs to group ⌊i / gs⌋
  order.forEach((col, i) => { gIdx[col] = Math.floor(i / gs); });
  return { bits, inF, outF, groups, intweight, zeros, scales, gIdx };
}
