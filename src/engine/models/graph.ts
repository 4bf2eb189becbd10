// Architecture dispatch: a LoadedModel → its ONNX graph, built by its family (models/arch/registry.ts).
// What every family's graph shares past that — the in-place cache's fetched outputs — is added here.

import type { GraphBuilder } from '../onnx/builder';
import type { LoadedModel } from './config';
import type { BuildOptions } from './blocks';
import { family } from './arch/registry';
import { runtimeModel } from './quant/gptq-load';
import { addCapacityOutputs } from './cache-attention';

export function buildGraph(model: LoadedModel, opts: BuildOptions): GraphBuilder {
  const m = runtimeModel(model, opts);   // GPTQ: dequantized fallback / accuracy level
  const g = family(m.config).build(m, opts);
  // the in-place cache's contract ends in the outputs a run fetches (models/cache-attention.ts)
  if (opts.kvCache === 'capacity') addCapacityOutputs(g, m.config.numLayers, m.config.numKvHeads, m.config.headDim);
  return g;
}
