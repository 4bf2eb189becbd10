// Model loading: one entry point for every format, producing a LoadedModel whose weights carry
// canonical HF names (see weights.ts) in HF layout.
//
//   folder with config.json   → HF: model.safetensors, or model.safetensors.index.json shards, or
//                                every *.safetensors in the folder; tokenizer.json (or GPT-2's
//                                vocab.json + merges.txt) when present
//   *.gguf / GGUF magic       → converted once to a cached HF folder (convert.ts); tokenizer from
//                                the GGUF vocabulary
//   any other file            → llama2.c checkpoint (v0 or v1), converted likewise; tokenizer from
//                                opts.tokenizer, a sibling tokenizer.bin, or a sibling tok*.bin
//   ORG/NAME[@REV][:QUANT]    → (not an existing path) a Hugging Face Hub reference: the HF cache's
//                                snapshot folder or GGUF file, downloaded first when not cached
//                                (hub/resolve.ts); `source` stays the reference, `hub` says where it went
//
// LoadedModel.weights holds exactly the tensors expectedWeights(config) lists; other tensors in the
// files (and buffers such as attn.masked_bias) are left out. weightsDir holds every weight file.

import * as fs from 'fs';
import * as path from 'path';
import { configError, formatError, IdpError, isIdpError, notFound, unsupported } from '../errors';
import { readSafetensorsHeader, TensorRef } from '../formats/safetensors';
import { readGguf, GgufFile, isGguf, ggufNumber, ggufNumberArray, ggufString, ggufStringArray } from '../formats/gguf';
import { hasLlama2cMagic, readLlama2cHeader } from '../formats/llama2c';
import { orNotFound } from '../formats/files';
import { gpt2TokenizerFromVocabMerges, loadLlama2cTokenizer, loadTokenizerJson, tokenizerFromGgufVocab } from '../tokenizers';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { LoadedModel, ModelConfig, ModelFormat, parameterCount } from './config';
import { ensureConverted, ggufSource, llama2cSource } from './convert';
import { parseHfConfig } from './hf-config';
import { family } from './arch/registry';
import { checkWeights, expectedWeights, normalizeWeightName } from './weights';
import { readGptqConfig } from './quant/gptq-config';
import { attachGptq, commonFolder } from './quant/gptq-load';
import { attachGgufNBits } from './quant/gguf-nbits-load';
import { HubOptions, resolveModel } from '../hub/resolve';
import { progressLines } from '../hub/progress';

export interface LoadOptions {
  /** Tokenizer file overriding the one found with the model (tokenizer.json, or a llama2.c .bin). */
  tokenizer?: string;
  /** Where converted GGUF/llama2.c models are cached (default $IDP_CACHE/converted or ~/.cache/idp-lab/converted). */
  cacheDir?: string;
  /** Hub references: progress and cancel of a download (default progress: log lines on stderr). */
  hub?: HubOptions;
}

export interface ModelDescription {
  architecture: string;
  modelType: string;
  format: ModelFormat;
  parameters: number;
  /** Number of weight tensors per dtype. */
  dtypes: Record<string, number>;
  contextLength: number;
  vocabSize: number;
  layers: number;
  hidden: number;
  /** e.g. "gptq 4-bit, group 128, act-order" for GPTQ checkpoints. */
  quantization?: string;
  /** A model from the Hugging Face Hub: where the reference resolved to. */
  hub?: { repo: string; revision: string; commit: string; file?: string };
}

/** Load a model from a HF folder, a GGUF file, a llama2.c checkpoint or a Hugging Face Hub reference. */
export async function loadModel(p: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const r = await resolveModel(p, { onProgress: progressLines(), ...opts.hub });
  const m = await loadLocal(r.path, opts);
  if (r.hub) {
    m.source = p.trim();
    m.hub = r.hub;
  }
  return m;
}

async function loadLocal(p: string, opts: LoadOptions): Promise<LoadedModel> {
  const abs = path.resolve(p);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw notFound(abs);
  }
  if (st.isDirectory()) return loadHfFolder(abs, opts);
  if (!st.isFile()) throw formatError(abs, 'not a regular file or folder');
  // A safetensors file or config.json inside a HF folder: load the folder.
  if (/\.safetensors$|^config\.json$/.test(path.basename(abs)) && fs.existsSync(path.join(path.dirname(abs), 'config.json'))) {
    return loadHfFolder(path.dirname(abs), opts);
  }
  if (isGguf(abs)) return loadGguf(abs, opts);
  if (abs.toLowerCase().endsWith('.gguf')) throw formatError(abs, 'not a GGUF file: it does not start with the "GGUF" magic');
  return loadLlama2c(abs, opts);
}

// ---------------------------------------------------------------------------------------------
// HF folders

function readJsonFile(file: string, kind: 'config' | 'format'): unknown {
  const text = orNotFound(file, () => fs.readFileSync(file, 'utf8'));
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = `not valid JSON (${(e as Error).message})`;
    throw kind === 'config' ? configError(file, msg) : formatError(file, msg);
  }
}

/** Weight files of a HF folder: [file, names it must hold (from an index) or undefined]. */
function hfWeightFiles(folder: string): Array<[string, string[] | undefined]> {
  const single = path.join(folder, 'model.safetensors');
  if (fs.existsSync(single)) return [[single, undefined]];
  const indexFile = path.join(folder, 'model.safetensors.index.json');
  if (fs.existsSync(indexFile)) {
    const idx = readJsonFile(indexFile, 'format') as { weight_map?: unknown };
    const map = idx && typeof idx === 'object' ? idx.weight_map : undefined;
    if (!map || typeof map !== 'object' || Array.isArray(map)) throw formatError(indexFile, 'no "weight_map" object');
    const byFile = new Map<string, string[]>();
    for (const [name, rel] of Object.entries(map as Record<string, unknown>)) {
      if (typeof rel !== 'string' || rel === '') throw formatError(indexFile, `weight_map entry '${name}' is not a file name`);
      const f = path.resolve(folder, rel);
      if (path.relative(folder, f).startsWith('..') || path.isAbsolute(rel)) {
        throw formatError(indexFile, `weight_map entry '${name}' points outside the model folder: ${rel}`);
      }
      if (!fs.existsSync(f)) throw formatError(indexFile, `shard ${rel} (holding '${name}') does not exist`);
      if (!byFile.has(f)) byFile.set(f, []);
      byFile.get(f)!.push(name);
    }
    if (byFile.size === 0) throw formatError(indexFile, 'weight_map is empty');
    return [...byFile.entries()];
  }
  const all = fs.readdirSync(folder).filter((f) => f.endsWith('.safetensors')).sort();
  if (all.length) return all.map((f) => [path.join(folder, f), undefined]);
  if (fs.readdirSync(folder).some((f) => /\.(bin|pt|pth|ckpt)$/.test(f) && f !== 'training_args.bin')) {
    throw unsupported('only safetensors weights are supported (found PyTorch pickle files); convert them to .safetensors', folder);
  }
  throw formatError(folder, 'no weights: expected model.safetensors, model.safetensors.index.json or *.safetensors');
}

function collectWeights(cfg: ModelConfig, folder: string): Map<string, TensorRef> {
  const weights = new Map<string, TensorRef>();
  for (const [file, listed] of hfWeightFiles(folder)) {
    const h = readSafetensorsHeader(file);
    if (listed) {
      for (const n of listed) {
        if (!h.tensors.has(n)) throw formatError(file, `tensor '${n}' listed in model.safetensors.index.json is not in this shard`);
      }
    }
    for (const [name, ref] of h.tensors) {
      const canon = normalizeWeightName(cfg, name);
      if (canon === null) continue;
      const prev = weights.get(canon);
      if (prev) throw formatError(file, `tensor '${canon}' appears twice (also in ${prev.file})`);
      weights.set(canon, { ...ref, name: canon });
    }
  }
  return weights;
}

/**
 * Where ONNX Runtime finds the weights of `folder`: the folder itself, unless weight files are links
 * to files outside it (a Hugging Face cache snapshot links to ../../blobs/<sha256>). ONNX Runtime
 * resolves links and refuses external data outside the folder it is given, so then the refs point at
 * the real files and the folder returned is the deepest one holding them and the model folder (the
 * repository's cache folder); the caller keeps the model folder as LoadedModel.folder.
 */
function externalDataDir(folder: string, weights: Map<string, TensorRef>): string {
  const realFolder = fs.realpathSync(folder);
  const real = new Map<string, string>();
  for (const ref of weights.values()) if (!real.has(ref.file)) real.set(ref.file, fs.realpathSync(ref.file));
  const outside = [...real.values()].some((r) => path.relative(realFolder, r).startsWith('..'));
  if (!outside) return folder;
  for (const ref of weights.values()) ref.file = real.get(ref.file)!;
  return [...real.values()].reduce((d, r) => commonFolder(d, path.dirname(r)), realFolder);
}

function keepExpected(m: LoadedModel): void {
  checkWeights(m);
  const want = expectedWeights(m.config);
  const kept = new Map<string, TensorRef>();
  for (const name of want.keys()) if (m.weights.has(name)) kept.set(name, m.weights.get(name)!);
  m.weights = kept;
}

function guardTokenizer<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isIdpError(e)) throw e;
    throw formatError(file, `cannot load tokenizer: ${(e as Error).message}`);
  }
}

/** A tokenizer file given explicitly: tokenizer.json-style JSON, else a llama2.c tokenizer.bin. */
function tokenizerFromFile(file: string, cfg: ModelConfig): Tokenizer {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw notFound(abs, 'tokenizer file not found');
  if (abs.endsWith('.json')) return guardTokenizer(abs, () => loadTokenizerJson(abs));
  return guardTokenizer(abs, () => loadLlama2cTokenizer(abs, cfg.bosTokenId ?? 1, cfg.eosTokenId ?? 2, cfg.vocabSize));
}

function hfTokenizer(folder: string, cfg: ModelConfig): Tokenizer | undefined {
  const tj = path.join(folder, 'tokenizer.json');
  if (fs.existsSync(tj)) return guardTokenizer(tj, () => loadTokenizerJson(tj));
  const vocab = path.join(folder, 'vocab.json');
  const merges = path.join(folder, 'merges.txt');
  if (family(cfg).vocabMergesTokenizer && fs.existsSync(vocab) && fs.existsSync(merges)) {
    return guardTokenizer(vocab, () => gpt2TokenizerFromVocabMerges(vocab, merges));
  }
  const bin = path.join(folder, 'tokenizer.bin');   // llama2.c vocabulary (folders written from llama2.c / GGUF models)
  if (fs.existsSync(bin)) return guardTokenizer(bin, () => loadLlama2cTokenizer(bin, cfg.bosTokenId ?? 1, cfg.eosTokenId ?? 2, cfg.vocabSize));
  return undefined;
}

/** Load a HF folder (config.json + safetensors). Synchronous core of loadModel for folders. */
export function loadHfFolder(folder: string, opts: LoadOptions = {}, as?: { format: ModelFormat; source: string; tokenizer?: Tokenizer }): LoadedModel {
  const abs = path.resolve(folder);
  if (!fs.existsSync(abs)) throw notFound(abs);
  const cfgFile = path.join(abs, 'config.json');
  if (!fs.existsSync(cfgFile)) {
    throw formatError(abs, 'not a model folder: expected config.json (Hugging Face layout) next to the .safetensors weights');
  }
  const rawConfig = readJsonFile(cfgFile, 'config');
  const config = parseHfConfig(rawConfig, cfgFile);
  const weights = collectWeights(config, abs);
  const dataDir = externalDataDir(abs, weights);
  const m: LoadedModel = {
    config,
    weights,
    weightsDir: dataDir,
    ...(dataDir !== abs ? { folder: abs } : {}),
    format: as?.format ?? 'hf',
    source: as?.source ?? abs,
  };
  const gptq = readGptqConfig(abs, rawConfig);
  if (gptq) attachGptq(m, gptq, opts.cacheDir);   // quantized layers → m.quant (MatMulNBits cache)
  else if (as?.format === 'gguf') attachGgufNBits(m, abs);   // a GGUF's quantized matrices, converted (nbits.safetensors)
  keepExpected(m);
  if (as) m.tokenizer = opts.tokenizer ? tokenizerFromFile(opts.tokenizer, config) : as.tokenizer;
  else m.tokenizer = opts.tokenizer ? tokenizerFromFile(opts.tokenizer, config) : hfTokenizer(abs, config);
  return m;
}

// ---------------------------------------------------------------------------------------------
// GGUF and llama2.c (converted)

function ggufTokenizer(g: GgufFile): Tokenizer | undefined {
  const tokens = ggufStringArray(g, 'tokenizer.ggml.tokens');
  if (!tokens) return undefined;
  const merges = ggufStringArray(g, 'tokenizer.ggml.merges');
  const addSpace = g.metadata.get('tokenizer.ggml.add_space_prefix');
  return guardTokenizer(g.file, () => tokenizerFromGgufVocab({
    tokens,
    scores: ggufNumberArray(g, 'tokenizer.ggml.scores'),
    tokenTypes: ggufNumberArray(g, 'tokenizer.ggml.token_type'),
    bosId: ggufNumber(g, 'tokenizer.ggml.bos_token_id'),
    eosId: ggufNumber(g, 'tokenizer.ggml.eos_token_id'),
    model: ggufString(g, 'tokenizer.ggml.model'),
    merges,
    pre: ggufString(g, 'tokenizer.ggml.pre'),
    addSpacePrefix: typeof addSpace === 'boolean' ? addSpace : undefined,
  }, g.file));
}

function loadGguf(file: string, opts: LoadOptions): LoadedModel {
  const g = readGguf(file);
  const folder = ensureConverted(file, 'gguf', opts.cacheDir, () => ggufSource(g));
  const tokenizer = opts.tokenizer ? undefined : ggufTokenizer(g);
  return loadConverted(folder, file, 'gguf', opts, tokenizer);
}

function siblingLlama2cTokenizer(file: string, vocab: number): string | undefined {
  const dir = path.dirname(file);
  const plain = path.join(dir, 'tokenizer.bin');
  if (fs.existsSync(plain)) return plain;
  const own = path.join(dir, `tok${vocab}.bin`);
  if (fs.existsSync(own)) return own;
  const any = fs.readdirSync(dir).filter((f) => /^tok.*\.bin$/.test(f) && path.join(dir, f) !== file).sort();
  return any.length ? path.join(dir, any[0]) : undefined;
}

function loadLlama2c(file: string, opts: LoadOptions): LoadedModel {
  let h;
  try {
    h = readLlama2cHeader(file);
  } catch (e) {
    if (isIdpError(e) && e.code === 'FORMAT' && !hasLlama2cMagic(file)) {
      throw formatError(file, `not a recognized model file: expected a folder with config.json, a GGUF file or a llama2.c checkpoint (as llama2.c: ${stripFile(e, file)})`);
    }
    throw e;
  }
  const folder = ensureConverted(file, 'llama2c', opts.cacheDir, () => llama2cSource(h));
  let tokenizer: Tokenizer | undefined;
  if (!opts.tokenizer) {
    const tok = siblingLlama2cTokenizer(file, h.vocabSize);
    if (tok) tokenizer = guardTokenizer(tok, () => loadLlama2cTokenizer(tok, 1, 2, h.vocabSize));
  }
  return loadConverted(folder, file, 'llama2c', opts, tokenizer);
}

function stripFile(e: IdpError, file: string): string {
  return e.message.startsWith(`${file}: `) ? e.message.slice(file.length + 2) : e.message;
}

function loadConverted(folder: string, source: string, format: ModelFormat, opts: LoadOptions, tokenizer?: Tokenizer): LoadedModel {
  try {
    return loadHfFolder(folder, opts, { format, source, tokenizer });
  } catch (e) {
    // A damaged cache entry (deleted files, disk full during an old run) names the cache folder.
    if (isIdpError(e) && e.file !== undefined && e.file.startsWith(folder)) {
      throw formatError(folder, `converted cache of ${source} is damaged (${stripFile(e, e.file)}); delete this folder to convert again`);
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------

/** Summary for `idp info`. */
export function describeModel(m: LoadedModel): ModelDescription {
  const dtypes: Record<string, number> = {};
  for (const t of m.weights.values()) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  const c = m.config;
  return {
    architecture: c.hfArchitecture,
    modelType: c.modelType,
    format: m.format,
    parameters: parameterCount(m),
    dtypes,
    contextLength: c.maxPositions,
    vocabSize: c.vocabSize,
    layers: c.numLayers,
    hidden: c.hiddenSize,
    ...(m.hub ? { hub: { repo: m.hub.repo, revision: m.hub.revision, commit: m.hub.commit, ...(m.hub.file ? { file: m.hub.file } : {}) } } : {}),
    ...(m.quant?.method === 'gguf' ? { quantization: `gguf ${Object.entries(m.quant.ggmlTypes ?? {}).map(([t, n]) => `${t} × ${n}`).join(', ')} (MatMulNBits)` }
      : m.quant ? { quantization: `gptq ${m.quant.bits}-bit, group ${m.quant.groupSize}${m.quant.descAct ? ', act-order' : ''}, ${m.quant.modules.size} layers` } : {}),
  };
}
