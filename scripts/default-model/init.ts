// The default model's architecture and its initial weights: a Llama (RMSNorm, rotary, SwiGLU, GQA,
// tied embeddings) written as an HF folder (config.json + model.safetensors + tokenizer files) that
// models/load.ts reads like any other model, so training starts from it with `--method full`.
//
// Initialisation (GPT-2 / Llama practice): every matrix ~ N(0, std²) with std = 0.02, the two
// projections that write into the residual stream (o_proj, down_proj) scaled by 1/√(2·layers), norm
// weights 1. Each tensor draws from its own stream keyed by (seed, name), so the weights do not depend
// on tensor order.

import * as fs from 'fs';
import * as path from 'path';
import type { ModelConfig } from '../../src/engine/models/config';
import { llamaConfigJson } from '../../src/engine/models/hf-config';
import { expectedWeights } from '../../src/engine/models/weights';
import { writeSafetensors, TensorToWrite } from '../../src/engine/formats/safetensors';
import { Rng } from '../../src/engine/rng';

export interface DefaultModelShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  context: number;
  ropeTheta: number;
}

/** ~2.2M parameters (fp32 ≈ 8.9 MB): see the model card for why this size. */
export const DEFAULT_SHAPE: DefaultModelShape = {
  hidden: 192, layers: 4, heads: 6, kvHeads: 2, intermediate: 512, context: 512, ropeTheta: 10000,
};

/** The ModelConfig of the default model for a vocabulary of `vocab` ids, BOS = EOS = `eot`. */
export function defaultModelConfig(s: DefaultModelShape, vocab: number, eot: number): ModelConfig {
  return {
    arch: 'llama', hfArchitecture: 'LlamaForCausalLM', modelType: 'llama', vocabSize: vocab,
    hiddenSize: s.hidden, numLayers: s.layers, numHeads: s.heads, numKvHeads: s.kvHeads, headDim: s.hidden / s.heads,
    intermediateSize: s.intermediate, maxPositions: s.context, normEps: 1e-5, activation: 'silu', tieWordEmbeddings: true,
    bosTokenId: eot, eosTokenId: eot, ropeTheta: s.ropeTheta, attentionBias: false, mlpBias: false,
  };
}

export function countModelParams(cfg: ModelConfig): number {
  let n = 0;
  for (const shape of expectedWeights(cfg).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Initial weights, by HF tensor name. */
export function initialWeights(cfg: ModelConfig, seed: number, std = 0.02): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  const residualStd = std / Math.sqrt(2 * cfg.numLayers);
  for (const [name, shape] of expectedWeights(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (shape.length === 1) {
      data.fill(name.endsWith('norm.weight') ? 1 : 0);
    } else {
      const s = /o_proj|down_proj/.test(name) ? residualStd : std;
      const rng = Rng.for(seed, 'init', name);
      for (let i = 0; i < n; i++) data[i] = s * rng.normal();
    }
    out.set(name, { data, shape: [...shape] });
  }
  return out;
}

/** Write config.json, model.safetensors (initial weights) and the given tokenizer files into `dir`. */
export function writeInitialModel(dir: string, cfg: ModelConfig, seed: number, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(llamaConfigJson(cfg), null, 2) + '\n');
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of initialWeights(cfg, seed)) tensors[name] = { dtype: 'F32', shape: t.shape, data: t.data };
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
}
