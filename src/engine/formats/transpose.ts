// A row-major matrix transposed into another buffer (weights [out, in] ↔ [in, out]: GPTQ / SparseGPT
// sweeps, the transposed-weights cache).

/** dst [cols, rows] = srcᵀ for src [rows, cols] (row-major), in cache-sized tiles. */
export function transposeInto<T extends ArrayLike<number> & { [i: number]: number }>(src: ArrayLike<number>, rows: number, cols: number, dst: T): T {
  const TILE = 32;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
    }
  }
  return dst;
}
