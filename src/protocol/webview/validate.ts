// A small run-time validator for the messages between the webviews and the extension. Messages cross
// postMessage untyped: each side checks what it receives against the same description it was typed
// from, and a message that does not fit is rejected (MessageError, logged by the receiver) — never
// half-used. Imports nothing (bundled into the webviews as well).

/** A checker returns the value typed, or throws MessageError naming the path that is wrong. */
export type Check<T> = (v: unknown, at: string) => T;
export type Checked<C> = C extends Check<infer T> ? T : never;

export class MessageError extends Error {
  constructor(readonly at: string, problem: string) {
    super(`${at}: ${problem}`);
    this.name = 'MessageError';
  }
}

const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

export const str: Check<string> = (v, at) => {
  if (typeof v !== 'string') throw new MessageError(at, `expected a string, got ${kind(v)}`);
  return v;
};

export const bool: Check<boolean> = (v, at) => {
  if (typeof v !== 'boolean') throw new MessageError(at, `expected a boolean, got ${kind(v)}`);
  return v;
};

/** A finite number (JSON has no NaN or Infinity). */
export const num: Check<number> = (v, at) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new MessageError(at, `expected a finite number, got ${kind(v)}`);
  return v;
};

export const int = (min = -Infinity, max = Infinity): Check<number> => (v, at) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new MessageError(at, `expected an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v;
};

export const literal = <T extends string | number | boolean>(...values: T[]): Check<T> => (v, at) => {
  if (!values.includes(v as T)) throw new MessageError(at, `expected ${values.map((x) => JSON.stringify(x)).join(' | ')}, got ${JSON.stringify(v)}`);
  return v as T;
};

export const nullable = <T>(c: Check<T>): Check<T | null> => (v, at) => (v === null ? null : c(v, at));

export const arrayOf = <T>(c: Check<T>, maxLength = 1_000_000): Check<T[]> => (v, at) => {
  if (!Array.isArray(v)) throw new MessageError(at, `expected an array, got ${kind(v)}`);
  if (v.length > maxLength) throw new MessageError(at, `more than ${maxLength} items`);
  return v.map((x, i) => c(x, `${at}[${i}]`));
};

/** A plain object's values (keys are free). */
export const recordOf = <T>(c: Check<T>): Check<Record<string, T>> => (v, at) => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MessageError(at, `expected an object, got ${kind(v)}`);
  const out: Record<string, T> = {};
  for (const [k, x] of Object.entries(v)) out[k] = c(x, `${at}.${k}`);
  return out;
};

type Shape = Record<string, Check<unknown>>;
type Optional<C> = C & { optional: true };
type OptKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type ReqKeys<S extends Shape> = Exclude<keyof S, OptKeys<S>>;
export type ObjectOf<S extends Shape> = { [K in ReqKeys<S>]: Checked<S[K]> } & { [K in OptKeys<S>]?: Checked<S[K]> };

/** A key that may be absent (undefined is absent too). */
export const optional = <T>(c: Check<T>): Optional<Check<T>> => Object.assign(((v: unknown, at: string) => c(v, at)) as Check<T>, { optional: true as const });

/**
 * An object with exactly these keys (`strict`, for messages: an unknown key is an error) or at least
 * these (`loose`, for files written by another program: unknown fields are ignored, as the study
 * schema asks of readers).
 */
export const object = <S extends Shape>(shape: S, mode: 'strict' | 'loose' = 'strict'): Check<ObjectOf<S>> => (v, at) => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MessageError(at, `expected an object, got ${kind(v)}`);
  const o = v as Record<string, unknown>;
  if (mode === 'strict') {
    const extra = Object.keys(o).filter((k) => !Object.prototype.hasOwnProperty.call(shape, k));
    if (extra.length) throw new MessageError(at, `unknown key${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, c] of Object.entries(shape)) {
    if (o[k] === undefined) {
      if ((c as { optional?: boolean }).optional) continue;
      throw new MessageError(`${at}.${k}`, 'missing');
    }
    out[k] = c(o[k], `${at}.${k}`);
  }
  return out as ObjectOf<S>;
};

/**
 * A message union discriminated by `type`: each variant is a strict object (its `type` included).
 * Unknown types are refused with the list of known ones.
 */
export function messageUnion<M extends Record<string, Shape>>(variants: M): Check<{ [K in keyof M]: { type: K } & ObjectOf<M[K]> }[keyof M]> {
  return (v, at) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MessageError(at, `expected a message object, got ${kind(v)}`);
    const t = (v as { type?: unknown }).type;
    if (typeof t !== 'string' || !Object.prototype.hasOwnProperty.call(variants, t)) {
      throw new MessageError(`${at}.type`, `unknown message type ${JSON.stringify(t)} (known: ${Object.keys(variants).join(', ')})`);
    }
    return object({ type: literal(t), ...variants[t] })(v, at) as never;
  };
}

/** Runs a check and returns a result instead of throwing (what receivers use). */
export function validate<T>(check: Check<T>, v: unknown, what = 'message'): { ok: true; value: T } | { ok: false; error: MessageError } {
  try {
    return { ok: true, value: check(v, what) };
  } catch (e) {
    if (e instanceof MessageError) return { ok: false, error: e };
    return { ok: false, error: new MessageError(what, e instanceof Error ? e.message : String(e)) };
  }
}
