// Checking a request's parameters as they arrive (the wire is untyped at run time): an object with
// only known keys, each of the expected type and range. Errors are input errors naming the request
// and the parameter, e.g. "compress: bits must be one of 2, 3, 4, 8, got 5".

import * as path from 'path';
import { inputError } from '../engine/errors';
import { parseHubReference } from '../engine/hub/reference';

export type Obj = Record<string, unknown>;

export class ParamChecker {
  constructor(readonly request: string, readonly p: Obj) {}

  /** `p` is a plain object whose keys are all in `keys`. */
  static of(request: string, p: unknown, keys: readonly string[]): ParamChecker {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw inputError(`${request}: parameters must be an object`);
    const known = new Set(keys);
    const unknown = Object.keys(p).filter((k) => !known.has(k));
    if (unknown.length) throw inputError(`${request}: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`);
    return new ParamChecker(request, p as Obj);
  }

  fail(key: string, what: string): never {
    const v = this.p[key];
    throw inputError(`${this.request}: ${key} must be ${what}, got ${JSON.stringify(v) ?? String(v)}`);
  }

  private has(key: string, required: boolean): boolean {
    if (this.p[key] !== undefined) return true;
    if (required) throw inputError(`${this.request}: ${key} is required`);
    return false;
  }

  /** A non-empty absolute path. */
  path(key: string, required = false): void {
    if (!this.has(key, required)) return;
    const v = this.p[key];
    if (typeof v !== 'string' || v.trim() === '' || !path.isAbsolute(v)) this.fail(key, 'an absolute path');
  }

  /** A model: an absolute path, or a Hugging Face Hub reference (engine/hub/reference.ts). */
  model(key: string, required = false): void {
    if (!this.has(key, required)) return;
    const v = this.p[key];
    if (typeof v === 'string' && !path.isAbsolute(v) && parseHubReference(v)) return;
    if (typeof v !== 'string' || v.trim() === '' || !path.isAbsolute(v)) this.fail(key, 'an absolute path or a Hugging Face Hub id (ORG/NAME[@REVISION][:QUANT])');
  }

  str(key: string, required = false): void {
    if (!this.has(key, required)) return;
    if (typeof this.p[key] !== 'string') this.fail(key, 'a string');
  }

  bool(key: string): void {
    if (this.p[key] !== undefined && typeof this.p[key] !== 'boolean') this.fail(key, 'true or false');
  }

  int(key: string, min: number, max = Number.MAX_SAFE_INTEGER, required = false): void {
    if (!this.has(key, required)) return;
    const v = this.p[key];
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) this.fail(key, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`);
  }

  num(key: string, min: number, max: number, opts: { maxExclusive?: boolean; minExclusive?: boolean } = {}): void {
    if (this.p[key] === undefined) return;
    const v = this.p[key];
    const ok = typeof v === 'number' && Number.isFinite(v) && (opts.minExclusive ? v > min : v >= min) && (opts.maxExclusive ? v < max : v <= max);
    if (!ok) this.fail(key, `a number in ${opts.minExclusive ? '(' : '['}${min}, ${max}${opts.maxExclusive ? ')' : ']'}`);
  }

  oneOf<T>(key: string, values: readonly T[], required = false): void {
    if (!this.has(key, required)) return;
    if (!values.includes(this.p[key] as T)) this.fail(key, `one of ${values.join(', ')}`);
  }

  /** A non-empty array of distinct-or-not values each passing `ok`. */
  array(key: string, ok: (x: unknown) => boolean, what: string, required = false): void {
    if (!this.has(key, required)) return;
    const v = this.p[key];
    if (!(Array.isArray(v) && v.length > 0 && v.every(ok))) this.fail(key, what);
  }

  /** Files / globs (non-empty strings), or 'model' where `allowModel`. */
  data(key: string, allowModel: boolean, required = false): void {
    if (!this.has(key, required)) return;
    const v = this.p[key];
    if (allowModel && v === 'model') return;
    const ok = Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.trim() !== '');
    if (!ok) this.fail(key, allowModel ? "'model' or a non-empty array of files / globs" : 'a non-empty array of files / globs');
  }

  progressToken(): void {
    this.str('progressToken');
  }
}

export const isPositiveInt = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 1;
export const isNonEmptyString = (x: unknown) => typeof x === 'string' && x.trim() !== '';
