// The linear layers a compressor works on, per family (its weight list and layout, models/arch/), and
// their float weights as [out, in].
//
// Every 2-D weight inside a decoder layer is a linear layer (norms are 1-D; embeddings, OPT's
// project_in/out and the head are outside the layers and stay float, as AutoGPTQ leaves them).
// The output projection is a linear module of its own (headModule): `idp compress --quantize-head`
// quantizes it as GPTQModel stores a quantized head (lm_head.qweight …); when the config ties it to the
// token embedding, its weight is the embedding table and the quantized matrix serves both.
// GPT-2's Conv1D weights are stored [in, out]; weightOf() returns them transposed so every
// compressor sees W [out, in] (as AutoGPTQ transposes Conv1D before quantizing).

import { readTensorF32 } from '../../formats/safetensors';
import type { LoadedModel, ModelConfig } from '../config';
import { expectedWeights } from '../weights';
import { family, parseLayerWeight } from '../arch/registry';
import { formatError, inputError } from '../../errors';

export interface LinearModule {
  /** HF module path, e.g. model.layers.0.self_attn.q_proj */
  name: string;
  layer: number;
  layout: 'linear' | 'conv1d';
  inFeatures: number;
  outFeatures: number;
  /** The tensor holding W when it is not `${name}.weight` (the head tied to the token embedding). */
  weight?: string;
}

/** The name the output projection's GPTQ tensors carry (lm_head.qweight …), tied or not. */
export const HEAD_MODULE = 'lm_head';

/**
 * The output projection as a linear module: W [vocab, in] is lm_head.weight, or the token embedding when
 * the config ties them (then `weight` names the embedding and the GPTQ tensors are still lm_head.*).
 */
export function headModule(cfg: ModelConfig): LinearModule {
  const w = expectedWeights(cfg);
  const weight = cfg.tieWordEmbeddings ? family(cfg).tokenEmbedding(cfg).name : `${HEAD_MODULE}.weight`;   // a tied head shares the table
  const shape = w.get(weight);
  if (!shape) throw new Error(`headModule: ${cfg.arch} has no tensor '${weight}'`);
  return {
    name: HEAD_MODULE, layer: -1, layout: 'linear', inFeatures: shape[1], outFeatures: shape[0],
    ...(cfg.tieWordEmbeddings ? { weight } : {}),
  };
}

/** Linear modules of every decoder layer, in the config's tensor order (graph order within a layer). */
export function linearModules(cfg: ModelConfig): LinearModule[] {
  const out: LinearModule[] = [];
  const layout = family(cfg).linearLayout;
  for (const [name, shape] of expectedWeights(cfg)) {
    const m = parseLayerWeight(cfg, name);
    if (!m || shape.length !== 2) continue;
    const [a, b] = shape;
    out.push({
      name: name.slice(0, -'.weight'.length), layer: m.layer, layout,
      inFeatures: layout === 'linear' ? b : a, outFeatures: layout === 'linear' ? a : b,
    });
  }
  return out;
}

/**
 * The quantization group size when none is given: the largest of 128, 64, 32 that divides every linear
 * layer's input width (GPTQ groups), else one group per row (-1). A model of 192-wide layers gets 64.
 */
export function autoGroupSize(cfg: ModelConfig): number {
  const widths = linearModules(cfg).map((x) => x.inFeatures);
  return [128, 64, 32].find((g) => widths.every((w) => w % g === 0)) ?? -1;
}

/** W [out, in] float32 of a module (a copy). NaN/Inf weights are a FORMAT error naming the file. */
export function weightOf(m: LoadedModel, mod: LinearModule): Float32Array {
  const name = mod.weight ?? `${mod.name}.weight`;
  const ref = m.weights.get(name);
  if (!ref) throw inputError(`'${mod.name}' has no float weight (is the model already quantized?)`, m.source);
  const raw = readTensorF32(ref);
  for (let i = 0; i < raw.length; i++) {
    if (!Number.isFinite(raw[i])) {
      throw formatError(ref.file, `tensor '${name}' holds ${raw[i]} at index ${i}: cannot compress non-finite weights`);
    }
  }
  if (mod.layout === 'linear') return raw;
  const { inFeatures: K, outFeatures: N } = mod;
  const t = new Float32Array(N * K);
  for (let k = 0; k < K; k++) for (let o = 0; o < N; o++) t[o * K + k] = raw[k * N + o];
  return t;
}
