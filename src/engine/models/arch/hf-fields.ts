// Reading a Hugging Face config.json, shared by every family's parser (arch/<family>.ts).
//
// Size fields are required: a config without them is refused with a CONFIG error naming the field,
// instead of silently taking a class default that would not match the weights. Optional fields take
// the defaults of the transformers config class of that family, which each parser states. Values of
// the wrong type are CONFIG errors naming the field; features whose math the graphs do not implement
// are refused as UNSUPPORTED rather than run wrongly.

import { configError, unsupported } from '../../errors';
import type { Activation } from '../config';

export type Json = Record<string, unknown>;

/** Typed access to one config.json object; every error names `file` and the field. */
export class HfFields {
  constructor(readonly c: Json, readonly file: string) {}

  has(key: string): boolean {
    return this.c[key] !== undefined && this.c[key] !== null;
  }

  /** A required positive integer. */
  int(key: string): number {
    if (!this.has(key)) throw configError(this.file, `missing "${key}"`);
    return this.posInt(key, this.c[key]);
  }

  /** An optional positive integer with a default. */
  intOr(key: string, dflt: number): number {
    return this.has(key) ? this.posInt(key, this.c[key]) : dflt;
  }

  numOr(key: string, dflt: number, positive = true): number {
    if (!this.has(key)) return dflt;
    const v = this.c[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) {
      throw configError(this.file, `"${key}" must be a ${positive ? 'positive ' : ''}number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  boolOr(key: string, dflt: boolean): boolean {
    if (!this.has(key)) return dflt;
    const v = this.c[key];
    if (typeof v !== 'boolean') throw configError(this.file, `"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  strOr(key: string, dflt: string): string {
    if (!this.has(key)) return dflt;
    const v = this.c[key];
    if (typeof v !== 'string') throw configError(this.file, `"${key}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** Token id: a non-negative integer, or a list of them (the first is used); absent → default. */
  tokenId(key: string, dflt: number | undefined): number | undefined {
    if (!this.has(key)) return dflt;
    let v = this.c[key];
    if (Array.isArray(v)) v = v[0];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw configError(this.file, `"${key}" must be a token id, got ${JSON.stringify(this.c[key])}`);
    }
    return v;
  }

  /** An optional JSON object (absent or null → undefined). */
  objOr(key: string): Json | undefined {
    if (!this.has(key)) return undefined;
    const v = this.c[key];
    if (typeof v !== 'object' || Array.isArray(v)) throw configError(this.file, `"${key}" must be an object, got ${JSON.stringify(v)}`);
    return v as Json;
  }

  /** `a / b` of two fields, refused when it does not divide. */
  divide(a: number, aKey: string, b: number, bKey: string): number {
    if (a % b !== 0) throw configError(this.file, `"${aKey}" (${a}) is not divisible by "${bKey}" (${b})`);
    return a / b;
  }

  /** An activation name as transformers spells it → the graph's Activation. */
  activation(key: string, dflt: string): Activation {
    const name = this.strOr(key, dflt);
    switch (name) {
      case 'silu': case 'swish': return 'silu';
      case 'relu': return 'relu';
      case 'gelu': return 'gelu';
      case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast': return 'gelu_new';
      default: throw unsupported(`activation ${key}="${name}" is not supported (silu, relu, gelu, gelu_new)`, this.file);
    }
  }

  private posInt(key: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw configError(this.file, `"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }
}

/**
 * Rotary base. transformers ≤ 4 writes `rope_theta` (+ optional `rope_scaling`); transformers 5 writes
 * `rope_parameters: {rope_type, rope_theta}` instead. Scaling types other than those in `allowed`
 * ("default" = unscaled is always allowed) are refused rather than silently run wrong.
 */
export function ropeTheta(f: HfFields, allowed: readonly string[] = []): number {
  for (const key of ['rope_scaling', 'rope_parameters']) {
    const r = f.objOr(key);
    if (!r) continue;
    const t = r.rope_type ?? r.type ?? 'default';
    if (t !== 'default' && !allowed.includes(t as string)) {
      throw unsupported(`${key} of type ${JSON.stringify(t)} is not supported (only unscaled rotary embeddings${allowed.length ? ` and ${allowed.join(', ')}` : ''})`, f.file);
    }
  }
  const params = f.c.rope_parameters as Json | undefined | null;
  if (params && params.rope_theta !== undefined) {
    const v = params.rope_theta;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw configError(f.file, `"rope_parameters.rope_theta" must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  }
  return f.numOr('rope_theta', 10000);
}

/** GQA head counts and the head size: heads a multiple of kv heads, head size even (rotary). */
export function attentionShape(f: HfFields, hidden: number, headsKey = 'num_attention_heads', kvKey = 'num_key_value_heads'):
  { numHeads: number; numKvHeads: number; headDim: number } {
  const numHeads = f.int(headsKey);
  const numKvHeads = f.intOr(kvKey, numHeads);
  const headDim = f.has('head_dim') ? f.int('head_dim') : f.divide(hidden, 'hidden_size', numHeads, headsKey);
  if (numHeads % numKvHeads !== 0) {
    throw configError(f.file, `"${headsKey}" (${numHeads}) is not a multiple of "${kvKey}" (${numKvHeads})`);
  }
  if (headDim % 2 !== 0) throw configError(f.file, `head dimension ${headDim} is odd; rotary embeddings need it even`);
  return { numHeads, numKvHeads, headDim };
}
