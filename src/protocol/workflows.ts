// The long workflows of the engine process: compress a model, train an IDP prompt bank, train a
// baseline (prompt / prefix / LoRA / full), run the benchmark, run a study, evaluate a bank's routing,
// measure perplexity, compare a bank with the other methods, assemble a bank, calibrate a bank.
// Each is one typed request whose params are the job's options (engine/jobs/*: the same the CLI's flags
// map to) plus a `progressToken`, whose result is the job's result, and whose progress values are the
// job's, streamed as `$/progress` under the token; cancelled with `$/cancelRequest`. Re-exported by
// engine-rpc.ts, which names the methods.
//
// Paths are absolute (the server's working directory is not the workspace). Outputs go exactly
// where `out` says; the extension points `out` into a staging folder of its lab and renames it
// when the request succeeds, so a cancelled or failed request leaves nothing behind.

import type {
  BankAssembleOptions, BankAssembleResult, BankCalibrateOptions, BankCalibrateResult, BankCompareOptions, CalibrateProgress, CompareResult,
  PplOptions, PplProgress, PplResult,
  BankEvalOptions, BankEvalProgress, BankEvalResult, BenchOptions, BenchProgress, BenchResult, CompressJobOptions, CompressJobResult, StudyOptions,
  StudyResult, TrainBankOptions, TrainBankResult, TrainJobResult, TrainMethodName, TrainOptions,
} from '../engine/index';

export type { CompressMethodName, DataSource, TrainingOptions, CompressProgressValue, TrainProgressValue, StudyProgressValue } from '../engine/index';

/** A job's options as a request's params: `progressToken` streams its progress. */
export type WireParams<O> = O & { progressToken?: string };

// ---- idp/compress ----
export type CompressParams = WireParams<CompressJobOptions>;
export type CompressReply = CompressJobResult;

// ---- idp/trainBank and idp/trainBaseline ----
export type TrainBankParams = WireParams<TrainBankOptions>;
export type TrainBankReply = TrainBankResult;
export type BaselineMethod = TrainMethodName;
export type TrainBaselineParams = WireParams<TrainOptions>;
export type TrainBaselineReply = TrainJobResult;

// ---- idp/bench ----
export type BenchParams = WireParams<BenchOptions>;
export type BenchProgressValue = BenchProgress;
/** The bench job's result without the report itself (it is files.json). */
export type BenchReply = Omit<BenchResult, 'report'>;

// ---- idp/study ----
export type StudyParams = WireParams<StudyOptions>;
/** The study job's result without the report itself (it is study.json in dir). */
export type StudyReply = Omit<StudyResult, 'report'>;

// ---- idp/bankEval ----
export type BankEvalParams = WireParams<BankEvalOptions>;
export type BankEvalProgressValue = BankEvalProgress;
export type BankEvalReply = BankEvalResult;

// ---- idp/ppl ----
export type PplParams = WireParams<PplOptions>;
export type PplProgressValue = PplProgress;
export type PplReply = PplResult;

// ---- idp/bankCompare ----
export type BankCompareParams = WireParams<BankCompareOptions>;
export type BankCompareReply = CompareResult;

// ---- idp/bankAssemble (no progress values: one load, one K/V pass) ----
export type BankAssembleParams = WireParams<BankAssembleOptions>;
export type BankAssembleReply = BankAssembleResult;

// ---- idp/bankCalibrate ----
export type BankCalibrateParams = WireParams<BankCalibrateOptions>;
export type BankCalibrateProgressValue = CalibrateProgress;
export type BankCalibrateReply = BankCalibrateResult;
