// Tiny GPTQ checkpoints written by the test side alone: a float model from oracle-models.ts whose
// decoder-layer linear weights are quantized here (own min/max rounding, own act-order groups) and
// packed with the independent AutoGPTQ-style packer (gptq-packer.ts), plus quantize_config.json.
// Returns the float64 weights the checkpoint stands for (dequantized linears) for the float64 oracle.

import * as fs from 'fs';
import * as path from 'path';
import { TensorToWrite, writeSafetensors } from '../../src/engine/formats/safetensors';
import { f16ToF32, f32ToF16 } from '../../src/engine/formats/dtypes';
import { tinyConfig, tinyWeights, TinyModelSpec, RefWeights } from './oracle-models';
import { refDequant, refPackQweight, refPackQzeros, TestQuant } from './gptq-packer';
import { prng } from './tiny-hf';

export interface TinyGptqOptions {
  bits: number;
  groupSize: number;
  actOrder?: boolean;
  sym?: boolean;
  /** 'gptq' (v1, default) or 'gptq_v2'. */
  format?: 'gptq' | 'gptq_v2';
  /** Called with each module's quantization before packing (to plant edge cases). */
  tweak?: (module: string, t: TestQuant) => void;
  /** Extra / replaced quantize_config.json fields. */
  configOverrides?: Record<string, unknown>;
  /**
   * Quantize the output projection too and store it as lm_head.qweight … (GPTQModel's quantized head);
   * tied to the embedding, the table is stored once that way (no float embedding in the file).
   */
  lmHead?: boolean;
  /** Write these tensors instead (after everything else); null leaves the tensor out. */
  replace?: Record<string, TensorToWrite | null>;
}

const LINEAR_RE = /^(model\.layers|model\.decoder\.layers|transformer\.h)\.\d+\..+\.weight$/;

/** Quantize W given as intweight-shaped [in, out] float64 (own rounding rule; zero ≥ 1 for v1). */
function quantizeTest(w: Float64Array, inF: number, outF: number, bits: number, groupSize: number, actOrder: boolean, sym: boolean, seed: number): TestQuant {
  const maxq = 2 ** bits - 1;
  const gs = groupSize === -1 ? inF : groupSize;
  const groups = inF / gs;
  const order = Array.from({ length: inF }, (_, i) => i);
  if (actOrder) {
    const r = prng(seed);
    for (let i = inF - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  }
  const gIdx = new Int32Array(inF);
  order.forEach((col, i) => { gIdx[col] = Math.floor(i / gs); });
  const scales = new Float32Array(groups * outF);
  const zeros = new Uint32Array(groups * outF);
  const intweight = new Uint32Array(inF * outF);
  for (let g = 0; g < groups; g++) {
    const cols = order.slice(g * gs, (g + 1) * gs);
    for (let o = 0; o < outF; o++) {
      const vals = cols.map((k) => w[k * outF + o]);
      let lo = Math.min(0, ...vals);
      let hi = Math.max(0, ...vals);
      if (sym) { hi = Math.max(-lo, hi); lo = -hi; }
      const s = f16ToF32(f32ToF16(Math.max((hi - lo) / maxq, 1e-4)));
      const z = sym ? 2 ** (bits - 1) : Math.min(maxq, Math.max(1, Math.round(-lo / s)));
      scales[g * outF + o] = s;
      zeros[g * outF + o] = z;
      for (const k of cols) intweight[k * outF + o] = Math.min(maxq, Math.max(0, Math.round(w[k * outF + o] / s) + z));
    }
  }
  return { bits, inF, outF, groups, intweight, zeros, scales, gIdx };
}

export interface TinyGptq {
  dir: string;
  config: Record<string, unknown>;
  /** float64 weights the checkpoint represents (linears dequantized), HF names and layouts. */
  weights: RefWeights;
  quants: Map<string, TestQuant>;
}

export function writeTinyGptq(dir: string, spec: TinyModelSpec, o: TinyGptqOptions): TinyGptq {
  fs.mkdirSync(dir, { recursive: true });
  const config = tinyConfig(spec);
  const raw = tinyWeights(spec);
  const isConv1d = spec.modelType === 'gpt2';
  const tensors: Record<string, TensorToWrite> = {};
  const weights: RefWeights = new Map();
  const quants = new Map<string, TestQuant>();
  let seed = 1;
  const embedding = ({ llama: 'model.embed_tokens.weight', opt: 'model.decoder.embed_tokens.weight', gpt2: 'transformer.wte.weight' } as Record<string, string>)[spec.modelType === 'opt' || spec.modelType === 'gpt2' ? spec.modelType : 'llama'];
  const tied = spec.modelType === 'opt' || spec.modelType === 'gpt2' || !!spec.tieWordEmbeddings;
  const headWeight = tied ? embedding : 'lm_head.weight';
  for (const [name, t] of raw) {
    const isHead = !!o.lmHead && name === headWeight;
    if (isHead || (LINEAR_RE.test(name) && t.shape.length === 2)) {
      const mod = isHead ? 'lm_head' : name.slice(0, -'.weight'.length);
      const conv = isConv1d && !isHead;
      const [inF, outF] = conv ? t.shape : [t.shape[1], t.shape[0]];
      const iw = new Float64Array(inF * outF);   // [in, out]
      for (let k = 0; k < inF; k++) for (let n = 0; n < outF; n++) iw[k * outF + n] = conv ? t.data[k * outF + n] : t.data[n * inF + k];
      const q = quantizeTest(iw, inF, outF, o.bits, o.groupSize, !!o.actOrder, !!o.sym, seed++);
      o.tweak?.(mod, q);
      quants.set(mod, q);
      const deq = refDequant(q);   // [out, in]
      const back = new Float64Array(t.data.length);
      for (let n = 0; n < outF; n++) for (let k = 0; k < inF; k++) back[conv ? k * outF + n : n * inF + k] = Math.fround(deq[n * inF + k]);
      weights.set(name, { data: back, shape: t.shape });
      tensors[`${mod}.qweight`] = { dtype: 'I32', shape: [inF / 32 * o.bits, outF], data: refPackQweight(q) };
      tensors[`${mod}.qzeros`] = { dtype: 'I32', shape: [q.groups, outF / 32 * o.bits], data: refPackQzeros(q, (o.format ?? 'gptq') === 'gptq') };
      tensors[`${mod}.scales`] = { dtype: 'F16', shape: [q.groups, outF], data: Uint16Array.from(q.scales, (x) => f32ToF16(x)) };
      tensors[`${mod}.g_idx`] = { dtype: 'I32', shape: [inF], data: q.gIdx };
    } else {
      const f = Float32Array.from(t.data);
      weights.set(name, { data: Float64Array.from(f), shape: t.shape });
      tensors[name] = { dtype: 'F32', shape: t.shape, data: f };
    }
  }
  for (const [k, v] of Object.entries(o.replace ?? {})) if (v) tensors[k] = v; else delete tensors[k];
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  fs.writeFileSync(path.join(dir, 'quantize_config.json'), JSON.stringify({
    bits: o.bits, group_size: o.groupSize, damp_percent: 0.01, desc_act: !!o.actOrder, static_groups: false, sym: !!o.sym,
    true_sequential: true, model_name_or_path: null, model_file_base_name: 'model', quant_method: 'gptq',
    checkpoint_format: o.format ?? 'gptq', ...(o.lmHead ? { lm_head: true } : {}), ...(o.configOverrides ?? {}),
  }, null, 2));
  return { dir, config, weights, quants };
}
