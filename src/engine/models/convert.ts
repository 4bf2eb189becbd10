// One-time conversion of GGUF and llama2.c checkpoints into a cached HF-layout folder (config.json +
// model.safetensors, F32; GGUF matrices of a MatMulNBits type in nbits.safetensors), docs/design.md decision 2.
// Which GGUF architectures convert, into which family, with which tensor names and metadata keys, is
// each family's (models/arch/*-gguf.ts, arch/phi3.ts, registry.ts).
//
// Cache: <cacheDir>/<basename>-<key>/ where key = sha256 over (converter version, absolute path,
// size, mtime, sha256 of the first and last MiB). The folder is written under a temporary name
// and renamed into place, so a folder that exists is complete; a second load reuses it untouched.
// cacheDir: option, else $IDP_CACHE/converted, else ~/.cache/idp-lab/converted.
//
// Rotary layout: llama.cpp and llama2.c keep wq/wk rows in Meta's interleaved layout (rotary over
// adjacent pairs 2i, 2i+1); HF Llama uses rotate_half (pairs i, i + hd/2). Per head:
//   hf_row[h*hd + j*(hd/2) + i] = interleaved_row[h*hd + 2*i + j]   (i < hd/2, j ∈ {0, 1})
// with heads = n_heads for wq and n_kv_heads for wk.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { configError, formatError } from '../errors';
import { assertCallerAlive } from '../process/caller';
import type { ModelConfig } from './config';
import { hfConfigJson } from './hf-config';
import { expectedWeights } from './weights';
import { ggufArch } from './arch/registry';
import type { GgufArch } from './arch/types';
import { llama2cConfig, LLAMA2C_GLOBAL, LLAMA2C_LAYER } from './arch/llama-gguf';
import { GgufFile, ggufString, readGgufTensorF32 } from '../formats/gguf';
import { Llama2cHeader, llama2cTensors, readLlama2cTensor } from '../formats/llama2c';
import { asBytes, writeSafetensorsStreamed } from '../formats/st-stream';
import { tempFolderBeside } from '../formats/atomic-folder';
import { GgufNBitsTensor, GGUF_NBITS_FILE, isNBitsTensor, nbitsModuleFor, writeGgufNBits } from './quant/gguf-nbits-load';

/** Bump when the converted layout changes: old cache entries are then ignored. */
export const CONVERTER_VERSION = 2;   // 2: GGUF quantized matrices kept quantized (models/quant/gguf-nbits-load.ts)

export interface ConvertTensor {
  name: string;                 // HF name
  shape: number[];
  read: () => Float32Array;     // HF layout, float32
}

export interface ConvertSource {
  file: string;
  config: ModelConfig;
  tensors: ConvertTensor[];
  /** Writes further files into the folder being built (GGUF: the quantized matrices, nbits.safetensors). */
  extra?: (dir: string) => void;
}

export function defaultCacheDir(): string {
  if (process.env.IDP_CACHE) return path.join(path.resolve(process.env.IDP_CACHE), 'converted');
  return path.join(os.homedir(), '.cache', 'idp-lab', 'converted');
}

/** Permute the rows of a [heads*hd, cols] matrix between the interleaved and rotate_half layouts. */
export function permuteRotaryRows(w: Float32Array, heads: number, headDim: number, cols: number, to: 'hf' | 'interleaved'): Float32Array {
  if (w.length !== heads * headDim * cols || headDim % 2 !== 0) {
    throw new Error(`permuteRotaryRows: ${w.length} values do not form [${heads}*${headDim}, ${cols}] with even head size`);
  }
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const hf = h * headDim + j * half + i;
        const il = h * headDim + 2 * i + j;
        const [dst, src] = to === 'hf' ? [hf, il] : [il, hf];
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

function hashEnds(file: string, size: number): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const mb = 1 << 20;
    const first = Buffer.alloc(Math.min(mb, size));
    fs.readSync(fd, first, 0, first.length, 0);
    h.update(first);
    const lastStart = Math.max(0, size - mb);
    const last = Buffer.alloc(size - lastStart);
    fs.readSync(fd, last, 0, last.length, lastStart);
    h.update(last);
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Cache key of a source file (see header comment). */
export function cacheKey(file: string): string {
  const abs = path.resolve(file);
  const st = fs.statSync(abs);
  const parts = { v: CONVERTER_VERSION, path: abs, size: st.size, mtimeMs: st.mtimeMs, ends: hashEnds(abs, st.size) };
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
}

/** The cache folder a source converts into (it may not exist yet). */
export function cacheFolderFor(file: string, cacheDir = defaultCacheDir()): string {
  const base = path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  return path.join(path.resolve(cacheDir), `${base}-${cacheKey(file)}`);
}

/** Write an F32 safetensors file one tensor at a time (no need to hold every tensor in memory). */
function writeF32Safetensors(file: string, tensors: ConvertTensor[]): void {
  writeSafetensorsStreamed(file, tensors.map((t) => ({
    name: t.name, dtype: 'F32' as const, shape: t.shape,
    bytes: () => {
      const data = t.read();
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) throw new Error(`conversion produced ${data.length} values for '${t.name}' of shape [${t.shape}]`);
      return asBytes(data);
    },
  })), { format: 'pt', converted_by: 'idp-lab' });
}

/**
 * Return the converted HF folder for `file`, converting it first if the cache has no entry.
 * `build` is called only on a cache miss. The folder holds config.json, model.safetensors and
 * idp-source.json (what it was converted from).
 */
export function ensureConverted(file: string, format: 'gguf' | 'llama2c', cacheDir: string | undefined, build: () => ConvertSource): string {
  const folder = cacheFolderFor(file, cacheDir ?? defaultCacheDir());
  if (fs.existsSync(path.join(folder, 'config.json')) && fs.existsSync(path.join(folder, 'model.safetensors'))) return folder;
  const src = build();
  const tmp = tempFolderBeside(folder);
  try {
    writeF32Safetensors(path.join(tmp, 'model.safetensors'), src.tensors);
    src.extra?.(tmp);
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(hfConfigJson(src.config), null, 2) + '\n');
    const st = fs.statSync(file);
    const info = { source: path.resolve(file), format, size: st.size, mtimeMs: st.mtimeMs, converterVersion: CONVERTER_VERSION };
    fs.writeFileSync(path.join(tmp, 'idp-source.json'), JSON.stringify(info, null, 2) + '\n');
    assertCallerAlive(folder);
    try {
      fs.renameSync(tmp, folder);
    } catch (e) {
      // Another process finished the same conversion first: keep theirs.
      if (!fs.existsSync(path.join(folder, 'model.safetensors'))) throw e;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return folder;
}

// ---------------------------------------------------------------------------------------------
// Sources

function checkSourceShapes(cfg: ModelConfig, file: string, tensors: ConvertTensor[], srcName: (hf: string) => string): void {
  const want = expectedWeights(cfg);
  const have = new Map(tensors.map((t) => [t.name, t]));
  for (const [name, shape] of want) {
    const t = have.get(name);
    const s = (x: number[]) => `[${x.join(', ')}]`;
    if (!t) throw formatError(file, `missing tensor '${srcName(name)}' (for ${name}, shape ${s(shape)})`);
    if (t.shape.join() !== shape.join()) {
      throw formatError(file, `tensor '${srcName(name)}' has shape ${s(t.shape)}, expected ${s(shape)} from the model's hyperparameters`);
    }
  }
}

/** The GGUF name of an HF tensor (for messages about tensors the file lacks). */
function ggufNameOf(spec: GgufArch, layers: string, hf: string): string {
  const global = Object.keys(spec.globalTensors).find((k) => spec.globalTensors[k] === hf);
  if (global) return global;
  const m = new RegExp(`^${layers.replace(/\./g, '\\.')}\\.(\\d+)\\.(.+)\\.(weight|bias)$`).exec(hf);
  const part = m && Object.keys(spec.layerTensors).find((k) => spec.layerTensors[k] === m[2]);
  return m && part ? `blk.${m[1]}.${part}.${m[3]}` : hf;
}

/**
 * Conversion source for a GGUF file of any architecture a family converts (models/arch/registry.ts): HF
 * names and config; q/k rows (and biases) permuted to rotate_half where llama.cpp stores them
 * interleaved; matrices of a type MatMulNBits runs (Q4_0, Q8_0, K-quants …) stay quantized
 * (models/quant/gguf-nbits-load.ts), the rest is dequantized.
 */
export function ggufSource(g: GgufFile): ConvertSource {
  const arch = ggufString(g, 'general.architecture');
  if (arch === undefined) throw configError(g.file, 'missing metadata "general.architecture"');
  const { family, spec } = ggufArch(arch, g.file);
  const cfg = spec.config(g, arch);
  if (cfg.numLayers > g.tensors.size) throw formatError(g.file, `block_count ${cfg.numLayers} exceeds the ${g.tensors.size} tensors in the file`);
  const tensors: ConvertTensor[] = [];
  const quantized: GgufNBitsTensor[] = [];
  const hfToGguf = new Map<string, string>();
  for (const [gname, t] of g.tensors) {
    let hf: string | undefined;
    let heads = 0;                                   // > 0: rows of this many rotary heads to un-interleave
    const m = /^blk\.(\d+)\.([a-z_0-9]+)\.(weight|bias)$/.exec(gname);
    if (spec.globalTensors[gname]) {
      hf = spec.globalTensors[gname];
      if (hf === 'lm_head.weight' && cfg.tieWordEmbeddings) hf = undefined;   // a copy of token_embd
    } else if (m && spec.layerTensors[m[2]] && Number(m[1]) < cfg.numLayers) {
      hf = `${family.layers}.${Number(m[1])}.${spec.layerTensors[m[2]]}.${m[3]}`;
      if (spec.interleavedQK && m[2] === 'attn_q') heads = cfg.numHeads;
      if (spec.interleavedQK && m[2] === 'attn_k') heads = cfg.numKvHeads;
    }
    if (!hf) continue; // tensors the graph does not use, or beyond block_count
    hfToGguf.set(hf, gname);
    const shape = t.shape;
    if (isNBitsTensor(t)) {
      quantized.push({ module: nbitsModuleFor(hf, cfg), weight: hf, tensor: t, ...(heads ? { rotaryHeads: heads } : {}) });
      continue;
    }
    tensors.push({
      name: hf,
      shape,
      read: () => {
        const w = readGgufTensorF32(g, t);
        return heads ? permuteRotaryRows(w, heads, cfg.headDim, shape.length === 2 ? shape[1] : 1, 'hf') : w;
      },
    });
  }
  const all = [...tensors, ...quantized.map((q) => ({ name: q.weight, shape: q.tensor.shape, read: () => new Float32Array(0) }))];
  checkSourceShapes(cfg, g.file, all, (hf) => hfToGguf.get(hf) ?? ggufNameOf(spec, family.layers, hf));
  const want = expectedWeights(cfg);
  const keep = quantized.filter((q) => want.has(q.weight));
  return {
    file: g.file, config: cfg, tensors: tensors.filter((t) => want.has(t.name)),
    ...(keep.length ? { extra: (dir: string) => writeGgufNBits(path.join(dir, GGUF_NBITS_FILE), g, cfg, keep) } : {}),
  };
}

/** Conversion source for a llama2.c checkpoint (header already validated against the file size). */
export function llama2cSource(h: Llama2cHeader): ConvertSource {
  const cfg = llama2cConfig(h);
  const tensors: ConvertTensor[] = [];
  for (const t of llama2cTensors(h)) {
    let name: string | undefined;
    if (t.layer !== undefined) name = `model.layers.${t.layer}.${LLAMA2C_LAYER[t.name]}.weight`;
    else name = LLAMA2C_GLOBAL[t.name];
    if (!name) continue; // freq_cis tables: recomputed by the graph from rope_theta
    const heads = t.name === 'wq' ? h.nHeads : t.name === 'wk' ? h.nKvHeads : 0;
    tensors.push({
      name,
      shape: t.shape,
      read: () => {
        const w = readLlama2cTensor(h, t);
        return heads ? permuteRotaryRows(w, heads, h.headSize, h.dim, 'hf') : w;
      },
    });
  }
  checkSourceShapes(cfg, h.file, tensors, (n) => n);
  return { file: h.file, config: cfg, tensors };
}
