// GPTQ folders every loader reads (issue 17). The loaders' load-time conditions are restated here from
// their published source, independently of src/engine/compress/gptq-loaders.ts, and applied to the
// configs `idp compress` writes:
//   GPTQModel (models/loader.py): checkpoint_format gptq with sym false raises unless meta.quantizer has
//     "gptqmodel:<≥ 0.9.0>"; a module is left float when a "-:<regex>" key of `dynamic` re.match-es it.
//   AutoGPTQ (quantization/config.py): checkpoint_format in {gptq, marlin}, bits 2/3/4/8, group_size −1 or
//     > 0, 0 < damp_percent < 1; no way to leave a block's linear module float.
//   transformers/optimum: the same field checks on config.json's quantization_config; a block module is
//     quantized when its name ends with an entry of modules_in_block_to_quantize.
// No Python torch / AutoGPTQ / GPTQModel is installed here, so the dequantization fixture below is a
// float64 reference written by hand from the published layout rules (AutoGPTQ's pack loop, v1 zero + 1,
// v2 zero as stored), not bytes produced by those libraries. Python's own `re` (when python3 exists)
// checks the dynamic rules with the regex engine GPTQModel uses.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { writeTinyModel } from '../../helpers/oracle-models';
import { expectIdpError } from '../../helpers/tiny-hf';
import { dequantize, packGptq, QuantizedLinear, unpackGptq, QuantBits, defaultGIdx } from '../../../src/engine/models/quant/gptq-format';
import { DEFAULT_GPTQ, gptqConfigFiles } from '../../../src/engine/models/quant/gptq-config';
import { gptqLoaders, quantizedByGptqModelV2 } from '../../../src/engine/compress/gptq-loaders';
import { skipBecause } from '../../helpers/skip';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const root = tmpDir('idp-gptq-loaders-');
const env = { ...process.env, IDP_CACHE: path.join(root, 'cache') };
const idp = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000, env });
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, any>;

// ---- the loaders' conditions, restated for the test ----------------------------------------------

/** GPTQModel's loader: does it raise for this quantize_config.json? */
function gptqModelRefusesV1Asym(qc: Record<string, any>): boolean {
  const fmt = qc.checkpoint_format ?? qc.format ?? 'gptq';
  if (fmt !== 'gptq' || qc.sym !== false) return false;
  const q = qc.meta?.quantizer;
  for (const e of Array.isArray(q) ? q : q ? [q] : []) {
    const [who, ver] = String(e).split(':');
    if (who.toLowerCase() === 'gptqmodel' && ver) {
      const [a, b] = ver.split('.').map(Number);
      return !(a > 0 || b >= 9);
    }
  }
  return true;
}

function autoGptqAccepts(qc: Record<string, any>): boolean {
  return ['gptq', 'marlin'].includes(qc.checkpoint_format ?? 'gptq') && [2, 3, 4, 8].includes(qc.bits)
    && (qc.group_size === -1 || qc.group_size > 0) && qc.damp_percent > 0 && qc.damp_percent < 1;
}

const pyMatch = (pattern: string, name: string) => new RegExp(`^(?:${pattern})`).test(name);
function gptqModelSkips(dynamic: Record<string, unknown> | undefined, name: string): boolean {
  for (const k of Object.keys(dynamic ?? {})) {
    if (k.startsWith('-:')) { if (pyMatch(k.slice(2), name)) return true; } else if (pyMatch(k.replace(/^\+:/, ''), name)) return false;
  }
  return false;
}

describe('gptq loaders: the default output of idp compress', function () {
  this.timeout(60000);
  const src = path.join(root, 'tiny');
  writeTinyModel(src, { modelType: 'llama', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, seed: 5 });
  const gptq = (out: string, ...extra: string[]) =>
    idp('compress', '--model', src, '--method', 'gptq', '--bits', '4', '--group-size', '32', '--calib', 'model', '--samples', '4', '--seqlen', '16', '--out', out, ...extra);

  it('--method gptq with no format flags: symmetric v1, which GPTQModel, AutoGPTQ and transformers all accept', () => {
    const out = path.join(root, 'default');
    const r = gptq(out);
    assert.equal(r.status, 0, r.stderr);
    const qc = readJson(path.join(out, 'quantize_config.json'));
    const hf = readJson(path.join(out, 'config.json')).quantization_config;
    assert.equal(qc.checkpoint_format, 'gptq');
    assert.equal(qc.sym, true);
    assert.equal(gptqModelRefusesV1Asym(qc), false, 'GPTQModel loader condition');
    assert.equal(autoGptqAccepts(qc), true, 'AutoGPTQ config checks');
    assert.equal(autoGptqAccepts(hf), true, 'transformers/optimum config checks');
    assert.equal(qc.dynamic, undefined);
    assert.equal(hf.modules_in_block_to_quantize, null);
    assert.match(r.stdout, /GPTQ loaders: reads with AutoGPTQ, GPTQModel, transformers\n/);
    const report = readJson(path.join(out, 'idp-compress.json'));
    assert.deepEqual(report.loaders.map((x: { loader: string; reads: boolean }) => [x.loader, x.reads]), [['AutoGPTQ', true], ['GPTQModel', true], ['transformers', true]]);
    assert.equal(report.sym, true);
    assert.equal(report.checkpoint_format, 'gptq');
  });

  it('asymmetric on request: v1 is refused by GPTQModel (and the output says so), v2 by AutoGPTQ', () => {
    const v1 = path.join(root, 'asym-v1');
    const r1 = gptq(v1, '--no-sym', '--json');
    assert.equal(r1.status, 0, r1.stderr);
    const qc1 = readJson(path.join(v1, 'quantize_config.json'));
    assert.equal(qc1.sym, false);
    assert.equal(gptqModelRefusesV1Asym(qc1), true);
    assert.equal(autoGptqAccepts(qc1), true);
    const j1 = JSON.parse(r1.stdout);
    assert.deepEqual(j1.loaders.map((x: { reads: boolean }) => x.reads), [true, false, true]);
    assert.match(j1.loaders[1].note, /gptqmodel ≥ 0\.9\.0/);

    const v2 = path.join(root, 'asym-v2');
    const r2 = gptq(v2, '--no-sym', '--format', 'gptq_v2');
    assert.equal(r2.status, 0, r2.stderr);
    const qc2 = readJson(path.join(v2, 'quantize_config.json'));
    assert.equal(gptqModelRefusesV1Asym(qc2), false);
    assert.equal(autoGptqAccepts(qc2), false);
    assert.match(r2.stdout, /reads with GPTQModel, transformers \(with its GPTQModel backend only \(gptq_v2\)\); not AutoGPTQ/);
  });
});

describe('gptq loaders: a partially quantized folder (--skip-unfit)', function () {
  this.timeout(60000);
  const src = path.join(root, 'tiny48');
  // MLP 48 wide: 48 × 3 bits is not whole 32-bit words, so the MLP stays float
  writeTinyModel(src, { modelType: 'llama', vocabSize: 72, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 48, seed: 6 });

  it('GPTQModel dynamic "-:" rules name exactly the float modules; transformers\' field names exactly the quantized ones', function () {
    const out = path.join(root, 'partial');
    const r = idp('compress', '--model', src, '--method', 'rtn', '--bits', '3', '--group-size', '16', '--skip-unfit', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const qc = readJson(path.join(out, 'quantize_config.json'));
    const hf = readJson(path.join(out, 'config.json')).quantization_config;
    const names: string[] = [];
    for (let l = 0; l < 2; l++) for (const m of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) names.push(`model.layers.${l}.${m}`);
    const float = names.filter((n) => n.includes('.mlp.'));
    for (const n of names) {
      assert.equal(gptqModelSkips(qc.dynamic, n), float.includes(n), `GPTQModel on ${n}`);
      const keep = (hf.modules_in_block_to_quantize as string[][]).flat();
      assert.equal(keep.some((k) => n.endsWith(k)), !float.includes(n), `transformers on ${n}`);
    }
    assert.match(r.stdout, /reads with GPTQModel, transformers; not AutoGPTQ: 6 linear module\(s\) left float/);
    // the regex engine GPTQModel runs (Python's re.match), when there is a python3 to ask
    const py = spawnSync('python3', ['-c', 'import json,re,sys\nd=json.load(sys.stdin)\nprint(json.dumps([any(k.startswith("-:") and re.match(k[2:], n) is not None for k in d["dynamic"]) for n in d["names"]]))'],
      { input: JSON.stringify({ dynamic: qc.dynamic, names }), encoding: 'utf8' });
    // python3 is not a CI prerequisite (.ci/run does not install it): without one this part skips on CI too
    if (py.error || py.status !== 0) skipBecause(this, `no python3 to cross-check the rules with re.match (${py.error?.message ?? py.stderr.trim()}); the checks above passed`);
    assert.deepEqual(JSON.parse(py.stdout), names.map((n) => float.includes(n)));
  });

  it('rules for a module float in some layers only list those layers', () => {
    const all = ['model.layers.0.mlp.up_proj', 'model.layers.1.mlp.up_proj', 'model.layers.2.mlp.up_proj', 'model.layers.0.self_attn.q_proj'];
    const quantized = new Set([all[1], all[3]]);
    const { quantizeConfig, hfQuantizationConfig } = gptqConfigFiles({ ...DEFAULT_GPTQ, bits: 4 }, 'idp-lab:test', all, quantized);
    for (const n of all) assert.equal(gptqModelSkips(quantizeConfig.dynamic as Record<string, unknown>, n), !quantized.has(n), n);
    assert.ok(gptqModelSkips(quantizeConfig.dynamic as Record<string, unknown>, 'transformer.model.layers.2.mlp.up_proj'), 'a prefix the model object adds');
    assert.ok(!gptqModelSkips(quantizeConfig.dynamic as Record<string, unknown>, 'model.layers.12.mlp.up_proj'), 'layer 12 is not layer 2');
    // transformers' one list cannot say "up_proj in layer 1 only": the verdict says so
    const v = gptqLoaders({ quantizeConfig, hfQuantizationConfig, quantized: [...quantized], float: all.filter((x) => !quantized.has(x)) });
    assert.deepEqual(v.map((x) => x.reads), [false, true, false]);
    assert.match(v[2].note!, /float module 'model\.layers\.0\.mlp\.up_proj' matches modules_in_block_to_quantize/);
  });
});

describe('gptq loaders: verdicts by format and symmetry', () => {
  const all = ['model.layers.0.mlp.up_proj'];
  const verdict = (sym: boolean, fmt: 'gptq' | 'gptq_v2', extra: Record<string, unknown> = {}) => {
    const f = gptqConfigFiles({ ...DEFAULT_GPTQ, bits: 4, sym, checkpointFormat: fmt }, 'idp-lab:0.1.0', all, new Set(all));
    Object.assign(f.quantizeConfig, extra);
    Object.assign(f.hfQuantizationConfig, extra);
    return gptqLoaders({ ...f, quantized: all, float: [] }).map((x) => x.reads);
  };
  it('the compatibility table of docs/compression.md', () => {
    assert.deepEqual(verdict(true, 'gptq'), [true, true, true]);
    assert.deepEqual(verdict(false, 'gptq'), [true, false, true]);
    assert.deepEqual(verdict(true, 'gptq_v2'), [false, true, true]);
    assert.deepEqual(verdict(false, 'gptq_v2'), [false, true, true]);
    assert.deepEqual(verdict(true, 'gptq', { damp_percent: 0 }), [false, false, false], 'damp_percent 0 is refused by every config check');
  });
  it('GPTQModel trusts asymmetric v1 from gptqmodel ≥ 0.9.0 only', () => {
    assert.equal(quantizedByGptqModelV2({ quantizer: ['optimum:1.23.0', 'gptqmodel:1.4.2'] }), true);
    assert.equal(quantizedByGptqModelV2({ quantizer: 'gptqmodel:0.9.0' }), true);
    assert.equal(quantizedByGptqModelV2({ quantizer: ['gptqmodel:0.8.9'] }), false);
    assert.equal(quantizedByGptqModelV2({ quantizer: ['idp-lab:0.1.0'] }), false);
    assert.equal(quantizedByGptqModelV2(undefined), false);
  });
});

describe('gptq layout: zero points every reader agrees on', () => {
  const layer = (bits: QuantBits, zero: number): QuantizedLinear => ({
    bits, groupSize: -1, inFeatures: 32, outFeatures: 32, codes: new Uint8Array(32 * 32), scales: new Float32Array(32).fill(1),
    zeros: new Int32Array(32).fill(1).map((z, i) => (i === 5 ? zero : z)), gIdx: defaultGIdx(32, -1),
  });

  it('the packer refuses a v1 zero of 2^bits or 0 and a v2 zero of 2^bits with an INTERNAL error naming the module', async () => {
    for (const bits of [2, 3, 4, 8] as QuantBits[]) {
      await expectIdpError(() => packGptq(layer(bits, 1 << bits), 'gptq', 'model.layers.0.mlp.up_proj'), 'INTERNAL', undefined,
        new RegExp(`up_proj.*zero point ${1 << bits} \\(group 0, column 5\\) is outside 1 … ${(1 << bits) - 1}`));
      await expectIdpError(() => packGptq(layer(bits, 0), 'gptq'), 'INTERNAL', undefined, /zero point 0/);
      await expectIdpError(() => packGptq(layer(bits, 1 << bits), 'gptq_v2'), 'INTERNAL', undefined, /outside 0 … /);
      packGptq(layer(bits, (1 << bits) - 1), 'gptq');   // the largest v1 zero is fine
      packGptq(layer(bits, 0), 'gptq_v2');
    }
  });

  it('why 2^bits is refused: GPTQModel\'s v1→v2 conversion adds 1 to every packed field and carries', () => {
    // 4-bit v1 qzeros word: column 0 stores 15 (zero 16), column 1 stores 0 (zero 1). The converter adds
    // 0x11111111 to the int32 word; read per field, column 0 becomes 0 and column 1 becomes 2.
    const converted = (0x0000000f + 0x11111111) >>> 0;
    assert.deepEqual([converted & 0xf, (converted >>> 4) & 0xf], [0, 2]);
  });
});

describe('gptq layout: a hand-derived fixture read by the published rules', () => {
  const f16 = { half: 0x3800, quarter: 0x3400, one: 0x3c00, two: 0x4000 };
  const read = (t: { qweight: number[]; qzeros: number[]; scales: number[] }, bits: QuantBits, K: number, N: number, format: 'gptq' | 'gptq_v2') =>
    dequantize(unpackGptq({ qweight: Int32Array.from(t.qweight), qzeros: Int32Array.from(t.qzeros), scales: Uint16Array.from(t.scales) }, {
      bits, groupSize: -1, inFeatures: K, outFeatures: N, format, file: 'fixture', module: 'm',
      shapes: { qweight: [(K * bits) / 32, N], qzeros: [1, (N * bits) / 32], scales: [1, N] },
    }));

  it('4-bit symmetric v1: nibbles low first along the input dimension, zero = stored 7 + 1 = 8', () => {
    const N = 8;
    const t = {
      qweight: [0x76543210, 0xfedcba98 | 0, ...Array(6).fill(0x88888888 | 0)],   // [1, 8]: one word per output column
      qzeros: [0x77777777],                                                       // every column stores 7
      scales: [f16.quarter, f16.two, ...Array(6).fill(f16.one)],
    };
    const w = read(t, 4, 8, N, 'gptq');
    // W[o, k] = scale[o] · (code[k, o] − zero[o])
    assert.deepEqual(Array.from(w.subarray(0, 8)), [-2, -1.75, -1.5, -1.25, -1, -0.75, -0.5, -0.25]);
    assert.deepEqual(Array.from(w.subarray(8, 16)), [0, 2, 4, 6, 8, 10, 12, 14]);
    assert.deepEqual(Array.from(w.subarray(16)), Array(48).fill(0));
  });

  it('3-bit asymmetric: codes 10 and 21 straddle words (AutoGPTQ\'s 3-bit branch); v1 adds 1 to the zero, v2 does not', () => {
    const N = 32;
    const qweight = new Array(3 * N).fill(0);
    qweight[0] = -1; qweight[N] = 0; qweight[2 * N] = -1;   // column 0: words 0xFFFFFFFF, 0, 0xFFFFFFFF
    const qzeros = [2, 0, 0];                               // column 0 stores 2 (bits 0–2 of word 0); the rest 0
    const scales = [f16.half, ...Array(N - 1).fill(f16.one)];
    // column 0's codes: 0–9 = 7; 10 = bits 30,31 of word 0 and bit 0 of word 1 = 0b011 = 3; 11–20 = 0;
    // 21 = bit 31 of word 1 and bits 0,1 of word 2 = 0b110 = 6; 22–31 = 7
    const codes = [...Array(10).fill(7), 3, ...Array(10).fill(0), 6, ...Array(10).fill(7)];
    const v1 = read({ qweight, qzeros, scales }, 3, 32, N, 'gptq');
    const v2 = read({ qweight, qzeros, scales }, 3, 32, N, 'gptq_v2');
    assert.deepEqual(Array.from(v1.subarray(0, 32)), codes.map((c) => 0.5 * (c - 3)));
    assert.deepEqual(Array.from(v2.subarray(0, 32)), codes.map((c) => 0.5 * (c - 2)));
    assert.deepEqual(Array.from(v1.subarray(32)), Array(31 * 32).fill(-1), 'other columns: code 0, v1 zero 0 + 1');
    assert.deepEqual(Array.from(v2.subarray(32)), Array(31 * 32).fill(0), 'other columns: code 0, v2 zero 0');
    // and the packer writes the same words back
    const q = unpackGptq({ qweight: Int32Array.from(qweight), qzeros: Int32Array.from(qzeros), scales: Uint16Array.from(scales) }, {
      bits: 3, groupSize: -1, inFeatures: 32, outFeatures: N, format: 'gptq', file: 'fixture', module: 'm', shapes: { qweight: [3, N], qzeros: [1, 3], scales: [1, N] } });
    const p = packGptq(q, 'gptq');
    assert.deepEqual(Array.from(p.qweight), qweight);
    assert.deepEqual(Array.from(p.qzeros), qzeros);
  });
});
