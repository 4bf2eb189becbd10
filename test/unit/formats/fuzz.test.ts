// Fuzz: real model files (stories260K.gguf, stories260K.bin, a tiny HF folder) mutated a few hundred
// times with a seeded PRNG (byte flips, truncations, header fields overwritten with huge, negative
// or zero values, lying safetensors headers and config values). Every load must either succeed or
// throw an IdpError — never another exception, never hang, never allocate absurd memory.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { isIdpError } from '../../../src/engine/errors';
import { readGguf } from '../../../src/engine/formats/gguf';
import { loadModel } from '../../../src/engine/models/load';
import { dataPath, tmpDir, STORIES } from '../../helpers/data';
import { prng, tinyConfig, writeTinyHf } from '../../helpers/tiny-hf';

// IDP_FUZZ_SEED / IDP_FUZZ_ROUNDS run other or longer campaigns by hand; the suite uses the defaults.
const SEED = Number(process.env.IDP_FUZZ_SEED ?? 20241128);
const ROUNDS = Math.max(1, Number(process.env.IDP_FUZZ_ROUNDS ?? 1));
const work = tmpDir('idp-fuzz-');
const cacheDir = path.join(work, 'cache');

const U32_VALUES = [0, 1, 2, 3, 7, 0xff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1 << 20];
const U64_VALUES = [0n, 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 64n - 1n, 1000000n];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo));

/** A generic mutation of `buf`; `hot` bytes at the start (the header) get most of the attention. */
function mutate(r: Rand, buf: Buffer, hot: number): { out: Buffer; what: string } {
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

/** GGUF-aware mutation: overwrite a count, a key's type/length, or a tensor's dims/type/offset. */
function mutateGgufField(r: Rand, buf: Buffer, fields: number[]): { out: Buffer; what: string } {
  const out = Buffer.from(buf);
  const p = pick(r, fields);
  if (r() < 0.5) {
    const v = pick(r, U32_VALUES);
    out.writeUInt32LE(v, p);
    return { out, what: `field u32 ${v} at ${p}` };
  }
  const v = pick(r, U64_VALUES);
  if (p + 8 <= out.length) out.writeBigUInt64LE(v, p);
  return { out, what: `field u64 ${v} at ${p}` };
}

/** Positions of header fields in a GGUF, found by walking it (counts, key lengths, types, tensor fields). */
function ggufFieldPositions(buf: Buffer, file: string): number[] {
  const g = readGguf(file);
  const fields = [8, 16];
  let p = 24;
  const skipValue = (t: number): void => {
    const fixed: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
    if (t === 8) { fields.push(p); p += 8 + Number(buf.readBigUInt64LE(p)); return; }
    if (t === 9) {
      fields.push(p, p + 4);
      const et = buf.readUInt32LE(p);
      const n = Number(buf.readBigUInt64LE(p + 4));
      p += 12;
      for (let i = 0; i < n; i++) skipValue(et);
      return;
    }
    p += fixed[t];
  };
  for (let i = 0; i < g.metadata.size; i++) {
    fields.push(p);
    p += 8 + Number(buf.readBigUInt64LE(p));
    fields.push(p);
    const t = buf.readUInt32LE(p);
    p += 4;
    skipValue(t);
  }
  for (let i = 0; i < g.tensors.size; i++) {
    fields.push(p);
    p += 8 + Number(buf.readBigUInt64LE(p));
    const nd = buf.readUInt32LE(p);
    fields.push(p);
    p += 4;
    for (let k = 0; k < nd; k++) { fields.push(p); p += 8; }
    fields.push(p, p + 4);
    p += 12;
  }
  return fields;
}

/** Rewrite a safetensors header with one number in its JSON replaced (data section unchanged). */
function lyingSafetensors(r: Rand, buf: Buffer): { out: Buffer; what: string } {
  const n = Number(buf.readBigUInt64LE(0));
  const json = buf.subarray(8, 8 + n).toString('utf8');
  const nums = [...json.matchAll(/\d+/g)];
  const m = pick(r, nums);
  const repl = pick(r, ['0', '-1', '99999999999999999999', '1e308', '4294967296', String(int(r, 0, 5000)), '"x"', 'null', '[]']);
  const text = json.slice(0, m.index!) + repl + json.slice(m.index! + m[0].length);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  return { out: Buffer.concat([head, Buffer.from(text), buf.subarray(8 + n)]), what: `json ${m[0]}@${m.index} → ${repl}` };
}

/** config.json with one field set to a hostile value. */
function lyingConfig(r: Rand, cfg: Record<string, unknown>): { text: string; what: string } {
  const key = pick(r, Object.keys(cfg));
  const v = pick(r, [0, -1, 1e9, 2 ** 31, 1.5, '12', null, [], {}, true, 1e308]);
  return { text: JSON.stringify({ ...cfg, [key]: v }), what: `config ${key}=${JSON.stringify(v)}` };
}

describe('fuzz: mutated model files', function () {
  this.timeout(120000 * ROUNDS);

  it('every load succeeds or throws an IdpError, quickly and without absurd memory', async function () {
    const gguf = dataPath(this, ...STORIES, 'stories260K.gguf');
    const bin = dataPath(this, ...STORIES, 'stories260K.bin');
    const hfDir = path.join(work, 'hf-src');
    const hfCfg = tinyConfig('llama');
    writeTinyHf(hfDir, hfCfg);
    const hfSt = fs.readFileSync(path.join(hfDir, 'model.safetensors'));

    const ggufBuf = fs.readFileSync(gguf);
    const ggufHot = readGguf(gguf).dataOffset;
    const ggufFields = ggufFieldPositions(ggufBuf, gguf);
    const binBuf = fs.readFileSync(bin);
    const r = prng(SEED);

    const failures: string[] = [];
    const outcomes: Record<string, number> = {};
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    let slowest = 0;
    const t0 = Date.now();

    const attempt = async (label: string, target: string, what: string) => {
      const t = Date.now();
      try {
        await loadModel(target, { cacheDir });
        outcomes.loaded = (outcomes.loaded ?? 0) + 1;
      } catch (e) {
        if (isIdpError(e)) outcomes[e.code] = (outcomes[e.code] ?? 0) + 1;
        else failures.push(`${label} (${what}): ${(e as Error)?.stack ?? String(e)}`);
      }
      slowest = Math.max(slowest, Date.now() - t);
      peak = Math.max(peak, process.memoryUsage().rss);
      fs.rmSync(cacheDir, { recursive: true, force: true });
    };

    for (let i = 0; i < 130 * ROUNDS; i++) {
      const m = r() < 0.4 ? mutateGgufField(r, ggufBuf, ggufFields) : mutate(r, ggufBuf, ggufHot);
      const f = path.join(work, `g${i}.gguf`);
      fs.writeFileSync(f, m.out);
      await attempt(`gguf #${i}`, f, m.what);
      fs.rmSync(f);
    }
    for (let i = 0; i < 120 * ROUNDS; i++) {
      let m: { out: Buffer; what: string };
      if (r() < 0.4) {
        const out = Buffer.from(binBuf);
        const field = int(r, 0, 7);
        const v = pick(r, [0, -1, -512, 1, 2 ** 31 - 1, -(2 ** 31), 3, 1 << 20, 65536]);
        out.writeInt32LE(v, 4 * field);
        m = { out, what: `header int ${field} = ${v}` };
      } else {
        m = mutate(r, binBuf, 28);
      }
      const f = path.join(work, `b${i}.bin`);
      fs.writeFileSync(f, m.out);
      await attempt(`llama2c #${i}`, f, m.what);
      fs.rmSync(f);
    }
    for (let i = 0; i < 110 * ROUNDS; i++) {
      const d = path.join(work, `h${i}`);
      fs.mkdirSync(d);
      let what: string;
      let st: Buffer = hfSt;
      let cfgText = JSON.stringify(hfCfg);
      const k = r();
      if (k < 0.35) {
        const m = lyingSafetensors(r, hfSt);
        st = m.out;
        what = m.what;
      } else if (k < 0.55) {
        const m = lyingConfig(r, hfCfg);
        cfgText = m.text;
        what = m.what;
      } else if (k < 0.65) {
        const m = mutate(r, Buffer.from(cfgText), 400);
        cfgText = m.out.toString('latin1');
        what = `config.json ${m.what}`;
      } else {
        const m = mutate(r, hfSt, 8 + Number(hfSt.readBigUInt64LE(0)));
        st = m.out;
        what = m.what;
      }
      fs.writeFileSync(path.join(d, 'config.json'), cfgText);
      fs.writeFileSync(path.join(d, 'model.safetensors'), st);
      await attempt(`hf #${i}`, d, what);
      fs.rmSync(d, { recursive: true, force: true });
    }

    const elapsed = Date.now() - t0;
    if (process.env.IDP_FUZZ_VERBOSE) console.log(`fuzz: ${elapsed} ms, slowest ${slowest} ms, peak RSS +${((peak - rss0) / 2 ** 20).toFixed(0)} MiB, outcomes ${JSON.stringify(outcomes)}`);
    assert.deepEqual(failures, [], `non-IdpError failures:\n${failures.join('\n')}`);
    assert.ok(elapsed < 20000 * ROUNDS, `fuzz took ${elapsed} ms`);
    assert.ok(slowest < 3000, `slowest single load took ${slowest} ms`);
    assert.ok(peak - rss0 < 512 * 1024 * 1024, `RSS grew by ${((peak - rss0) / 2 ** 20).toFixed(0)} MiB`);
    assert.ok((outcomes.loaded ?? 0) > 10 && (outcomes.FORMAT ?? 0) > 50, `outcomes ${JSON.stringify(outcomes)}`);
  });
});
