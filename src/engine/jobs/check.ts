// Checking a job's options as they arrive (from the engine process's wire, untyped at run time, or from
// the CLI's flags): an object with only known keys, each of the expected type and range. Errors are
// input errors naming the job and the option, e.g. "compress: bits must be one of 2, 3, 4, 8, got 5".
// With `absolute` (the engine process), every path and glob must be absolute.

import * as path from 'path';
import { inputError } from '../errors';
import { parseHubReference } from '../hub/reference';

export type Obj = Record<string, unknown>;

/** Training / calibration text: files / globs, or 'model' (a corpus sampled from the model itself). */
export type DataSource = string[] | 'model';

const isAbsolute = (x: string) => path.isAbsolute(x) || /^[a-zA-Z]:[\\/]/.test(x);

export class ParamChecker {
  constructor(readonly request: string, readonly p: Obj, readonly absolute = false) {}

  /** `p` is a plain object whose keys are all in `keys`. */
  static of(request: string, p: unknown, keys: readonly string[], absolute = false): ParamChecker {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw inputError(`${request}: parameters must be an object`);
    const known = new Set(keys);
    const unknown = Object.keys(p).filter((k) => !known.has(k) && (p as Obj)[k] !== undefined);
    if (unknown.length) throw inputError(`${request}: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`);
    return new ParamChecker(request, p as Obj, absolute);
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

  /** A file / folder / glob as the job takes it: a non-empty string, absolute in `absolute` mode. */
  isPath = (x: unknown): boolean => typeof x === 'string' && x.trim() !== '' && (!this.absolute || isAbsolute(x));

  private get pathWhat(): string {
    return this.absolute ? 'an absolute path' : 'a path';
  }

  /** A non-empty path (absolute in `absolute` mode). */
  path(key: string, required = false): void {
    if (!this.has(key, required)) return;
    if (!this.isPath(this.p[key])) this.fail(key, this.pathWhat);
  }

  /**
   * A model: a path (absolute in `absolute` mode), or a Hugging Face Hub reference ORG/NAME[@REVISION][:QUANT]
   * (engine/hub/reference.ts: resolved in the HF cache, or downloaded, by loadModel).
   */
  model(key: string, required = false): void {
    if (!this.has(key, required)) return;
    if (!this.isModel(this.p[key])) this.fail(key, `${this.pathWhat} or a Hugging Face Hub id (ORG/NAME[@REVISION][:QUANT])`);
  }

  isModel = (v: unknown): boolean => (typeof v === 'string' && !path.isAbsolute(v) && !!parseHubReference(v)) || this.isPath(v);

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

  /** A non-empty array of values each passing `ok`. */
  array(key: string, ok: (x: unknown) => boolean, what: string, required = false): void {
    if (!this.has(key, required)) return;
    const v = this.p[key];
    if (!(Array.isArray(v) && v.length > 0 && v.every(ok))) this.fail(key, what);
  }

  /** Files / globs (absolute in `absolute` mode). */
  paths(key: string, required = false): void {
    this.array(key, this.isPath, `a non-empty array of ${this.absolute ? 'absolute ' : ''}files / globs`, required);
  }

  /** A data source: files / globs, or 'model' (text sampled from the model) where `allowModel`. */
  isData = (v: unknown, allowModel = true): boolean =>
    (allowModel && v === 'model') || (Array.isArray(v) && v.length > 0 && v.every(this.isPath));

  data(key: string, allowModel: boolean, required = false): void {
    if (!this.has(key, required)) return;
    const v = this.p[key];
    if (this.isData(v, allowModel)) return;
    const files = `a non-empty array of ${this.absolute ? 'absolute ' : ''}files / globs`;
    this.fail(key, allowModel ? `'model' or ${files}` : files);
  }

  progressToken(): void {
    this.str('progressToken');
  }
}

export const isPositiveInt = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 1;
export const isNonEmptyString = (x: unknown) => typeof x === 'string' && x.trim() !== '';
