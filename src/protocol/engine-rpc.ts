// The engine process's JSON-RPC protocol (vscode-jsonrpc over stdio). Shared by the server
// (src/server/main.ts) and its client (src/extension/engine-client.ts); imports no `vscode`.
//
// Requests are typed pairs of params/result. Long requests take a `progressToken` and stream
// `$/progress` values of a typed ProgressType; they are cancelled with JSON-RPC's own
// `$/cancelRequest` (a CancellationToken on both sides). Errors carry the engine's IdpError code
// and file in `data`, so the client rebuilds the same typed error.
//
// Seams for the capabilities other issues are building (compression, prompt-bank and baseline
// training, benchmarks, the IDP inspector): each becomes one more request here plus a name in
// `Capability`; the server reports what it has in `initialize`, and the extension asks before
// offering a workflow. Nothing is declared before its engine code exists.

import { ProgressType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { ExecutionProvider } from '../engine/runtime/session';
import type { ProviderSetting } from '../engine/runtime/gpu/provider-setting';
import type { IdpErrorCode } from '../engine/errors';
import type { GenerateInput, GenerateJobResult, GenerateProgress as GenerateJobProgress, InspectOptions, InspectResult, ModelFacts } from '../engine/index';
import type {
  BankAssembleParams, BankAssembleReply, BankCalibrateParams, BankCalibrateProgressValue, BankCalibrateReply, BankCompareParams, BankCompareReply,
  PplParams, PplProgressValue, PplReply,
  BankEvalParams, BankEvalProgressValue, BankEvalReply, BenchParams, BenchProgressValue, BenchReply, CompressParams, CompressProgressValue, CompressReply,
  StudyParams, StudyProgressValue, StudyReply, TrainBankParams, TrainBankReply, TrainBaselineParams, TrainBaselineReply, TrainProgressValue,
} from './workflows';

export * from './workflows';

/** 2: `idp/initialize` takes the client's folders (InitializeParams). 3: the workflow params and results are
 *  the engine jobs' options and results (engine/jobs), and `idp/bankEval`. 4: `idp/ppl`, `idp/bankCompare`,
 *  `idp/bankAssemble`, `idp/bankCalibrate`. */
export const PROTOCOL_VERSION = 4;

/** What this engine build can do (the extension greys out the rest). */
export type Capability = 'generate' | 'info' | 'logits' | 'inspect' | WorkflowCapability;

/** The long workflows (workflows.ts): one request and one capability each. */
export type WorkflowCapability = 'compress' | 'trainBank' | 'trainBaseline' | 'bench' | 'study' | 'bankEval' | 'ppl' | 'bankCompare' | 'bankAssemble' | 'bankCalibrate';

/**
 * `idp/initialize`'s parameters: the folders this client lets the engine use, declared once at
 * start-up (confinement.ts). Absolute paths. Without them (null) the engine has full access.
 */
export interface InitializeParams {
  /** Outputs (compress, train, bench and study `out`) must be strictly inside one of these. */
  writable: string[];
  /** When given, every path a request reads (request-paths.ts) must be inside one of these. */
  readable?: string[];
}

export interface InitializeResult {
  protocolVersion: number;
  pid: number;
  node: string;
  capabilities: Capability[];
}

export interface LoadParams {
  model: string;                 // HF folder, .gguf, llama2.c .bin, or a Hub reference ORG/NAME[@REV][:QUANT]
  tokenizer?: string;
  ep?: ProviderSetting;          // 'auto': CUDA, then WebGPU, then the CPU (engine/runtime/gpu/provider-choice.ts)
  threads?: number;              // default: 1 below 10M parameters, else ORT's choice
}

/** The info job's description of the loaded model (engine/jobs/info.ts: with its FIM format), and how it runs. */
export interface ModelInfo extends ModelFacts {
  path: string;
  ep: ExecutionProvider;         // the provider the model runs on
  /** The setting it was loaded with (absent from older engines: read as `ep`). */
  epSetting?: ProviderSetting;
  /** With 'auto': each provider passed over before `ep`, and why. */
  epPassed?: { ep: ExecutionProvider; reason: string }[];
  threads?: number;
  loadMs: number;
}

/**
 * `idp/generate` on the loaded model: the generate job's input (engine/jobs/generate.ts: a prompt, ids or a
 * completion at a cursor; sampling, stop texts, an IDP bank) plus `progressToken` (GenerateProgress values).
 */
export type GenerateParams = GenerateInput & { progressToken?: string };

export type GenerateProgress = GenerateJobProgress;

export type GenerateReply = GenerateJobResult;

export interface HealthResult {
  pid: number;
  uptimeMs: number;
  rssBytes: number;
  model?: string;
}

/**
 * `idp/inspect`: which prompt a bank's IDP selects for an input, with the attention maps (the IDP Inspector);
 * the inspect job's options (engine/jobs/inspect.ts). Without `model` it runs on the loaded model; another
 * model is loaded for the inspection only (the loaded one stays).
 */
export type InspectParams = InspectOptions;
export type InspectReply = InspectResult;

export const Methods = {
  initialize: new RequestType<InitializeParams | null, InitializeResult, void>('idp/initialize'),
  load: new RequestType<LoadParams, ModelInfo, void>('idp/load'),
  info: new RequestType0<ModelInfo | null, void>('idp/info'),
  generate: new RequestType<GenerateParams, GenerateReply, void>('idp/generate'),
  health: new RequestType0<HealthResult, void>('idp/health'),
  shutdown: new RequestType0<void, void>('idp/shutdown'),
  inspect: new RequestType<InspectParams, InspectReply, void>('idp/inspect'),
  compress: new RequestType<CompressParams, CompressReply, void>('idp/compress'),
  trainBank: new RequestType<TrainBankParams, TrainBankReply, void>('idp/trainBank'),
  trainBaseline: new RequestType<TrainBaselineParams, TrainBaselineReply, void>('idp/trainBaseline'),
  bench: new RequestType<BenchParams, BenchReply, void>('idp/bench'),
  study: new RequestType<StudyParams, StudyReply, void>('idp/study'),
  bankEval: new RequestType<BankEvalParams, BankEvalReply, void>('idp/bankEval'),
  ppl: new RequestType<PplParams, PplReply, void>('idp/ppl'),
  bankCompare: new RequestType<BankCompareParams, BankCompareReply, void>('idp/bankCompare'),
  bankAssemble: new RequestType<BankAssembleParams, BankAssembleReply, void>('idp/bankAssemble'),
  bankCalibrate: new RequestType<BankCalibrateParams, BankCalibrateReply, void>('idp/bankCalibrate'),
} as const;

/** `$/progress` values of the workflow requests. */
export const WorkflowProgress = {
  compress: new ProgressType<CompressProgressValue>(),
  trainBank: new ProgressType<TrainProgressValue>(),
  trainBaseline: new ProgressType<TrainProgressValue>(),
  bench: new ProgressType<BenchProgressValue>(),
  study: new ProgressType<StudyProgressValue>(),
  bankEval: new ProgressType<BankEvalProgressValue>(),
  ppl: new ProgressType<PplProgressValue>(),
  bankCompare: new ProgressType<TrainProgressValue>(),
  bankAssemble: new ProgressType<never>(),
  bankCalibrate: new ProgressType<BankCalibrateProgressValue>(),
} as const;

export const GenerateProgressType = new ProgressType<GenerateProgress>();

/** JSON-RPC error code for engine errors (application range); `data` is a WireError. */
export const ENGINE_ERROR = -32001;

export interface WireError {
  code?: IdpErrorCode;
  message: string;               // without the file prefix when `file` is set
  file?: string;
}
