// Hugging Face config.json → ModelConfig. The model_type (or, without one, `architectures[0]`) picks the
// family in models/arch/registry.ts, whose parser reads the family's fields (arch/<family>.ts); every
// size is then checked against formats/limits.ts. Unknown model types and architectures are
// UNSUPPORTED naming the file and what is supported.

import { configError, unsupported } from '../errors';
import { checkModelLimits } from '../formats/limits';
import type { ModelConfig } from './config';
import { HfFields, Json } from './arch/hf-fields';
import { family, familyForModelType, hfModelTypes, modelTypeOfArchitecture } from './arch/registry';

/**
 * Parse a Hugging Face config.json (already JSON-decoded) into a ModelConfig.
 * `file` is the config's path, used in every error message.
 */
export function parseHfConfig(configJson: unknown, file: string): ModelConfig {
  if (typeof configJson !== 'object' || configJson === null || Array.isArray(configJson)) {
    throw configError(file, 'config is not a JSON object');
  }
  const c = configJson as Json;
  const f = new HfFields(c, file);
  let arch: string | undefined;
  if (c.architectures !== undefined && c.architectures !== null) {
    if (!Array.isArray(c.architectures) || (c.architectures.length > 0 && typeof c.architectures[0] !== 'string')) {
      throw configError(file, `"architectures" must be a list of names, got ${JSON.stringify(c.architectures)}`);
    }
    arch = c.architectures[0] as string | undefined;
  }
  let modelType: string;
  if (f.has('model_type')) {
    modelType = f.strOr('model_type', '');
  } else if (arch !== undefined) {
    const t = modelTypeOfArchitecture(arch);
    if (!t) throw unsupported(`architecture "${arch}" is not supported (no "model_type" given)`, file);
    modelType = t;
  } else {
    throw configError(file, 'missing "model_type"');
  }
  const known = familyForModelType(modelType);
  if (!known) {
    throw unsupported(`model_type "${modelType}" is not supported (supported: ${hfModelTypes().join(', ')})`, file);
  }
  if (arch !== undefined && !known.architectures.includes(arch)) {
    throw unsupported(`architecture "${arch}" is not supported for model_type "${modelType}" (expected ${known.architectures.join(' or ')})`, file);
  }
  return checkModelLimits(known.family.parseHfConfig(f, modelType, arch ?? known.architectures[0]), file);
}

/** The config.json written for a converted folder of this config's family (GGUF / llama2.c sources). */
export function hfConfigJson(cfg: ModelConfig): Record<string, unknown> {
  const fam = family(cfg);
  if (!fam.hfConfigJson) throw new Error(`hfConfigJson: the ${cfg.arch} family writes no converted config`);
  return fam.hfConfigJson(cfg);
}

export { llamaConfigJson } from './arch/llama';
