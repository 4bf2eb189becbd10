// Writing a compressed model folder, atomically: everything goes into a temporary folder beside the
// target, which is renamed into place only when complete (a cancelled or failed run leaves nothing
// that loads).
//
//   config.json            the source's config.json (+ "quantization_config" when quantized)
//   tokenizer files        copied from an HF source; llama2.c / GGUF sources get a llama2.c
//                          tokenizer.bin (the loader reads it when there is no tokenizer.json)
//   quantize_config.json   AutoGPTQ / GPTQModel fields (when quantized; GPTQModel's `dynamic` skip rules
//                          for linear modules left float)
//   sparsity_config.json   method, target, N:M pattern and the measured sparsity per module (when pruned)
//   model.safetensors      quantized modules as qweight / qzeros / scales / g_idx (+ bias as it was);
//                          a quantized head as lm_head.qweight …, replacing lm_head.weight, or the token
//                          embedding it is tied to (stored once: the runtime gathers rows from it);
//                          pruned float modules dense with their zeros, in the source dtype; every
//                          other tensor byte for byte as the source holds it
//   idp-compress.json      what produced the folder (method, options, per-module statistics)

import * as fs from 'fs';
import * as path from 'path';
import type { DType } from '../formats/dtypes';
import { f32ToF16 } from '../formats/dtypes';
import { asBytes, StreamEntry as Entry, writeSafetensorsStreamed } from '../formats/st-stream';
import { readTensorBytes, TensorRef } from '../formats/safetensors';
import { tempFolderBeside } from '../formats/atomic-folder';
import { claimOutput, OutputClaim } from '../formats/output-folder';
import { isGguf, readGguf, ggufStringArray, ggufNumberArray, ggufString } from '../formats/gguf';
import { LoadedModel, modelFolder } from '../models/config';
import { expectedWeights } from '../models/weights';
import { hfConfigJson } from '../models/hf-config';
import { checkQuantizable, packGptq, QuantizedLinear } from '../models/quant/gptq-format';
import { GptqConfig, gptqConfigFiles } from '../models/quant/gptq-config';
import { headModule, HEAD_MODULE, linearModules, LinearModule } from '../models/quant/modules';

export const PRODUCER = 'idp-lab:0.1.0';

export interface SparsityInfo {
  method: string;                  // sparsegpt | magnitude
  sparsity: number;                // target fraction of zeros (unstructured), or N/M for a pattern
  pattern: string | null;          // "2:4", "4:8" or null
  /** Measured fraction of zero weights per module. */
  modules: Record<string, number>;
}

export interface WriteModelOptions {
  /** Float weights [out, in] that replace the source's (pruned modules), by module path. */
  dense?: Map<string, Float32Array>;
  sparsity?: SparsityInfo;
  /** Written as idp-compress.json. */
  report?: Record<string, unknown>;
  /** Replace an existing non-empty folder IDP Lab wrote (default: refuse; a foreign folder is always refused). */
  overwrite?: boolean;
  /** The caller's claim on the folder (output-folder.ts), taken before its compute; else one is taken here. */
  claim?: OutputClaim;
  /** Polled between tensors: true abandons the write (nothing is left behind). */
  isCancelled?: () => boolean;
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model',
  'vocab.json', 'merges.txt', 'added_tokens.json', 'generation_config.json', 'tokenizer.bin'];

/** Float32 values [out, in] → bytes of `dtype` in the tensor's stored layout. */
function floatBytes(w: Float32Array, dtype: DType, layout: 'linear' | 'conv1d', out: number, inF: number): Uint8Array {
  let v = w;
  if (layout === 'conv1d') {
    v = new Float32Array(w.length);
    for (let o = 0; o < out; o++) for (let k = 0; k < inF; k++) v[k * out + o] = w[o * inF + k];
  }
  if (dtype === 'F32') return asBytes(v);
  const u = new Uint16Array(v.length);
  if (dtype === 'F16') for (let i = 0; i < v.length; i++) u[i] = f32ToF16(v[i]);
  else if (dtype === 'BF16') {
    const f = new Float32Array(1);
    const fu = new Uint32Array(f.buffer);
    for (let i = 0; i < v.length; i++) {
      f[0] = v[i];
      const x = fu[0];
      u[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;   // round to nearest even
    }
  } else throw new Error(`write-model: cannot store float weights as ${dtype}`);
  return asBytes(u);
}

/** The source's config.json object (an HF folder's own, or the one a converted folder holds). */
function sourceConfigJson(m: LoadedModel): Record<string, unknown> {
  const f = path.join(modelFolder(m), 'config.json');
  if (fs.existsSync(f)) {
    const c = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
    delete c.quantization_config;
    return c;
  }
  return hfConfigJson(m.config);
}

/** llama2.c tokenizer.bin bytes from a GGUF SentencePiece vocabulary (U+2581 → space, as llama2.c's exporter). */
function ggufVocabAsLlama2c(file: string): Buffer | undefined {
  const g = readGguf(file);
  const tokens = ggufStringArray(g, 'tokenizer.ggml.tokens');
  const model = ggufString(g, 'tokenizer.ggml.model') ?? 'llama';
  if (!tokens || model !== 'llama') return undefined;
  const scores = ggufNumberArray(g, 'tokenizer.ggml.scores') ?? tokens.map(() => 0);
  const pieces = tokens.map((t) => Buffer.from(t.replace(/\u2581/g, ' '), 'utf8'));
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0].writeUInt32LE(Math.max(1, ...pieces.map((p) => p.length)));
  pieces.forEach((p, i) => {
    const h = Buffer.alloc(8);
    h.writeFloatLE(scores[i], 0);
    h.writeInt32LE(p.length, 4);
    parts.push(h, p);
  });
  return Buffer.concat(parts);
}

/** Copy (or, for GGUF/llama2.c sources, write) the tokenizer files into `dir`. Returns their names. */
function writeTokenizer(m: LoadedModel, dir: string): string[] {
  const written: string[] = [];
  if (m.format === 'hf') {
    for (const f of TOKENIZER_FILES) {
      const src = path.join(modelFolder(m), f);
      if (fs.existsSync(src)) { fs.copyFileSync(src, path.join(dir, f)); written.push(f); }
    }
    return written;
  }
  const tokFile = (m.tokenizer as { file?: string } | undefined)?.file;
  if (!tokFile || !fs.existsSync(tokFile)) return written;
  const bytes = isGguf(tokFile) ? ggufVocabAsLlama2c(tokFile) : fs.readFileSync(tokFile);
  if (bytes) { fs.writeFileSync(path.join(dir, 'tokenizer.bin'), bytes); written.push('tokenizer.bin'); }
  return written;
}

/**
 * Write `model` with `quantized` modules (GPTQ layout, `config`) and `opts.dense` replacement weights
 * into `folder`, atomically. Returns false (and leaves nothing) when cancelled.
 */
export function writeQuantizedModel(folder: string, model: LoadedModel, quantized: Map<string, QuantizedLinear>,
  config: GptqConfig | undefined, opts: WriteModelOptions = {}): boolean {
  const abs = path.resolve(folder);
  if (quantized.size && !config) throw new Error('writeQuantizedModel: quantized modules need a GptqConfig');
  for (const [name, q] of quantized) checkQuantizable(name, q.inFeatures, q.outFeatures, q.bits, q.groupSize, abs);   // the layout's word rules
  if (opts.claim && opts.claim.target !== abs) throw new Error(`writeQuantizedModel: the claim is on ${opts.claim.target}, not ${abs}`);
  const claim = opts.claim ?? claimOutput(abs, { kind: 'compress', mode: 'replace', overwrite: opts.overwrite });
  try {
    return writeClaimed(claim, model, quantized, config, opts);
  } finally {
    if (!opts.claim) claim.release();
  }
}

function writeClaimed(claim: OutputClaim, model: LoadedModel, quantized: Map<string, QuantizedLinear>,
  config: GptqConfig | undefined, opts: WriteModelOptions): boolean {
  const abs = claim.target;
  const layerNames = linearModules(model.config).map((x) => x.name);
  const mods = new Map<string, LinearModule>(linearModules(model.config).map((x) => [x.name, x]));
  if (quantized.has(HEAD_MODULE)) mods.set(HEAD_MODULE, headModule(model.config));
  for (const name of [...quantized.keys(), ...(opts.dense?.keys() ?? [])]) {
    if (!mods.has(name)) throw new Error(`writeQuantizedModel: '${name}' is not a linear module of this model`);
  }
  if (quantized.has(HEAD_MODULE) && !config?.lmHead) throw new Error('writeQuantizedModel: a quantized lm_head needs lmHead in the GptqConfig');
  const byWeight = new Map([...mods.values()].map((x) => [x.weight ?? `${x.name}.weight`, x]));
  const entries: Entry[] = [];
  for (const name of expectedWeights(model.config).keys()) {
    const ref = model.weights.get(name) as TensorRef;
    const mod = byWeight.get(name);
    const q = mod && quantized.get(mod.name);
    if (mod && q) {
      const cf = config!.checkpointFormat;
      let packed: ReturnType<typeof packGptq> | undefined;
      const get = () => (packed ??= packGptq(q, cf, mod.name));
      const G = q.scales.length / q.outFeatures;
      entries.push({ name: `${mod.name}.qweight`, dtype: 'I32', shape: [(q.inFeatures * q.bits) / 32, q.outFeatures], bytes: () => asBytes(get().qweight) });
      entries.push({ name: `${mod.name}.qzeros`, dtype: 'I32', shape: [G, (q.outFeatures * q.bits) / 32], bytes: () => asBytes(get().qzeros) });
      entries.push({ name: `${mod.name}.scales`, dtype: 'F16', shape: [G, q.outFeatures], bytes: () => asBytes(get().scales) });
      entries.push({ name: `${mod.name}.g_idx`, dtype: 'I32', shape: [q.inFeatures], bytes: () => { const b = asBytes(get().gIdx); packed = undefined; return b; } });
      continue;
    }
    const dense = mod && opts.dense?.get(mod.name);
    if (mod && dense) {
      entries.push({ name, dtype: ref.dtype, shape: ref.shape, bytes: () => floatBytes(dense, ref.dtype, mod.layout, mod.outFeatures, mod.inFeatures) });
      continue;
    }
    entries.push({ name, dtype: ref.dtype, shape: ref.shape, bytes: () => readTensorBytes(ref) });
  }

  const tmp = tempFolderBeside(abs);
  try {
    const cfg = sourceConfigJson(model);
    if (config) {
      const files = gptqConfigFiles(config, PRODUCER, layerNames, new Set(quantized.keys()));
      cfg.quantization_config = files.hfQuantizationConfig;
      fs.writeFileSync(path.join(tmp, 'quantize_config.json'), JSON.stringify(files.quantizeConfig, null, 2) + '\n');
    }
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    writeTokenizer(model, tmp);
    if (opts.sparsity) fs.writeFileSync(path.join(tmp, 'sparsity_config.json'), JSON.stringify(opts.sparsity, null, 2) + '\n');
    if (opts.report) fs.writeFileSync(path.join(tmp, 'idp-compress.json'), JSON.stringify({ producer: PRODUCER, ...opts.report }, null, 2) + '\n');
    const meta: Record<string, string> = { format: 'pt', producer: PRODUCER };
    if (opts.sparsity) meta.sparsity = JSON.stringify({ method: opts.sparsity.method, sparsity: opts.sparsity.sparsity, pattern: opts.sparsity.pattern });
    if (!writeSafetensorsStreamed(path.join(tmp, 'model.safetensors'), entries, meta, opts.isCancelled) || opts.isCancelled?.()) {
      fs.rmSync(tmp, { recursive: true, force: true });
      return false;
    }
    claim.commit(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return true;
}
