// Architecture dispatch: a LoadedModel → its ONNX graph.

import type { GraphBuilder } from '../onnx/builder';
import type { LoadedModel } from './config';
import type { BuildOptions } from './blocks';
import { buildLlama } from './llama';
import { buildOpt } from './opt';
import { buildGpt2 } from './gpt2';

export function buildGraph(m: LoadedModel, opts: BuildOptions): GraphBuilder {
  switch (m.config.arch) {
    case 'llama': return buildLlama(m, opts);
    case 'opt': return buildOpt(m, opts);
    case 'gpt2': return buildGpt2(m, opts);
  }
}
