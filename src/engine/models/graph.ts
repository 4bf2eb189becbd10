// Architecture dispatch: a LoadedModel → its ONNX graph.

import type { GraphBuilder } from '../onnx/builder';
import type { LoadedModel } from './config';
import type { BuildOptions } from './blocks';
import { buildLlama } from './llama';
import { buildOpt } from './opt';
import { buildGpt2 } from './gpt2';
import { runtimeModel } from '../compress/gptq-load';

export function buildGraph(model: LoadedModel, opts: BuildOptions): GraphBuilder {
  const m = runtimeModel(model, opts);   // GPTQ: dequantized fallback / accuracy level
  switch (m.config.arch) {
    case 'llama': return buildLlama(m, opts);
    case 'opt': return buildOpt(m, opts);
    case 'gpt2': return buildGpt2(m, opts);
  }
}
