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
import { int, lyingSafetensors, mutateBytes as mutate, pick, Rand, U32_VALUES, U64_VALUES } from '../../helpers/fuzz';

// IDP_FUZZ_SEED / IDP_FUZZ_ROUNDS run other or longer campaigns by hand; the suite uses the defaults.
const SEED = Number(process.env.IDP_FUZZ_SEED ?? 20241128);
const ROUNDS = Math.max(1, Number(process.env.IDP_FUZZ_ROUNDS ?? 1));
const work = tmpDir('idp-fuzz-');
const cacheDir = path.join(work, 'cache');

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
