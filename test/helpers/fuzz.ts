// Seeded mutations of real files for fuzz tests: byte flips, truncations, header integers overwritten
// with hostile values, one number of a JSON text (a safetensors header, a config.json) replaced.

export type Rand = () => number;

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
export const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo));

export const U32_VALUES = [0, 1, 2, 3, 7, 0xff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1 << 20];
export const U64_VALUES = [0n, 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 64n - 1n, 1000000n];

export interface Mutation { out: Buffer; what: string }

/** A generic mutation of `buf`; `hot` bytes at the start (the header) get most of the attention. */
export function mutateBytes(r: Rand, buf: Buffer, hot: number): Mutation {
  const out = Buffer.from(buf);
  const pos = () => (r() < 0.75 ? int(r, 0, Math.min(hot, out.length)) : int(r, 0, out.length));
  const kind = int(r, 0, 4);
  if (kind === 0) {
    const k = int(r, 1, 9);
    for (let i = 0; i < k; i++) out[pos()] = int(r, 0, 256);
    return { out, what: `flip ${k} bytes` };
  }
  if (kind === 1) {
    const len = r() < 0.6 ? int(r, 0, Math.min(hot + 64, buf.length)) : int(r, 0, buf.length);
    return { out: out.subarray(0, len), what: `truncate to ${len}` };
  }
  if (kind === 2) {
    const p = Math.min(pos() & ~3, out.length - 4);
    const v = pick(r, U32_VALUES);
    if (p >= 0) out.writeUInt32LE(v, p);
    return { out, what: `u32 ${v} at ${p}` };
  }
  const p = Math.min(pos() & ~7, out.length - 8);
  const v = pick(r, U64_VALUES);
  if (p >= 0) out.writeBigUInt64LE(v, p);
  return { out, what: `u64 ${v} at ${p}` };
}

/** Hostile replacements for a number in a JSON text: huge, negative, zero, fractional, other types. */
export const JSON_NUMBER_LIES = ['0', '-1', '1e12', '1048576', '99999999999999999999', '1e308', '4294967296', '2.5', '"x"', 'null', '[]', '{}'];

/** `json` with one of its numbers (picked with `r`) replaced by a hostile value. */
export function lieInJson(r: Rand, json: string): { text: string; what: string } {
  const nums = [...json.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi)];
  const m = pick(r, nums);
  const repl = r() < 0.2 ? String(int(r, 0, 5000)) : pick(r, JSON_NUMBER_LIES);
  return { text: json.slice(0, m.index!) + repl + json.slice(m.index! + m[0].length), what: `${m[0]}@${m.index} → ${repl}` };
}

/** A safetensors file with one number of its JSON header replaced (data section unchanged). */
export function lyingSafetensors(r: Rand, buf: Buffer): Mutation {
  const n = Number(buf.readBigUInt64LE(0));
  const lie = lieInJson(r, buf.subarray(8, 8 + n).toString('utf8'));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(lie.text)));
  return { out: Buffer.concat([head, Buffer.from(lie.text), buf.subarray(8 + n)]), what: `header ${lie.what}` };
}
