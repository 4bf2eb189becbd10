// The architecture families the engine runs, and the questions the rest of the engine asks about a
// model's family. Adding a family: its file (arch/<family>.ts, an ArchFamily), its name in types.ts's
// Arch, its line in FAMILIES below, and its tests (docs/architectures.md).

import { unsupported } from '../../errors';
import type { ModelConfig } from '../config';
import { gpt2 } from './gpt2';
import { llama } from './llama';
import { opt } from './opt';
import { phi3 } from './phi3';
import { gemma2 } from './gemma2';
import type { Arch, ArchFamily, GgufArch, LoraTarget } from './types';

export const FAMILIES: readonly ArchFamily[] = [llama, opt, gpt2, phi3, gemma2];

const BY_ARCH = new Map<string, ArchFamily>(FAMILIES.map((f) => [f.arch, f]));

/** The family of ModelConfig.arch (an internal error for a name no family has: configs come from the parsers). */
export function familyOf(arch: Arch | string): ArchFamily {
  const f = BY_ARCH.get(arch);
  if (!f) throw new Error(`no architecture family '${arch}' (known: ${[...BY_ARCH.keys()].join(', ')})`);
  return f;
}

/** The family of a loaded model's config. */
export const family = (cfg: Pick<ModelConfig, 'arch'>): ArchFamily => familyOf(cfg.arch);

/** HF model_type → [family, accepted architectures]. */
export function familyForModelType(modelType: string): { family: ArchFamily; architectures: readonly string[] } | undefined {
  for (const f of FAMILIES) {
    const list = f.hfModelTypes[modelType];
    if (list) return { family: f, architectures: list };
  }
  return undefined;
}

/** HF `architectures[0]` → its model_type, for configs that omit model_type. */
export function modelTypeOfArchitecture(architecture: string): string | undefined {
  for (const f of FAMILIES) for (const [t, list] of Object.entries(f.hfModelTypes)) if (list.includes(architecture)) return t;
  return undefined;
}

/** Every HF model_type the engine reads. */
export const hfModelTypes = (): string[] => FAMILIES.flatMap((f) => Object.keys(f.hfModelTypes));

/** The family and reader of a GGUF `general.architecture`; UNSUPPORTED naming the file and the supported ones. */
export function ggufArch(arch: string, file: string): { family: ArchFamily; spec: GgufArch } {
  for (const f of FAMILIES) {
    const spec = f.gguf?.[arch];
    if (spec) return { family: f, spec };
  }
  throw unsupported(`GGUF architecture "${arch}" is not supported (supported: ${ggufArchitectures().join(', ')})`, file);
}

/** Every GGUF architecture the engine converts. */
export const ggufArchitectures = (): string[] => FAMILIES.flatMap((f) => Object.keys(f.gguf ?? {}));

/** HF module path prefix of decoder layer `layer`, with the trailing dot: `model.layers.3.`. */
export const layerPrefixOf = (cfg: Pick<ModelConfig, 'arch'>, layer: number): string => `${family(cfg).layers}.${layer}.`;

/** `<layers>.{i}.<rest>.weight` → [layer, rest] for this family's layer tensors; undefined otherwise. */
export function parseLayerWeight(cfg: Pick<ModelConfig, 'arch'>, name: string): { layer: number; module: string } | undefined {
  const prefix = `${family(cfg).layers}.`;
  if (!name.startsWith(prefix) || !name.endsWith('.weight')) return undefined;
  const m = /^(\d+)\.(.+)\.weight$/.exec(name.slice(prefix.length));
  return m ? { layer: Number(m[1]), module: m[2] } : undefined;
}

/** The LoRA target table of a family: target → module suffix. */
export const loraTargetsOf = (cfg: Pick<ModelConfig, 'arch'>): Readonly<Partial<Record<LoraTarget, string>>> => family(cfg).loraTargets;

/** The token before a document or prompt: BOS where the family uses one (config, else tokenizer). */
export function bosTokenFor(cfg: { arch: string; bosTokenId?: number }, tok: { bosId?: number } | undefined): number | undefined {
  return familyOf(cfg.arch).bos === 'bos' ? cfg.bosTokenId ?? tok?.bosId : undefined;
}

/** The token after each document (EOS) for families that separate documents that way; else undefined. */
export function documentEndFor(cfg: { arch: string; eosTokenId?: number }, tok: { eosId?: number } | undefined): number | undefined {
  return familyOf(cfg.arch).bos === 'eos-separated' ? cfg.eosTokenId ?? tok?.eosId : undefined;
}
