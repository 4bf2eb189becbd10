// Which of the ecosystem's GPTQ loaders read a folder we write, judged by the conditions their load paths
// check (restated from their published source, read for this purpose; docs/compression.md has the table):
//
//   AutoGPTQ      reads quantize_config.json (else config.json's quantization_config). BaseQuantizeConfig
//                 refuses a checkpoint_format other than gptq / marlin (and AWQ's gemm) — so gptq_v2 —,
//                 bits outside 2/3/4/8, a group size that is neither −1 nor positive, damp_percent outside
//                 (0, 1). It quantizes every linear layer of a block: its config cannot leave one float.
//   GPTQModel     reads quantize_config.json; the same field checks; and for checkpoint_format gptq with
//                 sym false it raises unless meta.quantizer holds "gptqmodel:<version ≥ 0.9.0>" (it
//                 distrusts asymmetric v1 files because of AutoGPTQ's old zero-point packing). A linear
//                 module is left float when a "-:<regex>" key of `dynamic` matches its name (re.match).
//   transformers  reads config.json's quantization_config (GPTQConfig, then optimum's GPTQQuantizer): the
//                 same field checks; a block's linear module is quantized when its name ends with a name in
//                 modules_in_block_to_quantize (all of them when null). gptq_v2 only through its GPTQModel
//                 backend (optimum: "gptq_v2 is gptqmodel only"; the AutoGPTQ backend reads zeros as v1).
//
// A quantized output projection (`idp compress --quantize-head`, quantize_config "lm_head": true) is
// GPTQModel's extension: it reads lm_head.qweight … of a model whose head is not tied. Tied to the
// embedding and stored once, the folder has no float embedding table, which no loader above fills in
// from the quantized head (GPTQModel refuses to quantize a tied head at all), so only IDP Lab reads it.
// AutoGPTQ and transformers/optimum replace the linear layers inside the blocks only: the head keeps an
// nn.Linear whose `weight` the folder does not hold.

import { QUANT_BITS, QuantBits } from '../models/quant/gptq-format';

export type GptqLoader = 'AutoGPTQ' | 'GPTQModel' | 'transformers';

export interface LoaderVerdict {
  loader: GptqLoader;
  reads: boolean;
  /** Why not, or the condition under which it reads. */
  note?: string;
}

type Json = Record<string, unknown>;

export interface GptqFolderConfigs {
  /** quantize_config.json as written. */
  quantizeConfig: Json;
  /** config.json "quantization_config" as written. */
  hfQuantizationConfig: Json;
  /** Linear modules of the decoder layers: stored as GPTQ, and left float. */
  quantized: string[];
  float: string[];
  /** The output projection stored quantized (lm_head.*), tied to the token embedding or not. */
  head?: 'tied' | 'untied';
}

const TIED_HEAD = 'the head is tied to the token embedding and stored once, quantized (lm_head.*): no float embedding table for it to load';

/** The smallest gptqmodel version whose asymmetric v1 files GPTQModel trusts (its MIN_VERSION_WITH_V2). */
export const GPTQMODEL_MIN_V2 = [0, 9, 0];

/** Python's re.match: the pattern anchored at the start of the name only. */
export const pyReMatch = (pattern: string, name: string): boolean => new RegExp(`^(?:${pattern})`).test(name);

/** Field checks AutoGPTQ, GPTQModel and transformers/optimum all make (bits, group_size, damp_percent). */
function fieldProblem(c: Json): string | undefined {
  if (!QUANT_BITS.includes(c.bits as QuantBits)) return `bits ${JSON.stringify(c.bits)} is not 2, 3, 4 or 8`;
  const gs = c.group_size;
  if (typeof gs !== 'number' || !(gs === -1 || gs > 0)) return `group_size ${JSON.stringify(gs)} is neither −1 nor positive`;
  const d = c.damp_percent;
  if (typeof d !== 'number' || !(d > 0 && d < 1)) return `damp_percent ${JSON.stringify(d)} is outside (0, 1)`;
  return undefined;
}

/** GPTQModel's is_quantized_by_v2: a meta.quantizer entry "gptqmodel:<version>" with version ≥ 0.9.0. */
export function quantizedByGptqModelV2(meta: unknown): boolean {
  const q = meta && typeof meta === 'object' ? (meta as Json).quantizer : undefined;
  const entries = Array.isArray(q) ? q : q === undefined ? [] : [q];
  for (const e of entries) {
    const parts = String(e).split(':');
    if (parts.length < 2 || parts[0].toLowerCase() !== 'gptqmodel') continue;
    const v = parts[1].split('.').map((x) => Number.parseInt(x, 10));
    if (v.some((x) => !Number.isFinite(x))) return false;
    for (let i = 0; i < GPTQMODEL_MIN_V2.length; i++) {
      const a = v[i] ?? 0;
      if (a !== GPTQMODEL_MIN_V2[i]) return a > GPTQMODEL_MIN_V2[i];
    }
    return true;
  }
  return false;
}

/** GPTQModel's dynamic_get for skipping: the first matching key decides; a "-:" key skips the module. */
export function gptqModelSkips(dynamic: unknown, name: string): boolean {
  if (!dynamic || typeof dynamic !== 'object') return false;
  for (const key of Object.keys(dynamic)) {
    if (key.startsWith('-:')) { if (pyReMatch(key.slice(2), name)) return true; }
    else if (pyReMatch(key.startsWith('+:') ? key.slice(2) : key, name)) return false;
  }
  return false;
}

/** optimum's convert_model: is a block's linear module quantized under modules_in_block_to_quantize? */
export function transformersQuantizes(modulesInBlock: unknown, name: string): boolean {
  if (modulesInBlock === null || modulesInBlock === undefined) return true;
  const keep = (modulesInBlock as unknown[][]).flat().map(String);
  return keep.some((x) => name.endsWith(x));
}

function autoGptq(f: GptqFolderConfigs): LoaderVerdict {
  const c = f.quantizeConfig;
  const no = (note: string): LoaderVerdict => ({ loader: 'AutoGPTQ', reads: false, note });
  const bad = fieldProblem(c);
  if (bad) return no(bad);
  if (c.checkpoint_format !== undefined && c.checkpoint_format !== 'gptq') return no(`checkpoint_format ${JSON.stringify(c.checkpoint_format)} is unknown to it (it reads gptq and marlin)`);
  if (f.float.length) return no(`${f.float.length} linear module(s) left float: it quantizes every linear layer of a block`);
  if (f.head) return no('a quantized lm_head: it quantizes the linear layers inside the blocks only');
  return { loader: 'AutoGPTQ', reads: true };
}

function gptqModel(f: GptqFolderConfigs): LoaderVerdict {
  const c = f.quantizeConfig;
  const no = (note: string): LoaderVerdict => ({ loader: 'GPTQModel', reads: false, note });
  const bad = fieldProblem(c);
  if (bad) return no(bad);
  const fmt = c.checkpoint_format ?? 'gptq';
  if (fmt !== 'gptq' && fmt !== 'gptq_v2') return no(`checkpoint_format ${JSON.stringify(fmt)}`);
  if (fmt === 'gptq' && c.sym === false && !quantizedByGptqModelV2(c.meta)) {
    return no('asymmetric (sym: false) in the v1 gptq format: it loads those only from gptqmodel ≥ 0.9.0 (write --sym, or --format gptq_v2)');
  }
  const unskipped = f.float.filter((x) => !gptqModelSkips(c.dynamic, x));
  if (unskipped.length) return no(`float module '${unskipped[0]}' is not excluded by a "-:" rule in dynamic`);
  const skipped = f.quantized.filter((x) => gptqModelSkips(c.dynamic, x));
  if (skipped.length) return no(`quantized module '${skipped[0]}' is excluded by a "-:" rule in dynamic`);
  if (f.head === 'tied') return no(TIED_HEAD);
  return { loader: 'GPTQModel', reads: true, ...(f.head ? { note: 'with its quantized lm_head' } : {}) };
}

function transformers(f: GptqFolderConfigs): LoaderVerdict {
  const c = f.hfQuantizationConfig;
  const no = (note: string): LoaderVerdict => ({ loader: 'transformers', reads: false, note });
  const bad = fieldProblem(c);
  if (bad) return no(bad);
  const fmt = c.checkpoint_format ?? 'gptq';
  if (fmt !== 'gptq' && fmt !== 'gptq_v2') return no(`checkpoint_format ${JSON.stringify(fmt)}`);
  const wrongFloat = f.float.find((x) => transformersQuantizes(c.modules_in_block_to_quantize, x));
  if (wrongFloat) return no(`float module '${wrongFloat}' matches modules_in_block_to_quantize (the set differs between layers)`);
  const wrongQuant = f.quantized.find((x) => !transformersQuantizes(c.modules_in_block_to_quantize, x));
  if (wrongQuant) return no(`quantized module '${wrongQuant}' is missing from modules_in_block_to_quantize`);
  if (f.head) return no('a quantized lm_head: optimum replaces the linear layers inside the blocks only');
  if (fmt === 'gptq_v2') return { loader: 'transformers', reads: true, note: 'with its GPTQModel backend only (gptq_v2)' };
  return { loader: 'transformers', reads: true };
}

/** Each loader's verdict on a folder with these configs and modules. */
export function gptqLoaders(f: GptqFolderConfigs): LoaderVerdict[] {
  return [autoGptq(f), gptqModel(f), transformers(f)];
}

/** "AutoGPTQ, GPTQModel, transformers" / "… (not AutoGPTQ: why)" for a one-line summary. */
export function describeLoaders(v: LoaderVerdict[]): string {
  const yes = v.filter((x) => x.reads).map((x) => (x.note ? `${x.loader} (${x.note})` : x.loader));
  const no = v.filter((x) => !x.reads).map((x) => `not ${x.loader}: ${x.note}`);
  return [yes.length ? `reads with ${yes.join(', ')}` : 'no GPTQ loader reads it', ...no].join('; ');
}
