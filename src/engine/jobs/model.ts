// The model options every job that loads a model shares (--model, --tokenizer, --threads, --ep), their
// checks, and the load itself: the embedded default model when none is named, ORT's threads by the one
// rule (models/config.ts threadsFor).

import { loadModel } from '../models/load';
import { LoadedModel, threadsFor } from '../models/config';
import { defaultModelPath } from '../defaults';
import type { ExecutionProvider } from '../runtime/session';
import { describeChoice, PROVIDER_SETTINGS, resolveProvider } from '../runtime/gpu/provider-choice';
import type { ProviderSetting } from '../runtime/gpu/provider-choice';
import type { ParamChecker } from './check';

export interface ModelOptions {
  /** HF folder, GPTQ folder, .gguf, llama2.c .bin or a Hub id ORG/NAME[@REV][:QUANT] (default: the embedded default model, or $IDP_MODEL). */
  model?: string;
  /** Tokenizer file (llama2.c tokenizer.bin, tokenizer.json) where the model's own is not found. */
  tokenizer?: string;
  /** ORT intra-op threads (default: 1 below 10M parameters, else ORT's choice). */
  threads?: number;
}

export interface RunOptions extends ModelOptions {
  /** ONNX Runtime execution provider (default cpu); auto: CUDA, then WebGPU, then the CPU (runtime/gpu/provider-choice.ts). */
  ep?: ProviderSetting;
}

export const MODEL_KEYS = ['model', 'tokenizer', 'threads'] as const;
export const RUN_KEYS = [...MODEL_KEYS, 'ep'] as const;

export function checkModelOptions(c: ParamChecker, withEp = false): void {
  c.model('model');
  c.path('tokenizer');
  c.int('threads', 1);
  if (withEp) c.oneOf('ep', PROVIDER_SETTINGS);
}

/** The provider `ep` means here; for auto, `note` says which and why not the others. */
export async function providerFor(o: RunOptions, note?: (line: string) => void): Promise<ExecutionProvider> {
  const c = await resolveProvider(o.ep ?? 'cpu');
  if (o.ep === 'auto') note?.(`execution provider ${describeChoice(c)}`);
  return c.ep;
}

/** The model the options name, and the ORT threads to run it with. */
export async function openModel(o: ModelOptions): Promise<{ m: LoadedModel; threads: number | undefined }> {
  const m = await loadModel(o.model ?? defaultModelPath(), { tokenizer: o.tokenizer });
  return { m, threads: threadsFor(m, o.threads) };
}
