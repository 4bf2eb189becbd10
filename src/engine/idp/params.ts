// Parameter counts of the recovery methods as the paper's appendix A counts them, next to what this
// engine actually trains and stores:
//   prompt / IDP / concat   t · d            t = total prompt tokens (IDP: Σ n_i), d = embedding width
//   prefix                  L · t · d        one d-vector per layer and token (appendix A); this engine
//                                            trains a key and a value per kv head: 2 · L · t · K · D
//   LoRA                    Σ over adapted matrices of r · (d_in + d_out)   (A [r, in] + B [out, r]);
//                                            appendix A's module set (q,k,v,o + two MLP matrices) gives
//                                            10·d·r + 2·d_inter·r per layer, not its printed "8·d·r +
//                                            4·d_inter·r"; Table 1's OPT figures match the former, its
//                                            Llama figures neither (docs/study.md)
//   none                    0
// IDP also stores its prompts' K/V (2 · L · K · D · Σ n_i floats): not trained, derived once.

import type { ModelConfig } from '../models/config';
import { tokenEmbedding } from '../train/methods/prompt';
import { family, layerPrefixOf } from '../models/arch/registry';
import { expectedWeights } from '../models/weights';

export type MethodName = 'none' | 'prompt' | 'concat' | 'idp' | 'prefix' | 'lora' | 'union';

export interface ParamCount {
  method: MethodName;
  /** What the variant is, e.g. "26 tokens", "r = 4 (q,k,v,o,gate,up,down)". */
  label: string;
  /** Appendix A's count. */
  paper: number;
  /** Floats this engine trains. */
  trained: number;
  /** Floats stored to run it (IDP: prompts + their K/V cache). */
  stored: number;
  note?: string;
}

/** The linear modules of one layer the LoRA targets name (a fused module once), as [in, out] by module suffix. */
export function layerModules(c: ModelConfig, targets: readonly string[]): Map<string, [number, number]> {
  const fam = family(c);
  const table = fam.loraTargets as Record<string, string | undefined>;
  const shapes = expectedWeights({ ...c, numLayers: 1 });
  const out = new Map<string, [number, number]>();
  for (const t of targets) {
    const suffix = table[t];
    const shape = suffix ? shapes.get(`${layerPrefixOf(c, 0)}${suffix}.weight`) : undefined;
    if (!suffix || !shape) continue;
    out.set(suffix, fam.linearLayout === 'conv1d' ? [shape[0], shape[1]] : [shape[1], shape[0]]);
  }
  return out;
}

export function promptParams(c: ModelConfig, tokens: number[], method: 'prompt' | 'concat' | 'idp'): ParamCount {
  const e = tokenEmbedding(c).width;
  const t = tokens.reduce((a, b) => a + b, 0);
  const kv = method === 'idp' ? 2 * c.numLayers * c.numKvHeads * c.headDim * t : 0;
  return {
    method, label: method === 'prompt' ? `${t} tokens` : `${tokens.join(' + ')} tokens`, paper: t * e, trained: t * e, stored: t * e + kv,
    note: method === 'idp' ? 'stored includes the prompts\' K/V cache' : undefined,
  };
}

export function prefixParams(c: ModelConfig, t: number): ParamCount {
  const trained = 2 * c.numLayers * t * c.numKvHeads * c.headDim;
  return {
    method: 'prefix', label: `${t} tokens`, paper: c.numLayers * t * tokenEmbedding(c).width, trained, stored: trained,
    note: 'paper: L·t·d (one vector per layer and token); trained: keys and values, 2·L·t·K·D',
  };
}

/** LoRA on the given targets (q k v o gate up down; targets naming one fused module, as GPT-2's q/k/v, count it once). */
export function loraParams(c: ModelConfig, rank: number, targets: string[]): ParamCount {
  let perLayer = 0;
  for (const [inF, outF] of layerModules(c, targets).values()) perLayer += rank * (inF + outF);
  const n = perLayer * c.numLayers;
  return { method: 'lora', label: `r = ${rank} (${targets.join(',')})`, paper: n, trained: n, stored: n };
}

export const noneParams = (): ParamCount => ({ method: 'none', label: 'compressed only', paper: 0, trained: 0, stored: 0 });

/** 1234567 → "1.23M", 614400 → "0.61M" (the paper's style), small counts as they are. */
export function formatCount(n: number): string {
  if (n >= 1e5) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}
