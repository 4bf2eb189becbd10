// Loading GPTQ checkpoints (AutoGPTQ / GPTQModel / transformers layout, v1 or v2 zero points):
// models/load.ts calls attachGptq() for a folder with quantize_config.json or a config.json
// "quantization_config". Each quantized module's tensors are checked against the config
// (unpackGptq), converted once into MatMulNBits tensors (nbits.ts) and written to a cache file
// beside the converted-model cache; the LoadedModel's `quant` points into that file, which ORT
// memory-maps like every other weight (docs/design.md decision 2). `weightsDir` becomes the deepest folder
// holding both the checkpoint and the cache, so every external-data location stays relative.
//
// Cache: <cacheDir>/<folder name>-gptq-<key>/nbits.safetensors, key = sha256 over (version, folder,
// config, size + mtime of every weight file); the plan of each module (kernel, bits, block) is in the
// file's metadata. dequantizedModel() (the `dequantize: true` session option) writes
// dequantized.safetensors beside it on first use: fp32 weights in the HF layout of each module.
//
// A quantized output projection (quantize_config "lm_head": true; lm_head.qweight …) is the module
// 'lm_head'. When the config ties it to the token embedding and the folder holds no float embedding,
// the quantized matrix is the embedding too (quant.tiedEmbedding): the graph gathers its rows
// (GatherBlockQuantized, models/quant-linear.ts) and no float copy of the table exists at run time.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { formatError, unsupported } from '../../errors';
import { readSafetensorsHeader, readTensorBytes, TensorRef } from '../../formats/safetensors';
import type { LoadedModel, QuantizedModuleRef } from '../config';
import { defaultCacheDir } from '../convert';
import { GptqConfig, moduleGptqConfig } from './gptq-config';
import { dequantize, QuantizedLinear, unpackGptq } from './gptq-format';
import { headModule, HEAD_MODULE, linearModules, LinearModule } from './modules';
import { planNBits, toNBits } from './nbits';
import { asBytes, StreamEntry, writeSafetensorsStreamed } from '../../formats/st-stream';

export const NBITS_CACHE_VERSION = 1;

/** A module's tensors as a GPTQ checkpoint stores them. */
export type GptqSource = NonNullable<QuantizedModuleRef['source']>;

const QUANT_SUFFIXES = ['qweight', 'qzeros', 'scales', 'g_idx'];

function i32(buf: Buffer, dtype: string): Int32Array {
  const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  if (dtype === 'I64') return Int32Array.from(new BigInt64Array(copy), (x) => Number(x));
  return new Int32Array(copy);
}

/** Unpack one module's GPTQ tensors (validated against the module's shape and the config). */
export function readQuantizedModule(src: GptqSource, mod: LinearModule, cfg: Pick<GptqConfig, 'bits' | 'groupSize' | 'checkpointFormat'>): QuantizedLinear {
  const need = (ref: TensorRef, dtypes: string[]) => {
    if (!dtypes.includes(ref.dtype)) throw unsupported(`tensor '${ref.name}' has dtype ${ref.dtype}, expected ${dtypes.join(' or ')}`, ref.file);
  };
  need(src.qweight, ['I32']);
  need(src.qzeros, ['I32']);
  need(src.scales, ['F16']);
  if (src.gIdx) need(src.gIdx, ['I32', 'I64']);
  const sb = readTensorBytes(src.scales);
  return unpackGptq({
    qweight: i32(readTensorBytes(src.qweight), 'I32'),
    qzeros: i32(readTensorBytes(src.qzeros), 'I32'),
    scales: new Uint16Array(sb.buffer.slice(sb.byteOffset, sb.byteOffset + sb.byteLength)),
    gIdx: src.gIdx ? i32(readTensorBytes(src.gIdx), src.gIdx.dtype) : undefined,
  }, {
    bits: cfg.bits, groupSize: cfg.groupSize, inFeatures: mod.inFeatures, outFeatures: mod.outFeatures,
    format: cfg.checkpointFormat, file: src.qweight.file, module: mod.name,
    shapes: { qweight: src.qweight.shape, qzeros: src.qzeros.shape, scales: src.scales.shape, gIdx: src.gIdx?.shape },
  });
}

/** The deepest folder containing both paths (ORT resolves external data relative to one folder). */
export function commonFolder(a: string, b: string): string {
  const pa = path.resolve(a).split(path.sep);
  const pb = path.resolve(b).split(path.sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(path.sep) || path.sep;
}

function cacheFolder(m: LoadedModel, cfg: GptqConfig, cacheDir: string, files: string[]): string {
  const parts = {
    v: NBITS_CACHE_VERSION, folder: path.resolve(m.weightsDir), cfg,
    files: files.sort().map((f) => { const st = fs.statSync(f); return [f, st.size, st.mtimeMs]; }),
  };
  const key = crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
  const base = path.basename(m.weightsDir).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  return path.join(path.resolve(cacheDir), `${base}-gptq-${key}`);
}

/** Write `file` through a temporary name in its folder, then rename (a file that exists is complete). */
function writeAtomically(file: string, entries: StreamEntry[], meta: Record<string, string>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeSafetensorsStreamed(tmp, entries, meta);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

interface ModulePlanMeta { kernel: 'nbits' | 'dequant'; runBits?: 2 | 4 | 8; blockSize?: number; perm?: boolean; reason?: string }

/**
 * Attach the quantized layers of a GPTQ folder to `m` (before its float weights are checked): every
 * module with a `.qweight` becomes quantized; the others must have a float `.weight` as usual.
 */
export function attachGptq(m: LoadedModel, qc: { config: GptqConfig; file: string }, cacheDir = defaultCacheDir()): void {
  const cfg = m.config;
  if (cfg.numLayers > m.weights.size) {
    throw formatError(m.source, `config says ${cfg.numLayers} layers but the weights hold only ${m.weights.size} tensors`);
  }
  const sources = new Map<string, { mod: LinearModule; src: GptqSource }>();
  const head = headModule(cfg);
  for (const mod of [...linearModules(cfg), head]) {
    const get = (s: string) => m.weights.get(`${mod.name}.${s}`);
    const qweight = get('qweight');
    if (!qweight) continue;
    const qzeros = get('qzeros');
    const scales = get('scales');
    if (!qzeros || !scales) throw formatError(qweight.file, `'${mod.name}' has a qweight but no ${!qzeros ? 'qzeros' : 'scales'}`);
    sources.set(mod.name, { mod, src: { qweight, qzeros, scales, gIdx: get('g_idx') } });
  }
  if (sources.size === 0) {
    throw formatError(qc.file, 'declares GPTQ quantization but the weights hold no \'.qweight\' tensors');
  }
  for (const name of [...m.weights.keys()]) {
    const mod = name.replace(/\.[^.]+$/, '');
    if (sources.has(mod) && QUANT_SUFFIXES.includes(name.slice(mod.length + 1))) m.weights.delete(name);
  }

  const files = [...new Set([...sources.values()].map((s) => s.src.qweight.file))];
  const folder = cacheFolder(m, qc.config, cacheDir, [...new Set([...files, ...[...m.weights.values()].map((t) => t.file)])]);
  const file = path.join(folder, 'nbits.safetensors');
  if (!fs.existsSync(file)) buildNBitsCache(file, sources, qc.config);
  let header;
  try {
    header = readSafetensorsHeader(file);
  } catch (e) {
    throw formatError(folder, `the converted cache of ${m.source} is damaged (${(e as Error).message}); delete this folder to convert again`);
  }
  const plans = JSON.parse(header.metadata.plans ?? '{}') as Record<string, ModulePlanMeta>;
  const modules = new Map<string, QuantizedModuleRef>();
  for (const [name, { mod, src }] of sources) {
    const p = plans[name];
    const t = (s: string) => {
      const r = header.tensors.get(`${name}.${s}`);
      if (!r) throw formatError(file, `converted cache lacks '${name}.${s}'; delete ${folder} to convert again`);
      return r;
    };
    if (!p) throw formatError(file, `converted cache has no plan for '${name}'; delete ${folder} to convert again`);
    const ref: QuantizedModuleRef = {
      bits: moduleGptqConfig(qc.config, name).bits, groupSize: moduleGptqConfig(qc.config, name).groupSize, inFeatures: mod.inFeatures, outFeatures: mod.outFeatures,
      kernel: p.kernel, source: src,
    };
    if (p.kernel === 'nbits') Object.assign(ref, { runBits: p.runBits, blockSize: p.blockSize, b: t('nbits_b'), scales: t('nbits_scales'), zeroPoints: t('nbits_zero_points'), perm: p.perm ? t('nbits_perm') : undefined });
    else ref.dequantized = t('dequantized');
    modules.set(name, ref);
  }
  const tied = modules.has(HEAD_MODULE) && head.weight !== undefined && !m.weights.has(head.weight);
  m.quant = {
    method: 'gptq', bits: qc.config.bits, groupSize: qc.config.groupSize, descAct: qc.config.descAct, sym: qc.config.sym,
    checkpointFormat: qc.config.checkpointFormat, configFile: qc.file, modules, ...(tied ? { tables: { [head.weight!]: HEAD_MODULE } } : {}),
  };
  m.weightsDir = commonFolder(m.weightsDir, folder);
}

function buildNBitsCache(file: string, sources: Map<string, { mod: LinearModule; src: GptqSource }>, cfg: GptqConfig): void {
  // Unpack and plan every module first: a checkpoint that disagrees with its config fails before anything is written.
  const plans: Record<string, ModulePlanMeta> = {};
  const entries: StreamEntry[] = [];
  for (const [name, { mod, src }] of sources) {
    const mcfg = moduleGptqConfig(cfg, name);   // GPTQModel's dynamic overrides (e.g. an 8-bit lm_head)
    const q = readQuantizedModule(src, mod, mcfg);
    const plan = planNBits(q);
    const N = q.outFeatures;
    const K = q.inFeatures;
    let cached: { name: string; t: ReturnType<typeof toNBits> } | undefined;
    const conv = () => {
      if (cached?.name !== name) cached = { name, t: toNBits(readQuantizedModule(src, mod, mcfg), plan as Extract<typeof plan, { kernel: 'nbits' }>) };
      return cached.t;
    };
    if (plan.kernel === 'nbits') {
      plans[name] = { kernel: 'nbits', runBits: plan.runBits, blockSize: plan.blockSize, perm: !!plan.perm };
      const kb = Math.ceil(K / plan.blockSize);
      const blob = (plan.blockSize * plan.runBits) / 8;
      entries.push({ name: `${name}.nbits_b`, dtype: 'U8', shape: [N, kb, blob], bytes: () => conv().b });
      entries.push({ name: `${name}.nbits_scales`, dtype: 'F32', shape: [N * kb], bytes: () => asBytes(conv().scales) });
      entries.push({ name: `${name}.nbits_zero_points`, dtype: 'U8', shape: [N * Math.ceil((kb * plan.runBits) / 8)], bytes: () => conv().zeroPoints });
      if (plan.perm) entries.push({ name: `${name}.nbits_perm`, dtype: 'I64', shape: [K], bytes: () => asBytes(conv().perm!) });
    } else {
      plans[name] = { kernel: 'dequant', reason: plan.reason };
      entries.push({ name: `${name}.dequantized`, dtype: 'F32', shape: [N, K], bytes: () => asBytes(dequantize(readQuantizedModule(src, mod, mcfg))) });
    }
  }
  writeAtomically(file, entries, { format: 'idp-nbits', version: String(NBITS_CACHE_VERSION), plans: JSON.stringify(plans) });
}

/**
 * The fp32 fallback: the same model with every quantized module replaced by its dequantized weight
 * (HF layout: [out, in], GPT-2 Conv1D [in, out]), cached beside the MatMulNBits file.
 */
export function dequantizedModel(m: LoadedModel): LoadedModel {
  if (!m.quant) return m;
  const mods = new Map([...linearModules(m.config), headModule(m.config)].map((x) => [x.name, x]));
  const anyRef = [...m.quant.modules.values()].find((q) => q.b ?? q.dequantized)!;
  const file = path.join(path.dirname((anyRef.b ?? anyRef.dequantized)!.file), 'dequantized.safetensors');
  const cfg = { bits: m.quant.bits as GptqConfig['bits'], groupSize: m.quant.groupSize, checkpointFormat: m.quant.checkpointFormat };
  const tables = Object.entries(m.quant.tables ?? {});
  if (!fs.existsSync(file)) {
    const entries: StreamEntry[] = [];
    for (const [name, q] of m.quant.modules) {
      const mod = mods.get(name) ?? { name, layer: -1, layout: 'linear' as const, inFeatures: q.inFeatures, outFeatures: q.outFeatures };
      const shape = mod.layout === 'linear' ? [q.outFeatures, q.inFeatures] : [q.inFeatures, q.outFeatures];
      const names = [...(mods.has(name) ? [`${name}.weight`] : []), ...tables.filter(([, mn]) => mn === name).map(([w]) => w)];
      if (name === HEAD_MODULE && names.length > 1) names.shift();   // a tied head is the table, not lm_head.weight
      for (const wname of names) entries.push({
        name: wname, dtype: 'F32', shape, bytes: () => {
          const w = q.source ? dequantize(readQuantizedModule(q.source, mod, { ...cfg, bits: q.bits as GptqConfig['bits'], groupSize: q.groupSize })) : dequantizeNBits(q);
          if (mod.layout === 'linear') return asBytes(w);
          const t = new Float32Array(w.length);
          const N = q.outFeatures, K = q.inFeatures;
          for (let o = 0; o < N; o++) for (let k = 0; k < K; k++) t[k * N + o] = w[o * K + k];
          return asBytes(t);
        },
      });
    }
    writeAtomically(file, entries, { format: 'pt', producer: 'idp-lab dequantized GPTQ' });
  }
  const h = readSafetensorsHeader(file);
  const weights = new Map(m.weights);
  for (const [name, ref] of h.tensors) weights.set(name, ref);
  return { ...m, weights, quant: undefined };
}

/** W [out, in] float32 from a module's MatMulNBits tensors (modules with no GPTQ source: GGUF). */
export function dequantizeNBits(q: QuantizedModuleRef): Float32Array {
  if (q.kernel === 'dequant') return new Float32Array(Uint8Array.from(readTensorBytes(q.dequantized!)).buffer);
  const N = q.outFeatures, K = q.inFeatures, bits = q.runBits!, bs = q.blockSize!;
  const kb = Math.ceil(K / bs), blob = (bs * bits) / 8, zpRow = Math.ceil((kb * bits) / 8);
  const b = readTensorBytes(q.b!);
  const f32 = (r: TensorRef) => new Float32Array(Uint8Array.from(readTensorBytes(r)).buffer);
  const scales = f32(q.scales!);
  const zp = readTensorBytes(q.zeroPoints!);
  const offsets = q.offsets ? f32(q.offsets) : undefined;
  const perm = q.perm ? new BigInt64Array(Uint8Array.from(readTensorBytes(q.perm)).buffer) : undefined;
  const mask = (1 << bits) - 1;
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < K; i++) {
      const blk = Math.floor(i / bs), pos = i % bs, bit = pos * bits;
      const code = (b[(n * kb + blk) * blob + (bit >> 3)] >> (bit & 7)) & mask;
      const zbit = blk * bits;
      const zero = (zp[n * zpRow + (zbit >> 3)] >> (zbit & 7)) & mask;
      const k = perm ? Number(perm[i]) : i;
      w[n * K + k] = Math.fround(scales[n * kb + blk] * (code - zero)) + (offsets ? offsets[n * kb + blk] : 0);
    }
  }
  return w;
}

/** The model a graph is built from: the dequantized fallback or the chosen accuracy level for GPTQ models. */
export function runtimeModel(m: LoadedModel, opts: { dequantize?: boolean; quantAccuracyLevel?: number }): LoadedModel {
  if (!m.quant) return m;
  if (opts.dequantize) return dequantizedModel(m);
  if (opts.quantAccuracyLevel !== undefined) return { ...m, quant: { ...m.quant, accuracyLevel: opts.quantAccuracyLevel } };
  return m;
}
