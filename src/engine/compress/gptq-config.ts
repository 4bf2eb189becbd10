// quantize_config.json (AutoGPTQ / GPTQModel) and config.json "quantization_config" (transformers):
// reading, validation and the objects we write.
//
// AutoGPTQ writes quantize_config.json with bits, group_size, damp_percent, desc_act, static_groups,
// sym, true_sequential, model_name_or_path, model_file_base_name, quant_method, checkpoint_format;
// GPTQModel adds lm_head and meta. transformers copies the same fields into config.json under
// "quantization_config". A folder with either is a GPTQ checkpoint; quantize_config.json wins.

import * as fs from 'fs';
import * as path from 'path';
import { configError, unsupported } from '../errors';
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
  if (c.lm_head === true) throw unsupported('a quantized lm_head is not supported', file);
  return {
    bits: bits as QuantBits, groupSize: gs, descAct: bool('desc_act', false), sym: bool('sym', true),
    staticGroups: bool('static_groups', false), trueSequential: bool('true_sequential', true), dampPercent: damp,
    checkpointFormat: fmt,
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

/** quantize_config.json as AutoGPTQ/GPTQModel write it. */
export function quantizeConfigJson(c: GptqConfig, producer: string): Json {
  return {
    bits: c.bits,
    group_size: c.groupSize,
    damp_percent: c.dampPercent,
    desc_act: c.descAct,
    static_groups: c.staticGroups,
    sym: c.sym,
    true_sequential: c.trueSequential,
    lm_head: false,
    model_name_or_path: null,
    model_file_base_name: 'model',
    quant_method: 'gptq',
    checkpoint_format: c.checkpointFormat,
    meta: { quantizer: [producer] },
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
  };
}
