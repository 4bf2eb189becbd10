// What the engine process does, independent of the wire: load a model, describe it, generate (the generate
// and info jobs, engine/jobs/generate.ts and info.ts, on the model it holds).
// One model at a time; requests that touch the model run one after another (a load never races a
// generation). Generation yields between decode steps, so a cancel arriving on the connection is
// seen at once even while the model is busy.

import { performance } from 'perf_hooks';
import { checkGenerateInput, Generator, inputError, Inspector, isProviderSetting, modelFacts } from '../engine/index';
import type { Capability, GenerateParams, GenerateProgress, GenerateReply, LoadParams, ModelInfo } from '../protocol/engine-rpc';
import type { InspectParams, InspectReply } from '../protocol/engine-rpc';
import { signalOf, WORKFLOW_CAPABILITIES, Workflows } from './workflows';

export const CAPABILITIES: Capability[] = ['generate', 'info', 'inspect', ...WORKFLOW_CAPABILITIES];

export interface Cancellation { readonly isCancellationRequested: boolean }

interface Loaded { generator: Generator; info: ModelInfo }

const isInt = (x: unknown, min: number) => typeof x === 'number' && Number.isInteger(x) && x >= min;

/** A request's input without its progressToken. */
function inputOf(p: GenerateParams): Omit<GenerateParams, 'progressToken'> {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return p;
  const { progressToken: _t, ...input } = p;
  return input;
}

/** Rejects parameters a client could get wrong (the wire is untyped at run time): the generate job's checks. */
export function checkGenerateParams(p: GenerateParams): void {
  checkGenerateInput(inputOf(p));
}

export class EngineService {
  private current?: Loaded;
  private queue: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every earlier model operation has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  get modelPath(): string | undefined {
    return this.current?.info.path;
  }

  info(): ModelInfo | null {
    return this.current?.info ?? null;
  }

  load(p: LoadParams): Promise<ModelInfo> {
    if (!p || typeof p.model !== 'string' || p.model.trim() === '') return Promise.reject(inputError('load: no model path given'));
    if (p.ep !== undefined && !isProviderSetting(p.ep)) return Promise.reject(inputError(`load: unknown execution provider '${p.ep}'`));
    if (p.threads !== undefined && !isInt(p.threads, 1)) return Promise.reject(inputError('load: threads must be a positive integer'));
    if (p.tokenizer !== undefined && !(typeof p.tokenizer === 'string' && p.tokenizer.trim() !== '')) {
      return Promise.reject(inputError(`load: tokenizer must be a tokenizer file path, got ${JSON.stringify(p.tokenizer)}`));
    }
    return this.exclusive(async () => {
      const t0 = performance.now();
      const generator = await Generator.open(p);   // the session opened now: errors belong to the load
      const { model, threads, provider: choice } = generator;
      const info: ModelInfo = {
        ...modelFacts(model), path: model.source, ep: choice.ep, epSetting: choice.setting, ...(choice.setting === 'auto' ? { epPassed: choice.passed } : {}), threads,
        loadMs: performance.now() - t0,
      };
      this.current = { generator, info };
      return info;
    });
  }

  /** The generate job on the loaded model; the request's cancellation ends it after the current token. */
  generate(
    p: GenerateParams,
    token: Cancellation,
    onProgress?: (v: GenerateProgress) => void,
  ): Promise<GenerateReply> {
    let input: Omit<GenerateParams, 'progressToken'>;
    try {
      input = inputOf(p);
      checkGenerateInput(input);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.exclusive(async () => {
      const cur = this.current;
      if (!cur) throw inputError('no model loaded: load one first');
      const s = signalOf(token);
      try {
        return await cur.generator.generate(input, { signal: s.signal, onProgress });
      } finally {
        s.dispose();
      }
    });
  }


  private inspector = new Inspector();

  /** IDP's selection, scores and attention maps for one input with a bank (idp/inspect). */
  inspect(p: InspectParams): Promise<InspectReply> {
    const held = this.current ? { model: this.current.generator.model, threads: this.current.info.threads } : undefined;
    return this.exclusive(async () => this.inspector.inspect(p, held, { absolutePaths: true }));
  }

  /** Compress, train a bank or a baseline, benchmark, study, bank eval (workflows.ts): each loads its own model. */
  readonly workflows = new Workflows();
}
