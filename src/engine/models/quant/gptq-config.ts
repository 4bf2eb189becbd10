// quantize_config.json (AutoGPTQ / GPTQModel) and config.json "quantization_config" (transformers):
// reading, validation and the objects we write.
//
// AutoGPTQ writes quantize_config.json with bits, group_size, damp_percent, desc_act, static_groups,
// sym, true_sequential, model_name_or_path, model_file_base_name, quant_method, checkpoint_format;
// GPTQModel adds lm_head and meta. transformers copies the same fields into config.json under
// "quantization_config". A folder with either is a GPTQ checkpoint; quantize_config.json wins.

import * as fs from 'fs';
import * as path from 'path';
import { configError, unsupported } from '../../errors';
import { CheckpointFormat, QUANT_BITS, QuantBits } from './gptq-format';

export interface GptqConfig {
  bits: QuantBits;
  groupSize: number;          // −1 = per channel
  descAct: boolean;           // act-order
  sym: boolean;
  staticGroups: boolean;
  trueSequential: boolean;
  dampPercent: number;
  checkpointFormat: CheckpointFormat;
  /** GPTQModel's `lm_head`: the output projection is stored quantized too (lm_head.qweight …). */
  lmHead?: boolean;
  /** Writing: the head's bits when they differ from `bits` (a `dynamic` override "+:lm_head$": {bits}). */
  headBits?: QuantBits;
  /** Reading: GPTQModel's `dynamic` rules that override bits / group size per module (first match wins). */
  overrides?: Array<{ pattern: string; skip: boolean; bits?: QuantBits; groupSize?: number }>;
}

/** Bits and group size of one module: the first `dynamic` rule matching its name (re.match), else the config's. */
export function moduleGptqConfig(c: GptqConfig, module: string): GptqConfig {
  for (const r of c.overrides ?? []) {
    if (!new RegExp(`^(?:${r.pattern})`).test(module)) continue;
    if (r.skip) return c;
    return { ...c, bits: r.bits ?? c.bits, groupSize: r.groupSize ?? c.groupSize };
  }
  return c;
}

/** GPTQModel's `dynamic`: "-:regex" skips, "+:regex" or "regex" overrides fields for the modules it matches. */
function parseDynamic(d: unknown, file: string): GptqConfig['overrides'] {
  if (d === undefined || d === null) return undefined;
  if (typeof d !== 'object' || Array.isArray(d)) throw configError(file, '"dynamic" must be an object of rules');
  const out: NonNullable<GptqConfig['overrides']> = [];
  for (const [key, v] of Object.entries(d as Json)) {
    const skip = key.startsWith('-:');
    const pattern = key.replace(/^[-+]:/, '');
    try { new RegExp(pattern); } catch { continue; }   // Python-only syntax: a module it would change fails the shape checks instead
    const o = (v && typeof v === 'object' ? v : {}) as Json;
    if (o.bits !== undefined && !QUANT_BITS.includes(o.bits as QuantBits)) throw configError(file, `"dynamic" rule ${JSON.stringify(key)}: bits must be one of ${QUANT_BITS.join(', ')}`);
    if (o.group_size !== undefined && !(Number.isInteger(o.group_size) && ((o.group_size as number) === -1 || (o.group_size as number) >= 1))) {
      throw configError(file, `"dynamic" rule ${JSON.stringify(key)}: group_size must be −1 or a positive integer`);
    }
    out.push({ pattern, skip, ...(o.bits !== undefined ? { bits: o.bits as QuantBits } : {}), ...(o.group_size !== undefined ? { groupSize: o.group_size as number } : {}) });
  }
  const overriding = out.filter((r) => !r.skip && (r.bits !== undefined || r.groupSize !== undefined));
  return overriding.length ? out : undefined;
}

export const DEFAULT_GPTQ: Omit<GptqConfig, 'bits'> = {
  groupSize: 128, descAct: false, sym: true, staticGroups: false, trueSequential: true, dampPercent: 0.01, checkpointFormat: 'gptq',
};

type Json = Record<string, unknown>;

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw configError(file, `not valid JSON (${(e as Error).message})`);
  }
}

/** Validate a quantization config object (from either file); `file` names it in errors. */
export function parseGptqConfig(obj: unknown, file: string): GptqConfig {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw configError(file, 'quantization config is not a JSON object');
  const c = obj as Json;
  const method = c.quant_method ?? 'gptq';
  if (method !== 'gptq') throw unsupported(`quant_method "${String(method)}" is not supported (only GPTQ checkpoints)`, file);
  const fmt = c.checkpoint_format ?? 'gptq';
  if (fmt !== 'gptq' && fmt !== 'gptq_v2') {
    throw unsupported(`checkpoint_format "${String(fmt)}" is not supported (gptq or gptq_v2)`, file);
  }
  const bits = c.bits;
  if (typeof bits !== 'number' || !QUANT_BITS.includes(bits as QuantBits)) {
    throw configError(file, `"bits" must be one of ${QUANT_BITS.join(', ')}, got ${JSON.stringify(bits)}`);
  }
  const gs = c.group_size ?? -1;
  if (typeof gs !== 'number' || !Number.isInteger(gs) || !(gs === -1 || gs >= 1)) {
    throw configError(file, `"group_size" must be −1 or a positive integer, got ${JSON.stringify(gs)}`);
  }
  const bool = (key: string, dflt: boolean): boolean => {
    const v = c[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw configError(file, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const damp = c.damp_percent ?? DEFAULT_GPTQ.dampPercent;
  if (typeof damp !== 'number' || !(damp >= 0)) throw configError(file, `"damp_percent" must be a number ≥ 0, got ${JSON.stringify(damp)}`);
  const lmHead = bool('lm_head', false);
  const overrides = parseDynamic(c.dynamic, file);
  return {
    bits: bits as QuantBits, groupSize: gs, descAct: bool('desc_act', false), sym: bool('sym', true),
    staticGroups: bool('static_groups', false), trueSequential: bool('true_sequential', true), dampPercent: damp,
    checkpointFormat: fmt, ...(lmHead ? { lmHead } : {}), ...(overrides ? { overrides } : {}),
  };
}

/**
 * The GPTQ config of a model folder, or undefined for a float model: quantize_config.json, else
 * config.json "quantization_config" (any other quant_method there is UNSUPPORTED).
 */
export function readGptqConfig(folder: string, configJson?: unknown): { config: GptqConfig; file: string } | undefined {
  const qc = path.join(folder, 'quantize_config.json');
  if (fs.existsSync(qc)) return { config: parseGptqConfig(readJson(qc), qc), file: qc };
  const cfgFile = path.join(folder, 'config.json');
  const cfg = (configJson ?? (fs.existsSync(cfgFile) ? readJson(cfgFile) : undefined)) as Json | undefined;
  const q = cfg && typeof cfg === 'object' ? cfg.quantization_config : undefined;
  if (q === undefined || q === null) return undefined;
  return { config: parseGptqConfig(q, cfgFile), file: cfgFile };
}

/**
 * GPTQModel's `dynamic` rules that leave `float` modules unquantized: one "-:<regex>" key per module
 * name relative to its layer (value {}). GPTQModel tries each key with Python's re.match (anchored at
 * the start only) on the full module name as the model object names it, first match wins, and a
 * match of a "-:" key skips the module. The regex ends in `$` so that it names exactly these modules,
 * lists the layers (or \d+ when the module is float in every layer), and lets any prefix precede
 * the stored name ("transformer.h.0…" where a GPT-2 checkpoint stores "h.0…").
 */
export function dynamicSkipRules(float: string[], quantized: Iterable<string>): Json | undefined {
  if (!float.length) return undefined;
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const split = (name: string) => /^(.*?\.)(\d+)\.(.+)$/.exec(name);
  const quantizedKeys = new Set<string>();
  for (const q of quantized) { const m = split(q); if (m) quantizedKeys.add(`${m[1]}|${m[3]}`); }
  const groups = new Map<string, { prefix: string; rel: string; layers: string[] }>();
  const rules: Json = {};
  for (const f of float) {
    const m = split(f);
    if (!m) { rules[`-:(?:.*\\.)?${esc(f)}$`] = {}; continue; }
    const key = `${m[1]}|${m[3]}`;
    const g = groups.get(key) ?? { prefix: m[1], rel: m[3], layers: [] };
    g.layers.push(m[2]);
    groups.set(key, g);
  }
  for (const [key, g] of groups) {
    const layers = quantizedKeys.has(key) ? `(?:${g.layers.join('|')})` : '\\d+';
    rules[`-:(?:.*\\.)?${esc(g.prefix)}${layers}\\.${esc(g.rel)}$`] = {};
  }
  return rules;
}

/**
 * transformers' modules_in_block_to_quantize: null when every linear module of every layer is
 * quantized, else the quantized module names relative to their layer (one list: optimum keeps a block's
 * module when its name ends with any listed name, the same rule for every layer — so a set that differs
 * between layers cannot be expressed, and gptq-loaders.ts says so).
 */
export function modulesInBlockToQuantize(all: string[], quantized: Set<string>): string[][] | undefined {
  if (all.every((x) => quantized.has(x))) return undefined;
  const rel = new Set<string>();
  for (const x of all) if (quantized.has(x)) rel.add(x.replace(/^.*?\.\d+\./, ''));
  return [[...rel]];
}

/** quantize_config.json as AutoGPTQ/GPTQModel write it (+ GPTQModel's `dynamic` when modules stay float). */
export function quantizeConfigJson(c: GptqConfig, producer: string, skips?: Json): Json {
  const head = c.lmHead && c.headBits !== undefined && c.headBits !== c.bits ? { '+:lm_head$': { bits: c.headBits } } : undefined;
  const dynamic = head || skips ? { ...head, ...skips } : undefined;
  return {
    bits: c.bits,
    group_size: c.groupSize,
    damp_percent: c.dampPercent,
    desc_act: c.descAct,
    static_groups: c.staticGroups,
    sym: c.sym,
    true_sequential: c.trueSequential,
    lm_head: !!c.lmHead,
    model_name_or_path: null,
    model_file_base_name: 'model',
    quant_method: 'gptq',
    checkpoint_format: c.checkpointFormat,
    meta: { quantizer: [producer] },
    ...(dynamic ? { dynamic } : {}),
  };
}

/** config.json "quantization_config" as transformers writes it for GPTQ. */
export function hfQuantizationConfig(c: GptqConfig, modulesInBlock?: string[][]): Json {
  return {
    quant_method: 'gptq',
    bits: c.bits,
    group_size: c.groupSize,
    damp_percent: c.dampPercent,
    desc_act: c.descAct,
    static_groups: c.staticGroups,
    sym: c.sym,
    true_sequential: c.trueSequential,
    checkpoint_format: c.checkpointFormat,
    modules_in_block_to_quantize: modulesInBlock ?? null,
    ...(c.lmHead ? { lm_head: true } : {}),
  };
}

/**
 * The two config objects of a GPTQ folder (quantize_config.json; config.json "quantization_config")
 * for `all` linear modules of which `quantized` are stored as GPTQ and the rest stay float.
 */
export function gptqConfigFiles(c: GptqConfig, producer: string, all: string[], quantized: Set<string>): { quantizeConfig: Json; hfQuantizationConfig: Json } {
  const float = all.filter((x) => !quantized.has(x));
  return {
    quantizeConfig: quantizeConfigJson(c, producer, dynamicSkipRules(float, quantized)),
    hfQuantizationConfig: hfQuantizationConfig(c, modulesInBlockToQuantize(all, quantized)),
  };
}
