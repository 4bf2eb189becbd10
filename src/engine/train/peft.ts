// PEFT interchange: adapter_config.json + adapter_model.safetensors, as `PeftModel.save_pretrained`
// writes them (the adapter name is not part of the saved tensor names).
//   PROMPT_TUNING  prompt_embeddings [num_virtual_tokens · num_transformer_submodules, token_dim]
//   PREFIX_TUNING  prompt_embeddings [num_virtual_tokens, num_layers · 2 · token_dim] (no projection)
//   LORA           base_model.model.<module>.lora_A.weight [r, in], ….lora_B.weight [out, r]

import * as fs from 'fs';
import * as path from 'path';
import { formatError, notFound, unsupported } from '../errors';
import { loadTensors, saveTensors, TensorSet } from './tensors';
import { tempFolderBeside } from '../formats/atomic-folder';
import { replaceOwnFolder } from '../formats/output-folder';
import type { LoadedModel } from '../models/config';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** A run folder of a prompt training (its adapter/ holds the PEFT files) or the adapter folder itself → the adapter folder. */
export function adapterDir(dir: string): string {
  const sub = path.join(dir, 'adapter');
  return fs.existsSync(path.join(sub, ADAPTER_CONFIG)) ? sub : dir;
}

export type PeftType = 'PROMPT_TUNING' | 'PREFIX_TUNING' | 'LORA';

/** Fields every adapter_config.json we write carries. */
export function baseConfig(peftType: PeftType, m: LoadedModel): Record<string, unknown> {
  return {
    peft_type: peftType,
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: m.source,
    inference_mode: true,
    revision: null,
    auto_mapping: null,
  };
}

/**
 * Write an adapter folder atomically (a staging folder renamed into place); a previous adapter there is
 * replaced, a folder IDP Lab did not write is refused (output-folder.ts).
 */
export function writeAdapter(dir: string, config: Record<string, unknown>, tensors: TensorSet, rename?: (n: string) => string): void {
  const abs = path.resolve(dir);
  const tmp = tempFolderBeside(abs);
  try {
    fs.writeFileSync(path.join(tmp, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
    saveTensors(path.join(tmp, ADAPTER_WEIGHTS), tensors, { format: 'pt' }, rename);
    replaceOwnFolder(tmp, abs, 'adapter');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export interface AdapterFiles {
  dir: string;
  configFile: string;
  config: Record<string, unknown>;
  weightsFile: string;
  tensors: TensorSet;
}

/** Read an adapter folder; `want` lists the PEFT types the caller handles. */
export function readAdapter(dir: string, want: PeftType[]): AdapterFiles {
  const abs = path.resolve(dir);
  const configFile = path.join(abs, ADAPTER_CONFIG);
  if (!fs.existsSync(abs)) throw notFound(abs);
  if (!fs.existsSync(configFile)) throw formatError(abs, `not a PEFT adapter folder: no ${ADAPTER_CONFIG}`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw formatError(configFile, `not valid JSON (${(e as Error).message})`);
  }
  if (!config || typeof config !== 'object') throw formatError(configFile, 'not a JSON object');
  const t = config.peft_type;
  if (typeof t !== 'string') throw formatError(configFile, 'no "peft_type"');
  if (!want.includes(t as PeftType)) throw unsupported(`peft_type ${t} is not supported here (expected ${want.join(' or ')})`, configFile);
  const weightsFile = path.join(abs, ADAPTER_WEIGHTS);
  if (!fs.existsSync(weightsFile)) {
    if (fs.existsSync(path.join(abs, 'adapter_model.bin'))) throw unsupported('adapter_model.bin (PyTorch pickle) is not supported: save with safe_serialization=True', abs);
    throw formatError(abs, `no ${ADAPTER_WEIGHTS}`);
  }
  return { dir: abs, configFile, config, weightsFile, tensors: loadTensors(weightsFile).tensors };
}

/** A positive integer field of an adapter config, or a FORMAT error naming the file. */
export function intField(a: AdapterFiles, key: string, fallback?: number): number {
  const v = a.config[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw formatError(a.configFile, `"${key}" must be a positive integer, got ${JSON.stringify(a.config[key])}`);
  return v;
}
