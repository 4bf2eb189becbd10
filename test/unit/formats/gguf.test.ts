// GGUF reader: metadata of every value type, tensor table, alignment, dequantization against
// hand-computed values, and refusal of files whose header lies.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { dequantize, readGguf, readGgufTensorF32 } from '../../../src/engine/formats/gguf';
import { f32ToF16 } from '../../../src/engine/formats/dtypes';
import { dataPath, tmpDir, STORIES } from '../../helpers/data';
import { gv, GgufMeta, quantizeQ4_0, quantizeQ8_0, writeGguf } from '../../helpers/gguf-writer';
import { expectIdpError, prng, randomF32 } from '../../helpers/tiny-hf';

const dir = tmpDir('idp-gguf-');
let n = 0;
const fresh = () => path.join(dir, `t${n++}.gguf`);

function patch(file: string, pos: number, bytes: number[] | Buffer): string {
  const out = fresh();
  const b = fs.readFileSync(file);
  Buffer.from(bytes).copy(b, pos);
  fs.writeFileSync(out, b);
  return out;
}
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const u64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };

/** A small valid file: two F32 tensors and a few metadata entries. */
function small(extraMeta: Array<[string, GgufMeta]> = []) {
  const file = fresh();
  const layout = writeGguf(file, [['general.architecture', gv.str('llama')], ...extraMeta], [
    { name: 'a', shape: [3, 4], type: 'F32', data: Float32Array.from({ length: 12 }, (_, i) => i - 5.5) },
    { name: 'b', shape: [32], type: 'F32', data: new Float32Array(32).fill(0.25) },
  ]);
  return { file, layout };
}

describe('GGUF reader', () => {
  it('reads metadata of every value type, nested arrays included', () => {
    const { file } = small([
      ['u8', { type: 'u8', value: 250 }], ['i8', { type: 'i8', value: -7 }], ['u16', { type: 'u16', value: 65000 }],
      ['i16', { type: 'i16', value: -300 }], ['u32', gv.u32(4e9)], ['i32', gv.i32(-2e9)], ['f32', gv.f32(1e-5)],
      ['bool', gv.bool(true)], ['str', gv.str('héllo ▁wörld')], ['u64', gv.u64(2n ** 60n)], ['i64', { type: 'i64', value: -5n }],
      ['f64', gv.f64(Math.PI)], ['arr', gv.arr('str', ['x', '', 'zz'])], ['farr', gv.arr('f32', [0.5, -1])],
      ['nested', gv.nested([gv.arr('i32', [1, 2]), gv.arr('i32', []), gv.nested([gv.arr('str', ['deep'])])])],
    ]);
    const g = readGguf(file);
    assert.equal(g.version, 3);
    assert.equal(g.alignment, 32);
    const m = g.metadata;
    assert.equal(m.get('general.architecture'), 'llama');
    assert.equal(m.get('u8'), 250);
    assert.equal(m.get('i8'), -7);
    assert.equal(m.get('u16'), 65000);
    assert.equal(m.get('i16'), -300);
    assert.equal(m.get('u32'), 4e9);
    assert.equal(m.get('i32'), -2e9);
    assert.equal(m.get('f32'), 1e-5, 'f32 values come back as their shortest decimal');
    assert.equal(m.get('bool'), true);
    assert.equal(m.get('str'), 'héllo ▁wörld');
    assert.equal(m.get('u64'), 2n ** 60n, 'u64 beyond 2^53 stays exact as a bigint');
    assert.equal(m.get('i64'), -5);
    assert.equal(m.get('f64'), Math.PI);
    assert.deepEqual(m.get('arr'), ['x', '', 'zz']);
    assert.deepEqual(m.get('farr'), [0.5, -1]);
    assert.deepEqual(m.get('nested'), [[1, 2], [], [['deep']]]);
  });

  it('tensor table: ne reversed into PyTorch shape, offsets aligned, data read back', () => {
    const { file, layout } = small();
    const g = readGguf(file);
    const a = g.tensors.get('a')!;
    assert.deepEqual(a.ne, [4, 3]);
    assert.deepEqual(a.shape, [3, 4]);
    assert.equal(a.typeName, 'F32');
    assert.equal(g.dataOffset, layout.dataOffset);
    assert.equal(g.dataOffset % 32, 0);
    assert.equal(g.tensors.get('b')!.offset, layout.dataOffset + 64);
    assert.deepEqual([...readGgufTensorF32(g, a)], Array.from({ length: 12 }, (_, i) => i - 5.5));
  });

  it('reads GGUF v2 as well as v3', () => {
    const file = fresh();
    writeGguf(file, [['general.name', gv.str('v2')]], [{ name: 'x', shape: [2, 3], type: 'F32', data: Float32Array.of(1, 2, 3, 4, 5, 6) }], { version: 2 });
    const g = readGguf(file);
    assert.equal(g.version, 2);
    assert.equal(g.metadata.get('general.name'), 'v2');
    assert.deepEqual([...readGgufTensorF32(g, g.tensors.get('x')!)], [1, 2, 3, 4, 5, 6]);
  });

  it('honours general.alignment', () => {
    const file = fresh();
    writeGguf(file, [['general.alignment', gv.u32(256)]], [
      { name: 'x', shape: [5], type: 'F32', data: new Float32Array(5).fill(1) },
      { name: 'y', shape: [5], type: 'F32', data: new Float32Array(5).fill(2) },
    ], { alignment: 256 });
    const g = readGguf(file);
    assert.equal(g.alignment, 256);
    assert.equal(g.dataOffset % 256, 0);
    assert.equal(g.tensors.get('y')!.offset - g.dataOffset, 256);
    assert.deepEqual([...readGgufTensorF32(g, g.tensors.get('y')!)], [2, 2, 2, 2, 2]);
  });

  it('reads the staged stories260K.gguf', function () {
    const g = readGguf(dataPath(this, ...STORIES, 'stories260K.gguf'));
    assert.equal(g.tensors.size, 48);
    assert.equal(g.metadata.get('llama.block_count'), 5);
    assert.equal(g.metadata.get('llama.attention.layer_norm_rms_epsilon'), 1e-5);
    assert.equal((g.metadata.get('tokenizer.ggml.tokens') as string[]).length, 512);
    const last = [...g.tensors.values()].reduce((a, t) => Math.max(a, t.offset + t.byteLength), 0);
    assert.equal(last, g.fileSize, 'data section ends exactly at EOF');
  });
});

describe('GGUF dequantization', () => {
  it('F16 and BF16 against exact values', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x8000]).buffer);
    assert.deepEqual([...dequantize(1, f16, 6)], [1, -2, 65504, 2 ** -24, 0.333251953125, -0]);
    const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x4049]).buffer);
    assert.deepEqual([...dequantize(30, bf, 3)], [1, -3, 3.140625]);
  });

  it('Q8_0: d · int8, per block of 32', () => {
    const raw = new Uint8Array(68);
    const dv = new DataView(raw.buffer);
    dv.setUint16(0, 0x3800, true); // 0.5
    for (let j = 0; j < 32; j++) dv.setInt8(2 + j, j - 16);
    dv.setUint16(34, 0xb400, true); // -0.25
    for (let j = 0; j < 32; j++) dv.setInt8(36 + j, j === 0 ? -128 : 127 - 8 * j);
    const got = dequantize(8, raw, 64);
    for (let j = 0; j < 32; j++) assert.equal(got[j], (j - 16) * 0.5);
    for (let j = 0; j < 32; j++) assert.equal(got[32 + j], (j === 0 ? -128 : 127 - 8 * j) * -0.25);
  });

  it('Q4_0: d · (nibble − 8), low nibbles first then high nibbles', () => {
    const raw = new Uint8Array(18);
    new DataView(raw.buffer).setUint16(0, 0x4000, true); // 2
    for (let j = 0; j < 16; j++) raw[2 + j] = j | ((15 - j) << 4);
    const got = dequantize(2, raw, 32);
    for (let j = 0; j < 16; j++) {
      assert.equal(got[j], (j - 8) * 2);
      assert.equal(got[j + 16], (7 - j) * 2);
    }
  });

  it('Q8_0 / Q4_0 written by the test writer come back within the quantization step', () => {
    const x = randomF32(32 * 40, prng(3), 2);
    const file = fresh();
    writeGguf(file, [], [
      { name: 'q8', shape: [40, 32], type: 'Q8_0', data: x },
      { name: 'q4', shape: [40, 32], type: 'Q4_0', data: x },
      { name: 'f16', shape: [40, 32], type: 'F16', data: x },
    ]);
    const g = readGguf(file);
    assert.equal(g.tensors.get('q8')!.byteLength, 40 * 34);
    const q8 = readGgufTensorF32(g, g.tensors.get('q8')!);
    const q4 = readGgufTensorF32(g, g.tensors.get('q4')!);
    const h = readGgufTensorF32(g, g.tensors.get('f16')!);
    assert.deepEqual([...q8], [...dequantize(8, quantizeQ8_0(x), x.length)]);
    assert.deepEqual([...q4], [...dequantize(2, quantizeQ4_0(x), x.length)]);
    for (let b = 0; b < 40; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        assert.ok(Math.abs(q8[i] - x[i]) <= (amax / 127) * 0.56, `q8 ${i}`);
        assert.ok(Math.abs(q4[i] - x[i]) <= (amax / 8) * 1.01, `q4 ${i}`);
      }
    }
    const f16back = dequantize(1, new Uint8Array(Uint16Array.from(x, (v) => f32ToF16(v)).buffer), x.length);
    assert.deepEqual([...h], [...f16back]);
  });
});

describe('GGUF files that lie', () => {
  it('truncated anywhere → FORMAT naming the file', async () => {
    const { file } = small([['arr', gv.arr('str', ['a', 'b', 'c'])]]);
    const full = fs.readFileSync(file);
    for (const len of [0, 3, 8, 20, 30, 45, 60, 100, full.length - 100, full.length - 1]) {
      const f = fresh();
      fs.writeFileSync(f, full.subarray(0, Math.max(0, len)));
      await expectIdpError(() => readGguf(f), 'FORMAT', f);
    }
  });

  it('huge tensor / metadata counts and string lengths → FORMAT before any allocation', async () => {
    const { file, layout } = small();
    await expectIdpError(() => readGguf(patch(file, layout.tensorCountPos, u64(2n ** 62n))), 'FORMAT', undefined, /tensor count/);
    await expectIdpError(() => readGguf(patch(file, layout.tensorCountPos, u64(10_000_000n))), 'FORMAT', undefined, /tensor descriptions/);
    await expectIdpError(() => readGguf(patch(file, layout.kvCountPos, u64(1n << 40n))), 'FORMAT', undefined, /metadata entries/);
    await expectIdpError(() => readGguf(patch(file, 24, u64(1n << 50n))), 'FORMAT', undefined, /metadata key #0/);
  });

  it('array lengths beyond the file → FORMAT', async () => {
    const { file, layout } = small([['arr', gv.arr('u32', [1, 2, 3])]]);
    const lenPos = layout.kvTypePos.get('arr')! + 8;
    await expectIdpError(() => readGguf(patch(file, lenPos, u64(1n << 40n))), 'FORMAT', undefined, /array of \d+ elements/);
  });

  it('unknown value type, unknown array element type, bad bool → FORMAT', async () => {
    const { file, layout } = small([['k', gv.arr('u8', [1])], ['flag', gv.bool(true)]]);
    await expectIdpError(() => readGguf(patch(file, layout.kvTypePos.get('k')!, u32(13))), 'FORMAT', undefined, /unknown value type 13/);
    await expectIdpError(() => readGguf(patch(file, layout.kvTypePos.get('k')! + 4, u32(77))), 'FORMAT', undefined, /unknown array element type 77/);
    await expectIdpError(() => readGguf(patch(file, layout.kvTypePos.get('flag')! + 4, [7])), 'FORMAT', undefined, /bool/);
  });

  it('unknown tensor type → FORMAT; known but not dequantizable (Q4_K) → UNSUPPORTED on read', async () => {
    const { file, layout } = small();
    const f = layout.tensorFields.get('a')!;
    await expectIdpError(() => readGguf(patch(file, f.type, u32(99))), 'FORMAT', undefined, /unknown ggml type 99/);
    const qk = fresh();
    writeGguf(qk, [], [{ name: 'w', shape: [2, 256], ggmlType: 12, raw: new Uint8Array(2 * 144) }]);
    const g = readGguf(qk);
    assert.equal(g.tensors.get('w')!.typeName, 'Q4_K');
    await expectIdpError(() => readGgufTensorF32(g, g.tensors.get('w')!), 'UNSUPPORTED', qk, /Q4_K/);
  });

  it('misaligned, out-of-file and overlapping offsets, bad dimensions → FORMAT', async () => {
    const { file, layout } = small();
    const a = layout.tensorFields.get('a')!;
    const b = layout.tensorFields.get('b')!;
    await expectIdpError(() => readGguf(patch(file, b.offset, u64(36n))), 'FORMAT', undefined, /not a multiple of the alignment/);
    await expectIdpError(() => readGguf(patch(file, b.offset, u64(1n << 40n))), 'FORMAT', undefined, /beyond the end of the file/);
    await expectIdpError(() => readGguf(patch(file, b.offset, u64(32n))), 'FORMAT', undefined, /overlap/);
    await expectIdpError(() => readGguf(patch(file, a.ne, u64(1n << 40n))), 'FORMAT', undefined, /beyond the end/);
    await expectIdpError(() => readGguf(patch(file, a.nDims, u32(5))), 'FORMAT', undefined, /5 dimensions/);
    await expectIdpError(() => readGguf(patch(file, a.nDims, u32(0xffffffff))), 'FORMAT');
  });

  it('bad magic, versions, alignment, duplicate names', async () => {
    const { file, layout } = small([['general.alignment', gv.u32(32)]]);
    await expectIdpError(() => readGguf(patch(file, 0, Buffer.from('GGUX'))), 'FORMAT', undefined, /magic/);
    await expectIdpError(() => readGguf(patch(file, 4, u32(1))), 'UNSUPPORTED', undefined, /version 1/);
    await expectIdpError(() => readGguf(patch(file, 4, u32(9))), 'FORMAT', undefined, /version 9/);
    await expectIdpError(() => readGguf(patch(file, 4, [0, 0, 0, 3])), 'UNSUPPORTED', undefined, /big-endian/);
    await expectIdpError(() => readGguf(patch(file, layout.kvTypePos.get('general.alignment')! + 4, u32(24))), 'FORMAT', undefined, /power of two/);
    const dup = fresh();
    writeGguf(dup, [['x', gv.u32(1)], ['x', gv.u32(2)]], []);
    await expectIdpError(() => readGguf(dup), 'FORMAT', dup, /appears twice/);
    const dupT = fresh();
    writeGguf(dupT, [], [{ name: 't', shape: [1], type: 'F32', data: new Float32Array(1) }, { name: 't', shape: [1], type: 'F32', data: new Float32Array(1) }]);
    await expectIdpError(() => readGguf(dupT), 'FORMAT', dupT, /appears twice/);
    await expectIdpError(() => readGguf(path.join(dir, 'absent.gguf')), 'NOT_FOUND', 'absent.gguf');
  });
});
