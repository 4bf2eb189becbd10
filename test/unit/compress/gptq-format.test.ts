// GPTQ checkpoint layout: packGptq/unpackGptq against an independent packer written from AutoGPTQ's
// pack loop (test/helpers/gptq-packer.ts), bit-exact round trips for every bit width and group size,
// act-order g_idx, v1/v2 zero offsets, a file written by the independent packer read back, and typed
// errors for shapes that cannot be packed or tensors that disagree with the config.

import { strict as assert } from 'assert';
import * as path from 'path';
import { prng, expectIdpError } from '../../helpers/tiny-hf';
import { tmpDir } from '../../helpers/data';
import { randomTestQuant, refDequant, refPackQweight, refPackQzeros, TestQuant } from '../../helpers/gptq-packer';
import {
  checkQuantizable, dequantize, packGptq, QuantBits, QuantizedLinear, unpackGptq, whyNotQuantizable,
} from '../../../src/engine/models/quant/gptq-format';
import { parseGptqConfig, quantizeConfigJson, hfQuantizationConfig, DEFAULT_GPTQ } from '../../../src/engine/models/quant/gptq-config';
import { f32ToF16 } from '../../../src/engine/formats/dtypes';
import { readSafetensorsHeader, readTensorBytes, writeSafetensors } from '../../../src/engine/formats/safetensors';

function toEngine(t: TestQuant, groupSize: number): QuantizedLinear {
  const codes = new Uint8Array(t.outF * t.inF);
  for (let k = 0; k < t.inF; k++) for (let o = 0; o < t.outF; o++) codes[o * t.inF + k] = t.intweight[k * t.outF + o];
  return {
    bits: t.bits as QuantBits, groupSize, inFeatures: t.inF, outFeatures: t.outF, codes,
    scales: Float32Array.from(t.scales), zeros: Int32Array.from(t.zeros), gIdx: Int32Array.from(t.gIdx),
  };
}

const u32 = (a: Int32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('gptq-format: pack/unpack', () => {
  const shapes: Array<[number, number]> = [[128, 64], [256, 96]];
  for (const bits of [2, 3, 4, 8] as QuantBits[]) {
    for (const gs of [-1, 32, 64, 128]) {
      for (const actOrder of [false, true]) {
        it(`${bits}-bit, group ${gs}${actOrder ? ', act-order' : ''}: same words as the reference packer, bit-exact round trip`, () => {
          for (const [inF, outF] of shapes) {
            const t = randomTestQuant(bits, inF, outF, gs, prng(bits * 1000 + gs + (actOrder ? 7 : 0) + inF), actOrder);
            const q = toEngine(t, gs);
            const packed = packGptq(q);
            assert.deepEqual(u32(packed.qweight), refPackQweight(t), 'qweight words');
            assert.deepEqual(u32(packed.qzeros), refPackQzeros(t), 'qzeros words');
            const back = unpackGptq(packed, {
              bits, groupSize: gs, inFeatures: inF, outFeatures: outF, format: 'gptq', file: 'mem', module: 'm',
              shapes: { qweight: [inF * bits / 32, outF], qzeros: [t.groups, outF * bits / 32], scales: [t.groups, outF], gIdx: [inF] },
            });
            assert.deepEqual(back.codes, q.codes);
            assert.deepEqual(back.zeros, q.zeros);
            assert.deepEqual(back.scales, q.scales);
            assert.deepEqual(back.gIdx, q.gIdx);
            const want = refDequant(t);
            const got = dequantize(back);
            for (let i = 0; i < want.length; i++) assert.equal(got[i], Math.fround(want[i]), `w[${i}]`);
          }
        });
      }
    }
  }

  it('3-bit codes that span word boundaries (codes 10 and 21 of each 32) survive with every bit pattern', () => {
    for (let v = 0; v < 8; v++) {
      const t = randomTestQuant(3, 64, 32, -1, prng(v));
      for (let o = 0; o < 32; o++) for (const k of [10, 21, 42, 53]) t.intweight[k * 32 + o] = v;
      const q = toEngine(t, -1);
      const p = packGptq(q);
      assert.deepEqual(u32(p.qweight), refPackQweight(t));
      const back = unpackGptq(p, { bits: 3, groupSize: -1, inFeatures: 64, outFeatures: 32, format: 'gptq', file: 'mem', module: 'm',
        shapes: { qweight: [6, 32], qzeros: [1, 3], scales: [1, 32] } });
      assert.deepEqual(back.codes, q.codes);
    }
  });

  it('gptq_v2 stores zero points without the offset, and can store zero 0 (v1 cannot)', async () => {
    const t = randomTestQuant(4, 64, 32, 32, prng(3));
    const q = toEngine(t, 32);
    q.zeros[5] = 0;
    const v2 = packGptq(q, 'gptq_v2');
    assert.deepEqual(u32(v2.qzeros), refPackQzeros({ ...t, zeros: Uint32Array.from(q.zeros) }, false));
    const back = unpackGptq(v2, { bits: 4, groupSize: 32, inFeatures: 64, outFeatures: 32, format: 'gptq_v2', file: 'mem', module: 'm',
      shapes: { qweight: [8, 32], qzeros: [2, 4], scales: [2, 32] } });
    assert.deepEqual(back.zeros, q.zeros);
    await expectIdpError(() => packGptq(q, 'gptq', 'model.layers.0.mlp.up_proj'), 'INTERNAL', undefined, /up_proj.*zero point 0/);
  });

  it('shapes that cannot be packed and group sizes that do not divide in_features are typed errors', async () => {
    assert.equal(whyNotQuantizable(64, 64, 4, 32), undefined);
    assert.match(whyNotQuantizable(48, 64, 4, 32)!, /does not divide/);
    assert.match(whyNotQuantizable(48, 64, 3, -1)!, /in_features 48 × 3 bits/);
    assert.match(whyNotQuantizable(64, 172, 4, -1)!, /out_features 172/);
    assert.match(whyNotQuantizable(64, 64, 5, -1)!, /bits must be/);
    assert.match(whyNotQuantizable(64, 64, 4, 0)!, /group size/);
    await expectIdpError(() => checkQuantizable('model.layers.0.mlp.down_proj', 172, 64, 4, 128, '/m'), 'INPUT', '/m', /down_proj.*does not divide/);
  });

  it('tensors that disagree with the config are FORMAT errors naming the file and module', async () => {
    const t = randomTestQuant(4, 64, 32, 32, prng(4));
    const p = packGptq(toEngine(t, 32));
    const spec = { bits: 4 as QuantBits, groupSize: 32, inFeatures: 64, outFeatures: 32, format: 'gptq' as const, file: '/ck/model.safetensors', module: 'q_proj',
      shapes: { qweight: [8, 32], qzeros: [2, 4], scales: [2, 32], gIdx: [64] } };
    await expectIdpError(() => unpackGptq(p, { ...spec, groupSize: 16 }), 'FORMAT', '/ck/model.safetensors', /2 groups but group_size 16/);
    await expectIdpError(() => unpackGptq(p, { ...spec, shapes: { ...spec.shapes, qweight: [16, 32] } }), 'FORMAT', undefined, /qweight has shape \[16, 32\]/);
    await expectIdpError(() => unpackGptq(p, { ...spec, inFeatures: 96 }), 'FORMAT', undefined, /qweight/);
    const badG = { ...p, gIdx: Int32Array.from(p.gIdx) };
    badG.gIdx[3] = 9;
    await expectIdpError(() => unpackGptq(badG, spec), 'FORMAT', undefined, /g_idx\[3\] = 9/);
    const nan = { ...p, scales: Uint16Array.from(p.scales) };
    nan.scales[1] = 0x7e00;
    await expectIdpError(() => unpackGptq(nan, spec), 'FORMAT', undefined, /scales\[0, 1\] is NaN/);
  });
});

describe('gptq-format: a file written by the independent packer', () => {
  it('reads back through the safetensors reader with the same dequantized weights', () => {
    const dir = tmpDir('idp-gptqfile-');
    const file = path.join(dir, 'model.safetensors');
    const layers: Array<[string, TestQuant, number]> = [
      ['a.q_proj', randomTestQuant(3, 64, 32, 32, prng(10), true), 32],
      ['a.o_proj', randomTestQuant(4, 64, 64, -1, prng(11)), -1],
      ['a.up_proj', randomTestQuant(2, 128, 32, 64, prng(12)), 64],
      ['a.down_proj', randomTestQuant(8, 32, 64, 32, prng(13)), 32],
    ];
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    for (const [m, t] of layers) {
      tensors[`${m}.qweight`] = { dtype: 'I32', shape: [t.inF / 32 * t.bits, t.outF], data: refPackQweight(t) };
      tensors[`${m}.qzeros`] = { dtype: 'I32', shape: [t.groups, t.outF / 32 * t.bits], data: refPackQzeros(t) };
      tensors[`${m}.scales`] = { dtype: 'F16', shape: [t.groups, t.outF], data: Uint16Array.from(t.scales, (x) => f32ToF16(x)) };
      tensors[`${m}.g_idx`] = { dtype: 'I32', shape: [t.inF], data: t.gIdx };
    }
    writeSafetensors(file, tensors, { format: 'pt' });
    const h = readSafetensorsHeader(file);
    for (const [m, t, gs] of layers) {
      const ref = (n: string) => h.tensors.get(`${m}.${n}`)!;
      const bytes = (n: string) => readTensorBytes(ref(n));
      const i32 = (b: Buffer) => new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      const q = unpackGptq({
        qweight: i32(bytes('qweight')), qzeros: i32(bytes('qzeros')), gIdx: i32(bytes('g_idx')),
        scales: Uint16Array.from({ length: t.groups * t.outF }, (_, i) => bytes('scales').readUInt16LE(2 * i)),
      }, {
        bits: t.bits as QuantBits, groupSize: gs, inFeatures: t.inF, outFeatures: t.outF, format: 'gptq', file, module: m,
        shapes: { qweight: ref('qweight').shape, qzeros: ref('qzeros').shape, scales: ref('scales').shape, gIdx: ref('g_idx').shape },
      });
      const want = refDequant(t);
      const got = dequantize(q);
      for (let i = 0; i < want.length; i++) assert.equal(got[i], Math.fround(want[i]), `${m} w[${i}]`);
    }
  });
});

describe('gptq-config', () => {
  it('reads AutoGPTQ quantize_config.json and transformers quantization_config, and writes them back', () => {
    const c = parseGptqConfig({ bits: 3, group_size: 64, desc_act: true, sym: false, damp_percent: 0.1, static_groups: false, true_sequential: true,
      model_name_or_path: null, model_file_base_name: 'model', quant_method: 'gptq', checkpoint_format: 'gptq' }, 'q.json');
    assert.deepEqual(c, { bits: 3, groupSize: 64, descAct: true, sym: false, staticGroups: false, trueSequential: true, dampPercent: 0.1, checkpointFormat: 'gptq' });
    assert.deepEqual(parseGptqConfig(quantizeConfigJson(c, 'idp-lab'), 'x'), c);
    assert.deepEqual(parseGptqConfig(hfQuantizationConfig(c), 'x'), c);
    const minimal = parseGptqConfig({ bits: 4, group_size: 128 }, 'x');
    assert.deepEqual(minimal, { ...DEFAULT_GPTQ, bits: 4 });
  });

  it('rejects what it cannot run with typed errors naming the file', async () => {
    await expectIdpError(() => parseGptqConfig({ bits: 5, group_size: 128 }, '/f/quantize_config.json'), 'CONFIG', '/f/quantize_config.json', /bits/);
    await expectIdpError(() => parseGptqConfig({ bits: 4, group_size: 0 }, '/f'), 'CONFIG', '/f', /group_size/);
    await expectIdpError(() => parseGptqConfig({ bits: 4, desc_act: 'yes' }, '/f'), 'CONFIG', '/f', /desc_act/);
    await expectIdpError(() => parseGptqConfig({ quant_method: 'awq', bits: 4 }, '/f'), 'UNSUPPORTED', '/f', /awq/);
    await expectIdpError(() => parseGptqConfig({ bits: 4, checkpoint_format: 'marlin' }, '/f'), 'UNSUPPORTED', '/f', /marlin/);
    await expectIdpError(() => parseGptqConfig([], '/f'), 'CONFIG', '/f');
  });
});
