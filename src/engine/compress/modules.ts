// The linear layers a compressor works on, per architecture, and their float weights as [out, in].
//
// Every 2-D weight inside a decoder layer is a linear layer (norms are 1-D; embeddings, OPT's
// project_in/out and the head are outside the layers and stay float, as AutoGPTQ leaves them).
// GPT-2's Conv1D weights are stored [in, out]; weightOf() returns them transposed so every
// compressor sees W [out, in] (as AutoGPTQ transposes Conv1D before quantizing).

import { readTensorF32 } from '../formats/safetensors';
import type { LoadedModel, ModelConfig } from '../models/config';
import { expectedWeights } from '../models/weights';
import { formatError, inputError } from '../errors';

export interface LinearModule {
  /** HF module path, e.g. model.layers.0.self_attn.q_proj */
  name: string;
  layer: number;
  layout: 'linear' | 'conv1d';
  inFeatures: number;
  outFeatures: number;
}

const LAYER_RE = /^(model\.layers|model\.decoder\.layers|transformer\.h)\.(\d+)\.(.+)\.weight$/;

/** Linear modules of every decoder layer, in the config's tensor order (graph order within a layer). */
export function linearModules(cfg: ModelConfig): LinearModule[] {
  const out: LinearModule[] = [];
  for (const [name, shape] of expectedWeights(cfg)) {
    const m = LAYER_RE.exec(name);
    if (!m || shape.length !== 2) continue;
    const layout = cfg.arch === 'gpt2' ? 'conv1d' : 'linear';
    const [a, b] = shape;
    out.push({
      name: name.slice(0, -'.weight'.length), layer: Number(m[2]), layout,
      inFeatures: layout === 'linear' ? b : a, outFeatures: layout === 'linear' ? a : b,
    });
  }
  return out;
}

/** W [out, in] float32 of a module (a copy). NaN/Inf weights are a FORMAT error naming the file. */
export function weightOf(m: LoadedModel, mod: LinearModule): Float32Array {
  const ref = m.weights.get(`${mod.name}.weight`);
  if (!ref) throw inputError(`'${mod.name}' has no float weight (is the model already quantized?)`, m.source);
  const raw = readTensorF32(ref);
  for (let i = 0; i < raw.length; i++) {
    if (!Number.isFinite(raw[i])) {
      throw formatError(ref.file, `tensor '${mod.name}.weight' holds ${raw[i]} at index ${i}: cannot compress non-finite weights`);
    }
  }
  if (mod.layout === 'linear') return raw;
  const { inFeatures: K, outFeatures: N } = mod;
  const t = new Float32Array(N * K);
  for (let k = 0; k < K; k++) for (let o = 0; o < N; o++) t[o * K + k] = raw[k * N + o];
  return t;
}
