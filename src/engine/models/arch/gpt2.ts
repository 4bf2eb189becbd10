// GPT-2 (model_type gpt2): learned positions, pre-LN LayerNorm, fused c_attn, gelu_new, head tied to wte;
// graph in models/gpt2.ts. Linear layers are Conv1D: weights stored [in, out] (c_attn: [d, 3d]), so
// nothing is transposed for the 'gemm' kernel and compressors see them transposed (models/quant/modules.ts).
// No BOS: documents are separated by <|endoftext|> after them, and samples start at it.
//
// HF names: transformer.{wte, wpe, ln_f}, transformer.h.{i}.{ln_1, attn.c_attn, attn.c_proj, ln_2,
// mlp.c_fc, mlp.c_proj}, lm_head.weight. The hub file's names lack "transformer." and it stores the
// causal-mask buffers attn.bias / attn.masked_bias, which are dropped.

import { unsupported } from '../../errors';
import type { ModelConfig } from '../config';
import { buildGpt2 } from '../gpt2';
import type { HfFields } from './hf-fields';
import type { ArchFamily } from './types';

function parse(f: HfFields, _modelType: string, hfArchitecture: string): ModelConfig {
  const hiddenSize = f.int('n_embd');
  const numHeads = f.int('n_head');
  if (!f.boolOr('scale_attn_weights', true)) throw unsupported('GPT-2 with scale_attn_weights=false is not supported', f.file);
  if (f.boolOr('scale_attn_by_inverse_layer_idx', false)) {
    throw unsupported('GPT-2 with scale_attn_by_inverse_layer_idx=true is not supported', f.file);
  }
  if (f.boolOr('add_cross_attention', false)) throw unsupported('GPT-2 with cross-attention is not supported', f.file);
  return {
    arch: 'gpt2',
    hfArchitecture,
    modelType: 'gpt2',
    vocabSize: f.int('vocab_size'),
    hiddenSize,
    numLayers: f.int('n_layer'),
    numHeads,
    numKvHeads: numHeads,
    headDim: f.divide(hiddenSize, 'n_embd', numHeads, 'n_head'),
    intermediateSize: f.intOr('n_inner', 4 * hiddenSize),
    maxPositions: f.intOr('n_positions', 1024),
    normEps: f.numOr('layer_norm_epsilon', 1e-5),
    activation: f.activation('activation_function', 'gelu_new'),
    tieWordEmbeddings: f.boolOr('tie_word_embeddings', true),
    bosTokenId: f.tokenId('bos_token_id', 50256),
    eosTokenId: f.tokenId('eos_token_id', 50256),
    attentionBias: true,
    oProjBias: true,
    mlpBias: true,
  };
}

function weights(c: ModelConfig, w: Map<string, number[]>): void {
  const d = c.hiddenSize;
  const inter = c.intermediateSize;
  w.set('transformer.wte.weight', [c.vocabSize, d]);
  w.set('transformer.wpe.weight', [c.maxPositions, d]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `transformer.h.${i}.`;
    w.set(`${p}ln_1.weight`, [d]);
    w.set(`${p}ln_1.bias`, [d]);
    w.set(`${p}attn.c_attn.weight`, [d, 3 * d]);
    w.set(`${p}attn.c_attn.bias`, [3 * d]);
    w.set(`${p}attn.c_proj.weight`, [d, d]);
    w.set(`${p}attn.c_proj.bias`, [d]);
    w.set(`${p}ln_2.weight`, [d]);
    w.set(`${p}ln_2.bias`, [d]);
    w.set(`${p}mlp.c_fc.weight`, [d, inter]);
    w.set(`${p}mlp.c_fc.bias`, [inter]);
    w.set(`${p}mlp.c_proj.weight`, [inter, d]);
    w.set(`${p}mlp.c_proj.bias`, [d]);
  }
  w.set('transformer.ln_f.weight', [d]);
  w.set('transformer.ln_f.bias', [d]);
  if (!c.tieWordEmbeddings) w.set('lm_head.weight', [c.vocabSize, d]);
}

function normalizeName(name: string): string | null {
  if (/\.attn\.(bias|masked_bias)$/.test(name)) return null;
  if (name.startsWith('transformer.') || name.startsWith('lm_head.')) return name;
  return `transformer.${name}`;
}

export const gpt2: ArchFamily = {
  arch: 'gpt2',
  hfModelTypes: { gpt2: ['GPT2LMHeadModel', 'GPT2Model'] },
  parseHfConfig: parse,
  weights,
  minTensorsPerLayer: 12,
  normalizeWeightName: normalizeName,
  layers: 'transformer.h',
  graphLayer: 'h',
  linearLayout: 'conv1d',
  tokenEmbedding: (cfg) => ({ name: 'transformer.wte.weight', width: cfg.hiddenSize }),
  headWeight: () => undefined,
  // q, k and v all name the fused projection
  loraTargets: { q: 'attn.c_attn', k: 'attn.c_attn', v: 'attn.c_attn', o: 'attn.c_proj', up: 'mlp.c_fc', down: 'mlp.c_proj' },
  bos: 'eos-separated',
  vocabMergesTokenizer: true,
  build: buildGpt2,
};
