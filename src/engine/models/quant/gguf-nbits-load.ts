// A GGUF file's quantized matrices straight into MatMulNBits (formats/ggml-nbits.ts has the per-type
// mapping): when models/convert.ts converts a GGUF into its cached HF folder, matrices of a mapped type
// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) are not dequantized: they are converted block by
// block into `nbits.safetensors` beside the float `model.safetensors` (norms and tensors of other types),
// one tensor in memory at a time, and loadHfFolder() attaches them as LoadedModel.quant (method 'gguf').
//
//   <folder>/nbits.safetensors   per module: <module>.nbits_b, .nbits_scales, .nbits_zero_points
//                                (+ .nbits_offsets [N, kBlocks] for types with a minimum); metadata
//                                `plans` = module → { type, bits, blockSize, weight }.
//
// Modules: a layer's linear (HF module path), 'lm_head' for output.weight, and the token embedding:
// tied (no separate output.weight) it is the head, 'lm_head', serving the table too; untied it is a
// table-only module 'model.embed_tokens' whose rows the graph gathers (models/quant-linear.ts). q/k rows
// are permuted from llama.cpp's interleaved rotary layout to rotate_half on the converted rows.

import * as fs from 'fs';
import * as path from 'path';
import { formatError } from '../../errors';
import { GgufFile, GgufTensorInfo, readGgufTensorBytes } from '../../formats/gguf';
import { ggmlToNBits, NBitsGgmlType, NBITS_GGML_TYPES, nbitsSpecOf, NBitsMatrix, permuteNBitsRows } from '../../formats/ggml-nbits';
import { readSafetensorsHeader, TensorRef } from '../../formats/safetensors';
import { asBytes, StreamEntry, writeSafetensorsStreamed } from '../../formats/st-stream';
import type { LoadedModel, ModelConfig, QuantizedModuleRef } from '../config';
import { HEAD_MODULE } from './modules';
import { commonFolder } from './gptq-load';

export const GGUF_NBITS_FILE = 'nbits.safetensors';
const FORMAT = 'idp-nbits-gguf';

/** One GGUF matrix that becomes a MatMulNBits module. */
export interface GgufNBitsTensor {
  module: string;
  /** The HF weight it stands for (model.layers.0.self_attn.q_proj.weight, lm_head.weight, the embedding). */
  weight: string;
  tensor: GgufTensorInfo;
  /** q/k: heads whose rows go from interleaved to rotate_half. */
  rotaryHeads?: number;
}

interface Plan { type: NBitsGgmlType; bits: 4 | 8; blockSize: number; weight: string; offsets: boolean; rows: number; cols: number }

/** Whether a GGUF tensor of this type and shape is converted (rows of whole blocks, a mapped type). */
export function isNBitsTensor(t: GgufTensorInfo): boolean {
  if (t.shape.length !== 2 || !NBITS_GGML_TYPES.includes(t.typeName)) return false;
  const sp = nbitsSpecOf(t.typeName as NBitsGgmlType);
  return t.shape[1] % sp.qk === 0;
}

/** The module an HF weight becomes when its GGUF tensor is quantized. */
export function nbitsModuleFor(weight: string, cfg: ModelConfig): string {
  if (weight === 'model.embed_tokens.weight') return cfg.tieWordEmbeddings ? HEAD_MODULE : 'model.embed_tokens';
  if (weight === 'lm_head.weight') return HEAD_MODULE;
  return weight.replace(/\.weight$/, '');
}

/** Inverse of the interleaved → rotate_half row permutation: result row r comes from source row from[r]. */
function rotaryFrom(heads: number, headDim: number): Int32Array {
  const from = new Int32Array(heads * headDim);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) from[h * headDim + j * half + i] = h * headDim + 2 * i + j;
  return from;
}

/** Write `file` (the converted folder's nbits.safetensors) from the GGUF tensors, one at a time. */
export function writeGgufNBits(file: string, g: GgufFile, cfg: ModelConfig, list: GgufNBitsTensor[]): void {
  const plans: Record<string, Plan> = {};
  const entries: StreamEntry[] = [];
  let held: { module: string; m: NBitsMatrix } | undefined;
  for (const x of list) {
    const [rows, cols] = x.tensor.shape;
    const type = x.tensor.typeName as NBitsGgmlType;
    const sp = nbitsSpecOf(type);
    const conv = (): NBitsMatrix => {
      if (held?.module === x.module) return held.m;
      let m = ggmlToNBits(type, readGgufTensorBytes(g, x.tensor), rows, cols);
      if (x.rotaryHeads) m = permuteNBitsRows(m, rotaryFrom(x.rotaryHeads, cfg.headDim));
      held = { module: x.module, m };
      return m;
    };
    const kb = cols / sp.blockSize;
    const offsets = ['Q4_1', 'Q5_1', 'Q4_K', 'Q5_K'].includes(type);
    plans[x.module] = { type, bits: sp.bits, blockSize: sp.blockSize, weight: x.weight, offsets, rows, cols };
    entries.push({ name: `${x.module}.nbits_b`, dtype: 'U8', shape: [rows, kb, (sp.blockSize * sp.bits) / 8], bytes: () => conv().b });
    entries.push({ name: `${x.module}.nbits_scales`, dtype: 'F32', shape: [rows * kb], bytes: () => asBytes(conv().scales) });
    entries.push({ name: `${x.module}.nbits_zero_points`, dtype: 'U8', shape: [rows * Math.ceil((kb * sp.bits) / 8)], bytes: () => conv().zeroPoints });
    if (offsets) entries.push({ name: `${x.module}.nbits_offsets`, dtype: 'F32', shape: [rows, kb], bytes: () => asBytes(conv().offsets!) });
  }
  writeSafetensorsStreamed(file, entries, { format: FORMAT, plans: JSON.stringify(plans) });
}

/**
 * Attach a converted GGUF folder's quantized matrices (nbits.safetensors) to `m`, before its float
 * weights are checked. A folder without the file is left as it is.
 */
export function attachGgufNBits(m: LoadedModel, folder: string): void {
  const file = path.join(folder, GGUF_NBITS_FILE);
  if (!fs.existsSync(file)) return;
  let header;
  try {
    header = readSafetensorsHeader(file);
  } catch (e) {
    throw formatError(file, `not readable (${(e as Error).message}); delete ${folder} to convert again`);
  }
  if (header.metadata.format !== FORMAT) throw formatError(file, `not a converted GGUF's MatMulNBits file (format ${String(header.metadata.format)})`);
  const plans = JSON.parse(header.metadata.plans ?? '{}') as Record<string, Plan>;
  const modules = new Map<string, QuantizedModuleRef>();
  const tables: Record<string, string> = {};
  const types: Record<string, number> = {};
  for (const [module, p] of Object.entries(plans)) {
    const t = (s: string): TensorRef => {
      const r = header.tensors.get(`${module}.${s}`);
      if (!r) throw formatError(file, `lacks '${module}.${s}'; delete ${folder} to convert again`);
      return r;
    };
    modules.set(module, {
      bits: p.bits, groupSize: p.blockSize, inFeatures: p.cols, outFeatures: p.rows, kernel: 'nbits', runBits: p.bits, blockSize: p.blockSize,
      b: t('nbits_b'), scales: t('nbits_scales'), zeroPoints: t('nbits_zero_points'), ...(p.offsets ? { offsets: t('nbits_offsets') } : {}),
      ggmlType: p.type,
    });
    types[p.type] = (types[p.type] ?? 0) + 1;
    if (p.weight.endsWith('embed_tokens.weight')) tables[p.weight] = module;
  }
  const bits = [...modules.values()].some((q) => q.runBits === 4) ? 4 : 8;
  m.quant = {
    method: 'gguf', bits, groupSize: 32, descAct: false, sym: false, checkpointFormat: 'gptq', configFile: file, modules,
    ...(Object.keys(tables).length ? { tables } : {}), ggmlTypes: types,
  };
  m.weightsDir = commonFolder(m.weightsDir, folder);   // ORT resolves every external-data location from one folder
}
