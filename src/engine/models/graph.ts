// Architecture dispatch: a LoadedModel → its ONNX graph, built by its family (models/arch/registry.ts).

import type { GraphBuilder } from '../onnx/builder';
import type { LoadedModel } from './config';
import type { BuildOptions } from './blocks';
import { family } from './arch/registry';
import { runtimeModel } from './quant/gptq-load';

export function buildGraph(model: LoadedModel, opts: BuildOptions): GraphBuilder {
  const m = runtimeModel(model, opts);   // GPTQ: dequantized fallback / accuracy level
  return family(m.config).build(m, opts);
}
