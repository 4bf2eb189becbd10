// Pre-transposed runtime copies of a large model's linear weights, for the 'gemm' linear kernel.
//
// nn.Linear stores W [out, in]; a decode step multiplies x [1, in] by Wᵀ. ORT's MatMul on a constant
// B [in, out] is ~35 % faster at M = 1 than Gemm(transB = 1) on W, and folding a Transpose at load would
// hold the transposed weights in anonymous memory beside the mapped originals. So the transposed
// weights are written once to a cache file, memory-mapped like every other weight:
//
//   <cacheDir>/<folder name>-t-<key>/linear-t.safetensors   tensors `<name>.T` [in, out] (F32); the
//   output projection as column blocks `<name>.T.<i>` [d, ≤ 4096] whose products are concatenated
//
// The blocks bound what loading holds twice: ORT prepacks each MatMul's B into its own buffer and then
// unmaps the original, so while one block is packed both copies are resident — 12 MiB at d = 768,
// where the whole 32000-row head would add 94 MiB to the peak RSS of a 100M model.
//
// key = sha256 over (version, the weight files' paths, sizes and mtimes, the transposed names). The file
// is written under a temporary name and renamed, so a file that exists is complete. One tensor is held
// in memory at a time while writing. `weightsDir` becomes the deepest folder holding both the model and
// the cache (as for GPTQ caches), so every external-data location stays relative.
//
// Transposed: every rank-2 F32 weight inside the layers of families with nn.Linear layers (all but
// GPT-2, whose Conv1D weights are [in, out] already), and the output projection (lm_head, or the tied
// embedding: the table itself stays mapped for Gather, of which only the looked-up rows become resident).

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensorsHeader, readTensorF32, TensorRef } from '../formats/safetensors';
import { asBytes, writeSafetensorsStreamed } from '../formats/st-stream';
import { formatError } from '../errors';
import type { LoadedModel } from './config';
import { family, parseLayerWeight } from './arch/registry';
import { defaultCacheDir } from './convert';
import { commonFolder } from './quant/gptq-load';
import { transposeInto } from '../formats/transpose';

export const TRANSPOSED_CACHE_VERSION = 3;
const HEAD_BLOCK = 4096;   // output columns per block of the transposed head

/** The output projection's weight name [V, d] (lm_head, or the embedding it is tied to); undefined: not transposed. */
export function headWeightName(m: LoadedModel): string | undefined {
  if (m.quant?.modules.has('lm_head')) return undefined;   // a quantized head runs MatMulNBits
  return family(m.config).headWeight(m.config, (n) => m.weights.has(n));
}

/** Names of the weights that get an [in, out] copy: nn.Linear layers only (Conv1D is [in, out] already). */
function transposable(m: LoadedModel): string[] {
  if (family(m.config).linearLayout !== 'linear') return [];
  const names = [...m.weights.values()].filter((r) => r.dtype === 'F32' && r.shape.length === 2 && parseLayerWeight(m.config, r.name)).map((r) => r.name);
  const head = headWeightName(m);
  if (head && m.weights.get(head)?.dtype === 'F32') names.push(head);
  return names;
}

function cacheFile(m: LoadedModel, names: string[], cacheDir: string): string {
  const files = [...new Set(names.map((n) => m.weights.get(n)!.file))].sort();
  const parts = {
    v: TRANSPOSED_CACHE_VERSION, names,
    files: files.map((f) => { const st = fs.statSync(f); return [path.resolve(f), st.size, st.mtimeMs]; }),
  };
  const key = crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
  const base = path.basename(m.weightsDir).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  return path.join(path.resolve(cacheDir), `${base}-t-${key}`, 'linear-t.safetensors');
}

/** The cached tensors of weight `n` [out, in]: names and their row ranges of W (each stored as [in, rows]). */
function blocksOf(m: LoadedModel, n: string): Array<{ name: string; r0: number; r1: number }> {
  const out = m.weights.get(n)!.shape[0];
  if (n !== headWeightName(m)) return [{ name: `${n}.T`, r0: 0, r1: out }];
  const blocks = [];
  for (let r0 = 0, i = 0; r0 < out; r0 += HEAD_BLOCK, i++) blocks.push({ name: `${n}.T.${i}`, r0, r1: Math.min(out, r0 + HEAD_BLOCK) });
  return blocks;
}

function writeTransposed(file: string, m: LoadedModel, names: string[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    let held: { name: string; w: Float32Array } | undefined;        // the weight being written, read once
    const read = (n: string) => (held?.name === n ? held.w : (held = { name: n, w: readTensorF32(m.weights.get(n)!) }).w);
    writeSafetensorsStreamed(tmp, names.flatMap((n) => {
      const cols = m.weights.get(n)!.shape[1];                        // W [out, in]
      return blocksOf(m, n).map(({ name, r0, r1 }) => ({
        name, dtype: 'F32' as const, shape: [cols, r1 - r0],
        bytes: () => asBytes(transposeInto(read(n).subarray(r0 * cols, r1 * cols), r1 - r0, cols, new Float32Array((r1 - r0) * cols))),
      }));
    }), { format: 'pt', converted_by: 'idp-lab', content: 'transposed linear weights' });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * `m` with `transposed` filled in (HF weight name → its [in, out] copy in column blocks), writing the cache
 * on first use.
 * A model with nothing to transpose is returned as it is.
 */
export function withTransposedWeights(m: LoadedModel, cacheDir = defaultCacheDir()): LoadedModel {
  if (m.transposed) return m;
  const names = transposable(m);
  if (names.length === 0) return m;
  const file = cacheFile(m, names, cacheDir);
  if (!fs.existsSync(file)) writeTransposed(file, m, names);
  let tensors: Map<string, TensorRef>;
  try {
    tensors = readSafetensorsHeader(file).tensors;
  } catch (e) {
    throw formatError(path.dirname(file), `the transposed-weight cache of ${m.source} is damaged (${(e as Error).message}); delete this folder to write it again`);
  }
  const transposed = new Map<string, TensorRef[]>();
  for (const n of names) {
    transposed.set(n, blocksOf(m, n).map(({ name }) => {
      const t = tensors.get(name);
      if (!t) throw formatError(file, `transposed-weight cache lacks '${name}'; delete ${path.dirname(file)} to write it again`);
      return t;
    }));
  }
  return { ...m, transposed, weightsDir: commonFolder(m.weightsDir, path.dirname(file)) };
}
