// The info job (`idp info`): what a model is — architecture, parameter count, dtypes, format, context
// (models/load.ts describeModel), its fill-in-the-middle format — and what `--ep auto` runs it on here and
// why not the providers before it (runtime/gpu/provider-choice.ts). The engine process's idp/load reports
// the same description for the model it loads (ModelInfo).

import { describeModel, ModelDescription } from '../models/load';
import type { LoadedModel } from '../models/config';
import { findFimTokens } from '../fim';
import { chooseAuto } from '../runtime/gpu/provider-choice';
import type { ProviderChoice } from '../runtime/gpu/provider-choice';
import { ParamChecker } from './check';
import type { JobHooks } from './hooks';
import { checkModelOptions, MODEL_KEYS, ModelOptions, openModel } from './model';

export type InfoOptions = ModelOptions;

export interface ModelFacts extends ModelDescription {
  /** Whether the tokenizer has fill-in-the-middle tokens, and their format ('auto'). */
  fim: boolean;
  fimTemplate?: string;
}

export interface InfoResult extends ModelFacts {
  /** What --ep auto picks here, and each provider passed over before it with the reason. */
  executionProviderAuto: Pick<ProviderChoice, 'ep' | 'passed'>;
}

/** The model's description and FIM format. */
export function modelFacts(m: LoadedModel): ModelFacts {
  const fim = findFimTokens(m.tokenizer);
  return { ...describeModel(m), fim: !!fim, ...(fim ? { fimTemplate: fim.template } : {}) };
}

export function checkInfoOptions(o: InfoOptions, absolutePaths = false): void {
  checkModelOptions(ParamChecker.of('info', o, MODEL_KEYS, absolutePaths));
}

export async function run(o: InfoOptions, hooks: JobHooks<never> = {}): Promise<InfoResult> {
  checkInfoOptions(o, hooks.absolutePaths);
  const { m } = await openModel(o);
  const auto = await chooseAuto();
  return { ...modelFacts(m), executionProviderAuto: { ep: auto.ep, passed: auto.passed } };
}
