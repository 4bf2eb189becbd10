// `idp study --compressed DIR`: a model compressed elsewhere stands in for the study's compression step.
// What it is comes from the folder itself, most specific first: IDP Lab's idp-compress.json (method,
// bits, group, sparsity as `idp compress` wrote them), a GPTQ quantize_config.json (AutoGPTQ /
// GPTQModel), else the loaded model's own quantization (config.json's quantization_config), else only
// its folder name. The compressed row's label and the report's `compression` are built from that.

import * as fs from 'fs';
import * as path from 'path';
import { describeModel } from '../models/load';
import type { LoadedModel } from '../models/config';
import { compressLabel, CompressSpec, parseCompress } from './options';

export interface GivenCompression {
  /** The compressed row's short name in labels ("GPTQ-3bit", or the folder name when nothing says more). */
  label: string;
  /** The report's compression.description. */
  description: string;
  /** The equivalent --compress spec where the folder's record gives one ("gptq:3:g128"). */
  from?: string;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const x = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return x && typeof x === 'object' ? x as Record<string, unknown> : undefined;
  } catch {
    return undefined;   // absent or unreadable: the next source describes the folder
  }
}

/** The --compress spec idp-compress.json's record amounts to, parsed, if parseCompress reads it. */
function specOf(r: Record<string, unknown>): CompressSpec | undefined {
  const g = typeof r.group_size === 'number' ? `:g${r.group_size}` : '';
  const bits = typeof r.bits === 'number' ? r.bits : undefined;
  const spec = r.method === 'gptq' || r.method === 'rtn'
    ? (bits ? `${r.method}:${bits}${g}${r.output === 'dense' ? ':dense' : ''}` : undefined)
    : (r.method === 'sparsegpt' || r.method === 'magnitude')
      ? `${r.method}:${typeof r.pattern === 'string' ? r.pattern : r.sparsity}${bits ? `:${bits}${g}` : ''}`
      : undefined;
  try {
    return spec ? parseCompress(spec) : undefined;
  } catch {
    return undefined;
  }
}

export function describeGiven(dir: string, model: LoadedModel): GivenCompression {
  const name = path.basename(path.resolve(dir));
  const idp = readJson(path.join(dir, 'idp-compress.json'));
  const c = idp && specOf(idp);
  if (c) {
    return { label: compressLabel(c), description: `given: ${c.description} (idp-compress.json in ${name})`, from: c.spec };
  }
  const q = readJson(path.join(dir, 'quantize_config.json'));
  if (q && typeof q.bits === 'number') {
    const g = typeof q.group_size === 'number' ? (q.group_size === -1 ? 'one group per row' : `group ${q.group_size}`) : 'group not stated';
    return { label: `GPTQ-${q.bits}bit`, description: `given: GPTQ ${q.bits}-bit, ${g}${q.desc_act ? ', act-order' : ''} (quantize_config.json in ${name})` };
  }
  const quant = describeModel(model).quantization;
  if (quant && model.quant) return { label: `GPTQ-${model.quant.bits}bit`, description: `given: ${quant} (${name})` };
  return { label: name, description: `given: ${name} (no compression record in the folder)` };
}
