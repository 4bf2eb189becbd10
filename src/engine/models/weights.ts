// The Hugging Face tensor names and shapes a model needs, name normalization, and the check that a
// loaded checkpoint has them. The lists and rules are each family's (models/arch/<family>.ts):
// canonical names are those of the HF *ForCausalLM / *LMHeadModel state dict; checkpoints saved from
// the base model lack a prefix, which normalizeWeightName() adds; non-weight buffers are dropped.
// Shapes are PyTorch's: nn.Linear weights [out, in], GPT-2's Conv1D weights [in, out].

import { formatError, unsupported } from '../errors';
import { family } from './arch/registry';
import type { DType } from '../formats/dtypes';
import type { LoadedModel, ModelConfig } from './config';

/** dtypes a HF checkpoint may use for weights; the graph builder casts F16/BF16 where needed. */
export const WEIGHT_DTYPES: readonly DType[] = ['F32', 'F16', 'BF16'];

/** Every tensor (canonical HF name → shape) a model with this config needs, in a stable order. */
export function expectedWeights(cfg: ModelConfig): Map<string, number[]> {
  const w = new Map<string, number[]>();
  family(cfg).weights(cfg, w);
  return w;
}

/** A lower bound on the tensor count of a config (per-layer tensors only): guards absurd layer counts. */
function minTensorsFor(cfg: ModelConfig): number {
  return cfg.numLayers * family(cfg).minTensorsPerLayer;
}

/**
 * Canonical name of a checkpoint tensor, or null for buffers that are not weights (the family's rule).
 */
export function normalizeWeightName(cfg: ModelConfig, name: string): string | null {
  return family(cfg).normalizeWeightName(name);
}

const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Check that `loaded.weights` holds every tensor the config needs, with the right shape and a
 * float dtype. Missing tensor or wrong shape → FORMAT error naming the tensor and its file;
 * an integer/other dtype → UNSUPPORTED. Extra tensors are ignored.
 */
export function checkWeights(loaded: LoadedModel): void {
  const cfg = loaded.config;
  if (minTensorsFor(cfg) > loaded.weights.size + 4 * (loaded.quant?.modules.size ?? 0)) {
    // Checked before building the expected list so a config claiming 2^31 layers fails fast.
    throw formatError(loaded.source,
      `config says ${cfg.numLayers} layers, which needs at least ${minTensorsFor(cfg)} tensors, but the weights hold ${loaded.weights.size}`);
  }
  const expected = expectedWeights(cfg);
  const missing: string[] = [];
  for (const [name, shape] of expected) {
    if (loaded.quant?.modules.has(name.replace(/\.weight$/, ''))) continue;   // quantized: checked by gptq-load
    if (loaded.quant?.tables?.[name]) continue;                                // served by a quantized matrix
    const t = loaded.weights.get(name);
    if (!t) {
      missing.push(`${name} ${shapeStr(shape)}`);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      throw formatError(t.file, `tensor '${name}' has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape)} for this ${cfg.modelType} config`);
    }
    if (!WEIGHT_DTYPES.includes(t.dtype)) {
      throw unsupported(`tensor '${name}' has dtype ${t.dtype}; weights must be F32, F16 or BF16`, t.file);
    }
  }
  if (missing.length) {
    const more = missing.length > 5 ? ` and ${missing.length - 5} more` : '';
    throw formatError(loaded.source, `missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')}${more}`);
  }
}
