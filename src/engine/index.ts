// The engine's public entry: what the front ends (the CLI, the engine process, the extension) use.
// The jobs (engine/jobs/*) are the work both the CLI and the engine process run: each takes one plain
// options object and hooks for progress, cancellation and warnings (jobs/hooks.ts), checks its options
// and fills their defaults itself, so the two front ends do the same thing with the same inputs.

export type { JobHooks } from './jobs/hooks';
export type { DataSource } from './jobs/check';
export type { ModelOptions, RunOptions } from './jobs/model';
export { run as runBench } from './jobs/bench';
export type { BenchOptions, BenchProgress, BenchResult } from './jobs/bench';
export { run as runCompress } from './jobs/compress';
export type { CompressJobOptions, CompressJobResult, CompressMethodName, CompressProgressValue } from './jobs/compress';
export { run as runPpl } from './jobs/ppl';
export type { PplOptions, PplProgress, PplResult } from './jobs/ppl';
export { run as runTrain, TRAIN_DEFAULTS } from './jobs/train';
export type { TrainJobResult, TrainMethodName, TrainOptions } from './jobs/train';
export type { TrainingOptions, TrainProgressValue } from './jobs/training';
export { run as runTrainBank, roundLine } from './jobs/bank-train';
export type { TrainBankOptions, TrainBankResult } from './jobs/bank-train';
export { run as runBankEval } from './jobs/bank-eval';
export { run as runBankCompare } from './jobs/bank-compare';
export type { BankCompareOptions } from './jobs/bank-compare';
export { assemble as runBankAssemble, calibrate as runBankCalibrate } from './jobs/bank-build';
export type { BankAssembleOptions, BankAssembleResult, BankCalibrateOptions, BankCalibrateResult } from './jobs/bank-build';
export type { BankEvalOptions, BankEvalProgress, BankEvalResult } from './jobs/bank-eval';
export { run as runInspect, Inspector, DEFAULT_INSPECT_TOKENS } from './jobs/inspect';
export type { HeldModel, InspectOptions, InspectResult } from './jobs/inspect';
export { run as runStudyJob } from './jobs/study';
export type { StudyOptions, StudyProgressValue, StudyResult } from './jobs/study';

export type { SelectionScore } from './idp/bank';
export type { SelectionRule } from './idp/calibration';
export type { ExecutionProvider } from './runtime/session';
export type { ProviderSetting } from './runtime/gpu/provider-choice';
