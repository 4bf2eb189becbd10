// The long workflows of the engine process: compress a model, train an IDP prompt bank, train a
// baseline (prompt / prefix / LoRA), run the benchmark, run a study. Each is one typed request with
// its own params, result and streamed progress (`$/progress` under the request's `progressToken`),
// cancelled with `$/cancelRequest`. Re-exported by protocol.ts, which names the methods.
//
// Paths are absolute (the server's working directory is not the workspace). Outputs go exactly
// where `out` says; the extension points `out` into a staging folder of its lab and renames it
// when the request succeeds, so a cancelled or failed request leaves nothing behind.

import type { LoaderVerdict } from '../engine/compress/gptq-loaders';
import type { ParamCount } from '../engine/idp/params';
import type { BenchReport } from '../engine/eval/report';
import type { StudyOptions, StudyProgress } from '../engine/study/run';
import type { StudyReport } from '../engine/study/schema';

/** Training data: files / globs, or 'model' (a corpus sampled from the model itself). */
export type DataSource = string[] | 'model';

// ---- idp/compress ----

export type CompressMethodName = 'rtn' | 'gptq' | 'sparsegpt' | 'magnitude';

export interface CompressParams {
  model: string;
  method: CompressMethodName;
  /** Output model folder (must not exist; written atomically). */
  out: string;
  bits?: 2 | 3 | 4 | 8;
  groupSize?: number;            // -1: per channel; default the largest of 128, 64, 32 that divides every layer's input
  sym?: boolean;
  actOrder?: boolean;
  sparsity?: number;             // [0, 1)
  pattern?: string;              // "N:M"
  /** Calibration data (gptq, sparsegpt). */
  calib?: DataSource;
  samples?: number;
  seqlen?: number;
  seed?: number;
  /** Write a dense fake-quantized float model instead of the GPTQ layout. */
  dense?: boolean;
  skipUnfit?: boolean;
  threads?: number;
  progressToken?: string;
}

export interface CompressProgressValue {
  stage: 'load' | 'calibration' | 'layer' | 'module' | 'write';
  /** Layers finished / in the model. */
  layersDone: number;
  layers: number;
  message: string;
}

export interface CompressReply {
  out: string;
  cancelled: boolean;
  layers: number;
  /** The quantization group size used. */
  groupSize: number;
  modules: number;
  quantized: number;
  skipped: string[];
  /** Mean ‖ΔWX‖²/‖WX‖² over the modules (calibrated methods), and the RTN / magnitude baseline's. */
  meanRelError?: number;
  meanBaselineRelError?: number;
  /** Which GPTQ loaders (AutoGPTQ, GPTQModel, transformers) read the folder; absent for a float model. */
  loaders?: LoaderVerdict[];
  seconds: number;
}

// ---- idp/trainBank and idp/trainBaseline (shared training settings) ----

export interface TrainingParams {
  model: string;
  data: DataSource;
  /** Held-out text (default: the last blocks of the training data). */
  eval?: string[];
  /** Token budget (per prompt for a bank). */
  tokens: number;
  seqlen?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  /** Size of the corpus sampled with data 'model' (default min(tokens, 262144)). */
  sampleTokens?: number;
  threads?: number;
  progressToken?: string;
}

export interface TrainProgressValue {
  phase: 'data' | 'eval' | 'train' | 'checkpoint' | 'done' | 'reused' | 'calibrate' | 'kv' | 'saved';
  /** Bank training: which prompt (0-based) of how many, and its length. */
  prompt?: number;
  of?: number;
  n?: number;
  step: number;
  steps: number;
  /** 0..1 of the whole request. */
  fraction: number;
  loss?: number;
  evalLoss?: number;
  tokensPerSecond?: number;
  etaSec?: number;
  message: string;
}

export interface TrainBankParams extends Omit<TrainingParams, 'data'> {
  /** The shared training text; optional when promptData gives every prompt its own. */
  data?: DataSource;
  /** Output bank folder. */
  out: string;
  /** Prompt lengths n_i. */
  prompts: number[];
  positions?: number;
  selectionLayer?: number;
  score?: 'mass' | 'mean';
  init?: 'vocab' | 'random';
  /**
   * Per prompt its own training text, in order (null or absent past the end: the shared data); with every
   * prompt on its own text the selection is calibrated on their held-out documents (`idp bank train --prompt-data`).
   */
  promptData?: Array<DataSource | null>;
}

export interface TrainBankReply {
  status: 'done' | 'cancelled' | 'stopped';
  dir: string;
  positions: number;
  params: ParamCount;
  prompts: Array<{ n: number; start: number; reused: boolean; initialEvalLoss?: number; evalLoss?: number }>;
  /** With promptData for every prompt: the selection layer chosen and each layer's routing accuracies (calibrate-bank.ts), or why not calibrated. */
  calibration?: { layer: number; documents: number[]; layers: Array<{ layer: number; paperAccuracy: number; cvAccuracy: number; trainAccuracy: number; shrinkage: number }> };
  calibrationSkipped?: string;
}

export type BaselineMethod = 'prompt' | 'prefix' | 'lora';

export interface TrainBaselineParams extends TrainingParams {
  method: BaselineMethod;
  /** Output run folder (checkpoint/, adapter/, train_log.jsonl, result.json). */
  out: string;
  /** prompt / prefix: virtual tokens (default 16). */
  promptTokens?: number;
  /** LoRA: rank (default 4), alpha (default 2·rank), targets (default all of q,k,v,o,gate,up,down). */
  rank?: number;
  alpha?: number;
  targets?: string[];
}

export interface TrainBaselineReply {
  status: 'done' | 'cancelled' | 'stopped';
  method: BaselineMethod;
  /** The PEFT adapter folder (when done). */
  adapter?: string;
  trainable: number;
  params: ParamCount;
  steps: number;
  tokensSeen: number;
  initialEvalLoss?: number;
  evalLoss?: number;
  tokensPerSecond: number;
  seconds: number;
}

// ---- idp/bench ----

export interface BenchParams {
  model: string;
  /** A PEFT adapter folder, or an IDP bank folder (not both). */
  adapter?: string;
  bank?: string;
  /** Task names (paper tasks, 'all', text_* held-out tasks). */
  tasks: string[];
  /** Held-out text for the text_* tasks (files / globs). */
  heldout?: string[];
  /** Staged data root for the paper's tasks (default $IDP_DATA). */
  dataDir?: string;
  limit?: number;
  seed?: number;
  choices?: number;
  label?: string;
  /** Benchmark contexts with BOS first; default lm-eval's rule (none except for Gemma). */
  addBos?: boolean;
  /** Report JSON; .md and .samples.jsonl are written beside it. */
  out: string;
  threads?: number;
  progressToken?: string;
}

export interface BenchProgressValue {
  task: string;
  /** Index of the task and how many there are. */
  taskIndex: number;
  tasks: number;
  done: number;
  total: number;
  fraction: number;
  requestsPerSecond: number;
}

export interface BenchReply {
  status: BenchReport['status'];
  files: { json: string; md: string; samples: string };
  /** Headline metric per task (value in 0..1 for accuracies), as the report's table shows it. */
  results: Array<{ task: string; metric: string; value: number; stderr?: number; n: number }>;
  seconds: number;
}

// ---- idp/study ----

/** runStudy's options (src/engine/study/options.ts: it checks them in depth), sent as they are. */
export type StudyParams = StudyOptions & { progressToken?: string };

export interface StudyProgressValue {
  stage: StudyProgress['stage'];
  /** 0..1 of the whole study (stages weighted equally). */
  fraction: number;
  message: string;
  row?: string;
  reused?: boolean;
}

export interface StudyReply {
  status: StudyReport['status'];
  /** The study folder (study.json, table.md, charts/). */
  dir: string;
  /** The compression spec used (a group size added where the model needs one). */
  compress: string;
  rows: Array<{ id: string; label: string; status: string; average?: number }>;
  seconds: number;
}
