// What `idp study` writes (study.json in the report folder) and what the extension's Benchmarks view
// reads. One row per method in table order: the uncompressed model, the compressed model, then every
// recovery method trained on the compressed one. Everything else in the folder (per-method bench
// reports, table.md, charts/*.svg and their Vega-Lite specs) is named from here by relative path.
//
// Readers must check `schema` and treat unknown fields as absent; writers only add fields within a
// schema version.

import type { MetricValue } from '../engine/eval/metrics';
import type { Aggregates } from '../engine/eval/aggregate';
import type { MethodName, ParamCount } from '../engine/idp/params';

export const STUDY_SCHEMA = 'idp-study/1';

export type StudyRowKind = 'base' | 'compressed' | MethodName;

export interface StudyRow {
  /** Stable key, also the folder name of its artifacts: "base", "compressed", "prompt-26", "idp-26+100", "lora-r4". */
  id: string;
  /** Row label as Table 1 shows it ("GPTQ-3bit + IDP (26, 100)"). */
  label: string;
  kind: StudyRowKind;
  /** Parameter counts (appendix A, trained, stored); base/compressed/none: zeros. */
  params: ParamCount;
  /** Bench report (schema idp-bench/1) of this row, relative to the study folder. */
  bench?: string;
  /** Headline metric per task that ran (paper tasks and held-out text tasks), in percent for accuracies. */
  headline: Record<string, MetricValue & { metric: string }>;
  /** The paper's World / Common / Language / Average where their tasks ran. */
  aggregates?: Aggregates;
  /** Mean next-token NLL / perplexity on held-out text (the training objective's view). */
  heldout?: { nll: number; ppl: number; tokens: number };
  /** Latency at the study's batch × sequence length: prefill per batch, decode per token. */
  latency?: { batch: number; seqlen: number; prefillMs: number; decodeMsPerToken: number };
  /** IDP only: how often each prompt was selected over the benchmark's inputs. */
  selection?: { counts: number[]; prompts: number[] };
  /** Training wall time and tokens, where the row was trained. */
  training?: { tokens: number; seconds: number; finalLoss?: number };
  status: 'done' | 'failed' | 'skipped';
  /** Why a row failed or was skipped. */
  error?: string;
  /** Parts taken over from an earlier run of the same study (same settings): "training", "bench", "heldout", "latency". */
  reused?: string[];
}

/** Paper Figure 5: per layer, mean cosine similarity to the uncompressed model's attention maps and hidden states. */
export interface SimilarityAnalysis {
  layers: number;
  /** Texts the similarity is averaged over. */
  samples: number;
  rows: Record<string, { attention: number[]; hidden: number[] }>;
}

/**
 * Paper Figure 2: perplexity vs benchmark accuracy of single prompts of several lengths. `ppl` is lm-eval's
 * word perplexity of `pplTask` where every point has one (the paper's axis), else the held-out token perplexity.
 */
export interface PromptLengthPoint {
  row: string;
  tokens: number;
  ppl: number;
  accuracy: number;
  /** What `ppl` is (absent in studies written before it: token). */
  perplexity?: 'word' | 'token';
  /** The task whose word_perplexity `ppl` is. */
  pplTask?: string;
}

export interface StudyChart {
  /** "accuracy-vs-params" (Fig. 4), "task-change" (Fig. 7), "idp-prompt-size" (Fig. 6), "similarity" (Fig. 5), "ppl-vs-accuracy" (Fig. 2), "latency". */
  name: string;
  title: string;
  /** Vega-Lite spec (JSON) and its SVG rendering, relative to the study folder. */
  spec: string;
  svg: string;
}

export interface StudyReport {
  schema: typeof STUDY_SCHEMA;
  status: 'complete' | 'partial' | 'cancelled';
  created: string;
  seconds: number;
  model: { path: string; label: string; arch: string; parameters: number };
  /**
   * e.g. { spec: "gptq:3", path: "compressed/" , description: "GPTQ 3-bit, group 128" }. A model compressed
   * elsewhere (--compressed DIR): spec "given", `from` the equivalent spec where the folder's
   * idp-compress.json gives one. `path` is relative to the study folder (ending in '/') when the model is
   * inside it, else absolute: read it with path.resolve(studyDir, path).
   */
  compression: { spec: string; path: string; description: string; from?: string };
  settings: {
    /** The preset the options were filled from ('paper'); the notes say what it set. */
    preset?: string;
    methods: string[];
    tokens: number;
    tasks: string[];
    heldout: string[];
    limit?: number;
    seed: number;
    /** Benchmark contexts with BOS first (eval/requests.ts); absent in studies before it was recorded (then: BOS first). */
    addBos?: boolean;
  };
  rows: StudyRow[];
  analyses: { similarity?: SimilarityAnalysis; promptLengths?: PromptLengthPoint[]; routing?: RoutingAnalysis };
  charts: StudyChart[];
  /** table.md, relative. */
  table: string;
  notes: string[];
}

/**
 * Where IDP sends each prompt's own kind of text (prompt:<n>@<data>): per prompt, its held-out documents
 * (those no training block touched) routed by the bank, and the mean next-token NLL (nats per token) under
 * IDP, no prompt, each prompt alone and the per-document best prompt (`idp bank eval`'s columns).
 */
export interface RoutingNll { idp: number; none: number; prompts: number[]; oracle: number; extra?: number[] }

export interface RoutingAnalysis {
  /** The selection: layer, score, rule ('calibrated' when fitted on the prompts' own data, else 'paper'). */
  selection: { layer: number; score: string; rule: string };
  /** Per layer, the calibration's cross-validated routing accuracy and the paper rule's on the calibration documents. */
  calibration?: Array<{ layer: number; cvAccuracy: number; paperAccuracy: number }>;
  /** Why the bank was not calibrated, if it was not. */
  calibrationSkipped?: string;
  /** Tokens per document at most. */
  maxTokens: number;
  prompts: Array<{ row: string; n: number; data: string }>;
  sets: Array<{ prompt: number; documents: number; tokens: number; selected: number[]; routingAccuracy: number; nll: RoutingNll }>;
  routingAccuracy: number;
  nll: RoutingNll;
  /** Rows outside the bank scored on the same tokens (union:<n>): their NLL is nll.extra, in this order. */
  extra?: string[];
}
