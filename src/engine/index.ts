// The engine's public entry: what the front ends that run the engine (the CLI, the engine process) use.
// The extension host never loads the engine (it runs in the engine process): it imports the contracts
// (src/protocol) and a few pure engine modules, never this entry.
// The jobs (engine/jobs/*) are the work both the CLI and the engine process run: each takes one plain
// options object and hooks for progress, cancellation and warnings (jobs/hooks.ts), checks its options
// and fills their defaults itself, so the two front ends do the same thing with the same inputs.

export type { JobHooks } from './jobs/hooks';
export type { DataSource } from './jobs/check';
export type { ModelOptions, RunOptions } from './jobs/model';
export { openModel } from './jobs/model';
export { run as runBench } from './jobs/bench';
export type { BenchOptions, BenchProgress, BenchResult } from './jobs/bench';
export { run as runCompress } from './jobs/compress';
export type { CompressJobOptions, CompressJobResult, CompressMethodName, CompressProgressValue } from './jobs/compress';
export { run as runGenerate, Generator, GENERATE_DEFAULTS, checkGenerateInput, continuationText, ContextExceeded, isContextExceeded } from './jobs/generate';
export type { GenerateHooks, GenerateInput, GenerateJobOptions, GenerateJobResult, GenerateProgress } from './jobs/generate';
export { pickOf } from './jobs/generate-bank';
export { run as runInfo, modelFacts } from './jobs/info';
export type { InfoOptions, InfoResult, ModelFacts } from './jobs/info';
export type { IdpPick } from './jobs/generate-bank';
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
export type { CompareResult } from './idp/compare';
export { assemble as runBankAssemble, calibrate as runBankCalibrate } from './jobs/bank-build';
export type { BankAssembleOptions, BankAssembleResult, BankCalibrateOptions, BankCalibrateResult, CalibrateProgress } from './jobs/bank-build';
export type { BankEvalOptions, BankEvalProgress, BankEvalResult } from './jobs/bank-eval';
export { run as runInspect, Inspector, DEFAULT_INSPECT_TOKENS } from './jobs/inspect';
export type { HeldModel, InspectOptions, InspectResult } from './jobs/inspect';
export { run as runStudyJob } from './jobs/study';
export type { StudyOptions, StudyProgressValue, StudyResult } from './jobs/study';

export type { SelectionScore } from './idp/bank';
export type { SelectionRule } from './idp/calibration';
export type { ExecutionProvider } from './runtime/session';
export type { ProviderSetting } from './runtime/gpu/provider-choice';

// ---- what the front ends use besides the jobs ----
export { describeLoaders } from './compress/gptq-loaders';
export { defaultModelPath, packageRoot } from './defaults';
export { formatError, inputError, isIdpError, notFound } from './errors';
export { toMarkdown } from './eval/report';
export { completionIds, findFimTokens, isFimChoice, maxPieceChars } from './fim';
export { FIM_TEMPLATE_NAMES } from './fim/templates';
export type { FimChoice, FimTokens } from './fim';
export { IdpBank } from './idp/bank';
export type { CalibrateResult } from './idp/calibrate-bank';
export { compareTable } from './idp/compare';
export { bankEvalTable } from './idp/eval-bank';
export { formatCount } from './idp/params';
export { inspectText } from './idp/report';
export { IdpLM } from './idp/runner';
export { parseLengths } from './idp/train-bank';
export { localModelPath, threadsFor } from './models/config';
export type { LoadedModel } from './models/config';
export { describeModel, loadModel } from './models/load';
export { dieWithCaller } from './process/caller';
export { generate, promptIds } from './runtime/generate';
export type { FinishReason, GenerateOptions } from './runtime/generate';
export { cudaFilesStatus, removeCuda, setupCuda } from './runtime/gpu/cuda-install';
export type { CudaFilesStatus, SetupProgress } from './runtime/gpu/cuda-install';
export { checkCudaMachine } from './runtime/gpu/cuda-libs';
export type { CudaMachine } from './runtime/gpu/cuda-libs';
export { cudaPlatformProblem } from './runtime/gpu/ort-package';
export { chooseAuto, isProviderSetting, resolveProvider } from './runtime/gpu/provider-choice';
export { cudaGaps, describeChoice, PROVIDER_SETTINGS } from './runtime/gpu/provider-setting';
export type { ProviderChoice } from './runtime/gpu/provider-setting';
export { relaunchWithHugePages } from './runtime/huge-pages';
export { CausalLM } from './runtime/lm';
export { PRESET_SETTINGS } from './study/preset';
export { writeSweepFigure } from './study/sweep-chart';
export { TokenStreamer } from './tokenizers/sentencepiece';
export { bosFor } from './models/bos';
export type { Tokenizer } from './tokenizers/tokenizer';
export { LORA_TARGETS } from './train/methods/lora';
export type { PromptInit } from './train/methods/prompt';
export { DEFAULT_SETTINGS } from './train/trainer';
export type { TrainSettings } from './train/trainer';
