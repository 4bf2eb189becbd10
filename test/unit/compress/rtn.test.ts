// RTN against a float64 re-derivation of GPTQ's Quantizer (per row, per group, sym/asym), and the
// compressed-folder writer: files, tensor layout, untouched tensors byte for byte, atomicity.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { prng, expectIdpError } from '../../helpers/tiny-hf';
import { tmpDir } from '../../helpers/data';
import { writeTinyModel, TINY_SPECS } from '../../helpers/oracle-models';
import { quantizeRtn } from '../../../src/engine/compress/rtn';
import { dequantize, QuantBits, QuantizedLinear } from '../../../src/engine/models/quant/gptq-format';
import { roundEven } from '../../../src/engine/compress/quant-grid';
import { writeQuantizedModel } from '../../../src/engine/compress/write-model';
import { linearModules, weightOf } from '../../../src/engine/models/quant/modules';
import { DEFAULT_GPTQ, readGptqConfig } from '../../../src/engine/models/quant/gptq-config';
import { loadHfFolder } from '../../../src/engine/models/load';
import { readSafetensorsHeader, readTensorBytes } from '../../../src/engine/formats/safetensors';
import { f16ToF32, f32ToF16 } from '../../../src/engine/formats/dtypes';

function randomW(n: number, seed: number): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * (r() < 0.05 ? 2 : 0.3));
}

/** GPTQ's Quantizer.find_params + quantize for one row segment, float64, written from the paper's code description. */
function refRow(x: number[], bits: number, sym: boolean): { scale: number; zero: number; q: number[] } {
  const maxq = 2 ** bits - 1;
  let xmin = Math.min(0, ...x);
  let xmax = Math.max(0, ...x);
  if (sym) { xmax = Math.max(Math.abs(xmin), xmax); if (xmin < 0) xmin = -xmax; }
  if (xmin === 0 && xmax === 0) { xmin = -1; xmax = 1; }
  let scale = f16ToF32(f32ToF16((xmax - xmin) / maxq));
  let zero = sym ? (maxq + 1) / 2 : roundEven(-xmin / scale);
  if (!sym && zero < 1) { scale = f16ToF32(f32ToF16(xmax / (maxq - 1))); zero = 1; }
  const q = x.map((v) => Math.min(maxq, Math.max(0, roundEven(v / scale) + zero)));
  return { scale, zero, q };
}

describe('rtn', () => {
  for (const bits of [2, 3, 4, 8] as QuantBits[]) {
    for (const gs of [-1, 32]) {
      for (const sym of [true, false]) {
        it(`${bits}-bit, group ${gs}, ${sym ? 'sym' : 'asym'}: codes, scales and zeros match the reference quantizer`, () => {
          const N = 32, K = 64;
          const w = randomW(N * K, bits * 100 + gs + (sym ? 1 : 0));
          const q = quantizeRtn(w, N, K, { bits, groupSize: gs, sym });
          const gsz = gs === -1 ? K : gs;
          let worst = 0;
          for (let r = 0; r < N; r++) {
            for (let g = 0; g < K / gsz; g++) {
              const seg = Array.from(w.subarray(r * K + g * gsz, r * K + (g + 1) * gsz));
              const ref = refRow(seg, bits, sym);
              assert.equal(q.scales[g * N + r], ref.scale);
              assert.equal(q.zeros[g * N + r], ref.zero);
              for (let j = 0; j < gsz; j++) assert.equal(q.codes[r * K + g * gsz + j], ref.q[j]);
              // inside the grid, rounding error is at most half a step
              const deq = dequantize(q);
              for (let j = 0; j < gsz; j++) {
                const k = g * gsz + j;
                const lo = ref.scale * (0 - ref.zero), hi = ref.scale * (2 ** bits - 1 - ref.zero);
                if (w[r * K + k] >= lo && w[r * K + k] <= hi) worst = Math.max(worst, Math.abs(deq[r * K + k] - w[r * K + k]) / ref.scale);
              }
            }
          }
          assert.ok(worst <= 0.5 + 1e-6, `max error ${worst} steps`);
        });
      }
    }
  }

  it('symmetric zero is 2^(bits−1); an all-zero row gets a valid grid and exact zeros', () => {
    const w = new Float32Array(32 * 64);
    for (let i = 64; i < w.length; i++) w[i] = Math.sin(i);
    const q = quantizeRtn(w, 32, 64, { bits: 4, groupSize: -1, sym: true });
    assert.ok(Array.from(q.zeros).every((z) => z === 8));
    const d = dequantize(q);
    for (let i = 0; i < 64; i++) assert.equal(d[i], 0);
  });

  it('rejects shapes and settings that do not fit, naming the module', async () => {
    await expectIdpError(() => quantizeRtn(new Float32Array(32 * 48), 32, 48, { bits: 4, groupSize: 32, sym: true }, 'x.down_proj'), 'INPUT', undefined, /x\.down_proj.*does not divide/);
    await expectIdpError(() => quantizeRtn(new Float32Array(32 * 64), 32, 64, { bits: 5 as QuantBits, groupSize: 32, sym: true }), 'INPUT', undefined, /bits/);
    // in memory any shape works (the file layout's word rules are the writer's check)
    const q = quantizeRtn(randomW(172 * 64, 5), 172, 64, { bits: 3, groupSize: -1, sym: false }, 'x.up_proj');
    await expectIdpError(() => writeQuantizedModel(path.join(tmpDir(), 'o'), { config: { arch: 'llama' } } as never, new Map([['x.up_proj', q]]), { ...DEFAULT_GPTQ, bits: 3 }), 'INPUT', undefined, /x\.up_proj.*out_features 172/);
  });
});

describe('writeQuantizedModel', () => {
  const root = tmpDir('idp-write-');
  const src = path.join(root, 'src');
  writeTinyModel(src, { ...TINY_SPECS.llamaGqa, dtype: 'F16' });
  fs.writeFileSync(path.join(src, 'tokenizer_config.json'), '{"model_max_length": 64}');
  const m = loadHfFolder(src);
  const quantized = new Map<string, QuantizedLinear>();
  for (const mod of linearModules(m.config)) {
    quantized.set(mod.name, quantizeRtn(weightOf(m, mod), mod.outFeatures, mod.inFeatures, { bits: 4, groupSize: 16, sym: false }, mod.name));
  }
  const cfg = { ...DEFAULT_GPTQ, bits: 4 as QuantBits, groupSize: 16, sym: false };

  it('writes config, quantize_config, tokenizer files and the GPTQ tensors; other tensors byte for byte', () => {
    const out = path.join(root, 'q4');
    assert.equal(writeQuantizedModel(out, m, quantized, cfg), true);
    const files = fs.readdirSync(out).sort();
    assert.deepEqual(files, ['.idp-lab-output.json', 'config.json', 'model.safetensors', 'quantize_config.json', 'tokenizer_config.json']);
    const qc = readGptqConfig(out)!;
    assert.deepEqual(qc.config, cfg);
    const hf = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(hf.quantization_config.bits, 4);
    assert.equal(hf.quantization_config.modules_in_block_to_quantize, null);
    const h = readSafetensorsHeader(path.join(out, 'model.safetensors'));
    const q = h.tensors.get('model.layers.0.self_attn.q_proj.qweight')!;
    assert.equal(q.dtype, 'I32');
    assert.deepEqual(q.shape, [32 * 4 / 32, 32]);
    assert.deepEqual(h.tensors.get('model.layers.0.self_attn.k_proj.qzeros')!.shape, [2, 16 * 4 / 32]);
    assert.deepEqual(h.tensors.get('model.layers.0.mlp.down_proj.scales')!.shape, [3, 32]);
    assert.equal(h.tensors.get('model.layers.0.mlp.down_proj.scales')!.dtype, 'F16');
    assert.equal(h.tensors.has('model.layers.0.mlp.down_proj.weight'), false);
    for (const name of ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight', 'model.layers.1.input_layernorm.weight']) {
      const a = h.tensors.get(name)!;
      assert.equal(a.dtype, 'F16');
      assert.ok(readTensorBytes(a).equals(readTensorBytes(m.weights.get(name)!)), name);
    }
  });

  it('refuses a non-empty folder, and a cancelled write leaves no folder', async () => {
    const out = path.join(root, 'q4');
    await expectIdpError(() => writeQuantizedModel(out, m, quantized, cfg), 'INPUT', out, /not empty/);
    const cancelled = path.join(root, 'cancelled');
    let calls = 0;
    assert.equal(writeQuantizedModel(cancelled, m, quantized, cfg, { isCancelled: () => ++calls > 5 }), false);
    assert.equal(fs.existsSync(cancelled), false);
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.startsWith('.')), []);
  });
});
