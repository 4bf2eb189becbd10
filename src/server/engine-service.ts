// What the engine process does, independent of the wire: load a model, describe it, generate.
// One model at a time; requests that touch the model run one after another (a load never races a
// generation). Generation yields between decode steps, so a cancel arriving on the connection is
// seen at once even while the model is busy.

import { performance } from 'perf_hooks';
import {
  bosFor, CausalLM, completionIds, describeModel, FimChoice, FimTokens, findFimTokens, generate, GenerateOptions, inputError, Inspector, isFimChoice,
  isProviderSetting, LoadedModel, loadModel, promptIds, resolveProvider, threadsFor, Tokenizer, TokenStreamer,
} from '../engine/index';
import type { Capability, GenerateParams, GenerateProgress, GenerateReply, LoadParams, ModelInfo } from '../protocol/engine-rpc';
import type { InspectParams, InspectReply } from '../protocol/engine-rpc';
import { WORKFLOW_CAPABILITIES, Workflows } from './workflows';
import { BankRunners, IdpPick, pickOf } from './bank-generate';

/**
 * The continuation's text as it reads after the prompt: a SentencePiece decode of the generated
 * ids alone drops the first token's leading space ("▁loved" → "loved"), which is right after BOS
 * but wrong after " She". Decoded token by token after the prompt's last id, cut at a stop text.
 */
export function continuationText(tok: Tokenizer, prompt: number[], ids: number[], stop?: string[]): string {
  const st = new TokenStreamer(tok, prompt[prompt.length - 1]);
  let text = ids.map((id) => st.push(id)).join('') + st.flush();
  const hits = (stop ?? []).map((s) => text.indexOf(s)).filter((i) => i >= 0);
  if (hits.length) text = text.slice(0, Math.min(...hits));
  return text;
}

export const CAPABILITIES: Capability[] = ['generate', 'info', 'inspect', ...WORKFLOW_CAPABILITIES];

export interface Cancellation { readonly isCancellationRequested: boolean }

interface Loaded { model: LoadedModel; lm: CausalLM; info: ModelInfo; fim: Map<FimChoice, FimTokens | undefined> }

const isInt = (x: unknown, min: number) => typeof x === 'number' && Number.isInteger(x) && x >= min;
const isNum = (x: unknown, min: number, max: number) => typeof x === 'number' && Number.isFinite(x) && x >= min && x <= max;

const GENERATE_KEYS = new Set(['prompt', 'ids', 'fim', 'maxTokens', 'temperature', 'topK', 'topP', 'seed', 'stop', 'progressToken', 'bank']);

/** Rejects parameters a client could get wrong (the wire is untyped at run time). */
export function checkGenerateParams(p: GenerateParams): void {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw inputError('generate: parameters must be an object');
  const unknown = Object.keys(p).filter((k) => !GENERATE_KEYS.has(k));
  if (unknown.length) throw inputError(`generate: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`);
  if (p.prompt !== undefined && typeof p.prompt !== 'string') throw inputError('generate: prompt must be a string');
  if (p.ids !== undefined && !(Array.isArray(p.ids) && p.ids.every((i) => isInt(i, 0)))) throw inputError('generate: ids must be an array of token ids');
  if (p.maxTokens !== undefined && !isInt(p.maxTokens, 0)) throw inputError(`generate: maxTokens must be a non-negative integer, got ${p.maxTokens}`);
  if (p.temperature !== undefined && !isNum(p.temperature, 0, 100)) throw inputError('generate: temperature must be in [0, 100]');
  if (p.topK !== undefined && !isInt(p.topK, 0)) throw inputError('generate: topK must be a non-negative integer');
  if (p.topP !== undefined && !isNum(p.topP, 0, 1)) throw inputError('generate: topP must be in [0, 1]');
  if (p.seed !== undefined && !isInt(p.seed, 0)) throw inputError('generate: seed must be a non-negative integer');
  if (p.stop !== undefined && !(Array.isArray(p.stop) && p.stop.every((s) => typeof s === 'string' && s.length > 0))) {
    throw inputError('generate: stop must be an array of non-empty strings');
  }
  if (p.bank !== undefined && !(typeof p.bank === 'string' && p.bank.trim() !== '')) throw inputError('generate: bank must be a prompt bank folder');
  if (p.fim !== undefined && !(p.fim && typeof p.fim.prefix === 'string' && typeof p.fim.suffix === 'string')) {
    throw inputError('generate: fim must be {prefix, suffix} strings');
  }
  if (p.fim?.template !== undefined && !isFimChoice(p.fim.template)) throw inputError(`generate: fim.template ${JSON.stringify(p.fim.template)} is not auto, none or a known format`);
  for (const k of ['repo', 'path'] as const) {
    if (p.fim?.[k] !== undefined && typeof p.fim[k] !== 'string') throw inputError(`generate: fim.${k} must be a string`);
  }
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
      const model = await loadModel(p.model, { tokenizer: p.tokenizer });
      const threads = threadsFor(model, p.threads);
      const choice = await resolveProvider(p.ep ?? 'cpu');   // auto: chosen once per engine process
      const ep = choice.ep;
      const lm = new CausalLM(model, { ep, threads });
      await lm.session('last'); // build the graph and open the session now: errors belong to the load
      const fim = findFimTokens(model.tokenizer);
      const info: ModelInfo = {
        ...describeModel(model), path: model.source, ep, epSetting: choice.setting, ...(choice.setting === 'auto' ? { epPassed: choice.passed } : {}), threads, loadMs: performance.now() - t0, fim: !!fim,
        ...(fim ? { fimTemplate: fim.template } : {}),
      };
      this.current = { model, lm, info, fim: new Map([['auto', fim]]) };
      return info;
    });
  }

  generate(
    p: GenerateParams,
    token: Cancellation,
    onProgress?: (v: GenerateProgress) => void,
  ): Promise<GenerateReply> {
    try {
      checkGenerateParams(p);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.exclusive(async () => {
      const cur = this.current;
      if (!cur) throw inputError('no model loaded: load one first');
      const { lm, model } = cur;
      const tok = model.tokenizer;
      const maxTokens = p.maxTokens ?? 256;
      let ids: number[];
      const idp = p.bank ? this.banks.get(model, p.bank, cur.info.threads) : undefined;
      if (p.ids) ids = p.ids;
      else if (p.fim && tok) {
        // a completion: whatever fits the context (after a bank's prompt positions), leaving room for the tokens asked for
        const bos = bosFor(lm.config, tok);
        const context = lm.config.maxPositions - (idp?.bank.positions ?? 0);
        const budget = Math.max(8, context - Math.min(maxTokens, context >> 1));
        const choice = p.fim.template ?? 'auto';
        if (!cur.fim.has(choice)) cur.fim.set(choice, findFimTokens(tok, choice));   // a named format it lacks: INPUT error
        ids = completionIds(tok, cur.fim.get(choice), p.fim.prefix, p.fim.suffix, budget, bos, { repo: p.fim.repo, path: p.fim.path });
      } else ids = promptIds(lm, tok, p.fim ? p.fim.prefix : p.prompt ?? '');
      const t0 = performance.now();
      let lastSent = 0;
      let tokens = 0;
      const opts: GenerateOptions = {
        maxTokens, temperature: p.temperature, topK: p.topK, topP: p.topP, seed: p.seed, stop: p.stop,
        isCancelled: () => token.isCancellationRequested,
        yieldEachStep: true,
        onToken: onProgress ? (_row, _id, text) => {
          tokens++;
          const now = performance.now();
          if (now - lastSent < 50 && tokens < maxTokens) return; // throttled: at most every 50 ms
          lastSent = now;
          const elapsedMs = now - t0;
          onProgress({ tokens, maxTokens, text, elapsedMs, tokensPerSecond: (tokens * 1000) / Math.max(elapsedMs, 1) });
        } : undefined,
      };
      let pick: IdpPick | undefined;
      const r = idp
        ? await idp.generate(tok, [ids], opts).then((x) => { pick = pickOf(idp, x.selected, x.scores); return x; })
        : await generate(lm, tok, [ids], opts);
      const row = r.rows[0];
      const text = tok && !p.ids ? continuationText(tok, ids, row.ids, p.stop) : row.text;
      return { text, ids: row.ids, finish: row.finish, timings: r.timings, ...(pick ? { idp: pick } : {}) };
    });
  }

  private banks = new BankRunners();

  private inspector = new Inspector();

  /** IDP's selection, scores and attention maps for one input with a bank (idp/inspect). */
  inspect(p: InspectParams): Promise<InspectReply> {
    const held = this.current ? { model: this.current.model, threads: this.current.info.threads } : undefined;
    return this.exclusive(async () => this.inspector.inspect(p, held, { absolutePaths: true }));
  }

  /** Compress, train a bank or a baseline, benchmark, study, bank eval (workflows.ts): each loads its own model. */
  readonly workflows = new Workflows();
}
