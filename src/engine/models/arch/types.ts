// What one architecture family tells the rest of the engine. Everything that differs between families
// lives in that family's file (arch/<family>.ts) as one ArchFamily object, listed in arch/registry.ts;
// loaders, graph dispatch, compression, training, IDP and tokenization ask the registry and never
// compare architecture names themselves (test/unit/models/arch-registry.test.ts checks the source).
//
// Tensor names are always the Hugging Face *ForCausalLM state-dict names: GGUF and llama2.c checkpoints
// are converted to them (models/convert.ts), so one weight list per family serves every format.

import type { GraphBuilder } from '../../onnx/builder';
import type { GgufFile } from '../../formats/gguf';
import type { BuildOptions } from '../blocks';
import type { LoadedModel, ModelConfig } from '../config';
import type { HfFields } from './hf-fields';

/** ModelConfig.arch: one name per family (a family may cover several HF model types, e.g. llama/mistral/qwen2). */
export type Arch = 'llama' | 'opt' | 'gpt2' | 'phi3' | 'gemma2';

/** LoRA target names (--targets), mapped per family onto its layers' modules. */
export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LoraTarget = typeof LORA_TARGETS[number];

/** A GGUF `general.architecture` this family converts from (llama.cpp names and layout). */
export interface GgufArch {
  /** ModelConfig from the metadata (keys under `<arch>.`), CONFIG / UNSUPPORTED errors naming the file. */
  config(g: GgufFile, arch: string): ModelConfig;
  /** GGUF tensor name → HF name, per layer part (`blk.{i}.<part>.weight|bias` → `<layers>.{i}.<suffix>.weight|bias`). */
  layerTensors: Record<string, string>;
  /** Whole-model tensors: GGUF name → HF name (`output.weight` → `lm_head.weight` only when untied). */
  globalTensors: Record<string, string>;
  /**
   * llama.cpp stores q/k rows of this architecture in Meta's interleaved rotary layout (its converter
   * permutes them); they are permuted back to HF's rotate_half. false: stored as HF has them (NEOX rope).
   */
  interleavedQK: boolean;
  /** GGUF tensors that carry no weights the graph uses (e.g. rope_freqs), skipped without a word. */
  ignored?: RegExp;
}

export interface ArchFamily {
  readonly arch: Arch;
  /** HF model_type → the `architectures[0]` names accepted for it (with-head first; base models too). */
  readonly hfModelTypes: Readonly<Record<string, readonly string[]>>;
  /** config.json (model_type already matched against hfModelTypes) → ModelConfig, limits not yet checked. */
  parseHfConfig(f: HfFields, modelType: string, hfArchitecture: string): ModelConfig;
  /** The config.json written for a converted (GGUF) folder of this family; undefined: no such conversion. */
  hfConfigJson?(cfg: ModelConfig): Record<string, unknown>;

  /** Every tensor (canonical HF name → shape) a model with this config needs, in a stable order. */
  weights(cfg: ModelConfig, w: Map<string, number[]>): void;
  /** A lower bound on tensors per layer (guards absurd layer counts before the list is built). */
  readonly minTensorsPerLayer: number;
  /** A checkpoint's tensor name → its canonical name, or null for buffers that are not weights. */
  normalizeWeightName(name: string): string | null;

  /** HF module path of the decoder layer list: `<layers>.{i}.…` (model.layers, transformer.h …). */
  readonly layers: string;
  /** The scope segment of layer i in the ONNX graph: `/…/<graphLayer>.{i}/…`. */
  readonly graphLayer: string;
  /** Weight layout of every linear layer: nn.Linear [out, in], or GPT-2's Conv1D [in, out]. */
  readonly linearLayout: 'linear' | 'conv1d';
  /** The token embedding table and its width (soft prompts, IDP banks). */
  tokenEmbedding(cfg: ModelConfig): { name: string; width: number };
  /**
   * The output projection's weight [V, d] (lm_head, or the table it is tied to), for its cached
   * transposed copy (models/transposed.ts); undefined: this family's weights are not transposed.
   */
  headWeight(cfg: ModelConfig, has: (name: string) => boolean): string | undefined;
  /** LoRA target → module suffix within a layer (several targets may name one fused module). */
  readonly loraTargets: Readonly<Partial<Record<LoraTarget, string>>>;

  /**
   * Where documents start and end. 'bos': the BOS token before each document or prompt (config
   * bos_token_id, else the tokenizer's). 'eos-separated' (GPT-2): no BOS; EOS after each document, and a
   * sample starts at EOS (what precedes a document).
   */
  readonly bos: 'bos' | 'eos-separated';
  /** A folder's vocab.json + merges.txt (without tokenizer.json) is this family's byte-level BPE. */
  readonly vocabMergesTokenizer: boolean;

  /** The ONNX graph of a loaded model of this family. */
  build(m: LoadedModel, opts: BuildOptions): GraphBuilder;
  /** GGUF architectures converted into this family, by `general.architecture`. */
  readonly gguf?: Readonly<Record<string, GgufArch>>;
}
