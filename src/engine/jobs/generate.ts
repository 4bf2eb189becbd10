// The generate job (`idp generate`, the engine process's idp/generate): an input — prompt text (BOS first
// where the family uses one, models/bos.ts), token ids as they are, or a completion at a cursor (FIM where
// the vocabulary has the tokens, cut to fit the context) — and its continuation, with the sampling options'
// checks and defaults, stop texts, and optionally an IDP prompt bank that picks one prompt for the input.
//
// A Generator holds one loaded model (the engine process keeps it between requests, with its FIM formats
// and bank runner); `run` opens the options' model for one generation (the CLI).

import { performance } from 'perf_hooks';
import { CausalLM } from '../runtime/lm';
import { generate, GenerateOptions, GenerateResult, promptIds, FinishReason } from '../runtime/generate';
import { bosFor } from '../models/bos';
import type { LoadedModel } from '../models/config';
import { completionIds, findFimTokens, isFimChoice } from '../fim';
import type { FimChoice, FimTokens } from '../fim';
import { TokenStreamer } from '../tokenizers/sentencepiece';
import type { Tokenizer } from '../tokenizers/tokenizer';
import { describeChoice, resolveProvider } from '../runtime/gpu/provider-choice';
import type { ProviderChoice } from '../runtime/gpu/provider-choice';
import { IdpError, inputError } from '../errors';
import type { IdpLM } from '../idp/runner';
import { cancelledBy, JobHooks } from './hooks';
import { checkModelOptions, openModel, RUN_KEYS, RunOptions } from './model';
import { ParamChecker } from './check';
import { BankRunners, IdpPick, pickOf } from './generate-bank';

export interface GenerateInput {
  /** Text (BOS first where the family uses one); or */
  prompt?: string;
  /** token ids as they are; or */
  ids?: number[];
  /** a completion at a cursor: fill-in-the-middle when the model has FIM tokens, else the prefix; cut to fit the
   *  context (start of the prefix, end of the suffix go first). template: 'auto' (default), 'none' or a format
   *  (fim/templates.ts); repo and path for the formats with a repository-level form. */
  fim?: { prefix: string; suffix: string; template?: FimChoice; repo?: string; path?: string };
  maxTokens?: number;
  /** 0 = greedy. */
  temperature?: number;
  /** Sample among the k most likely (0 = off). */
  topK?: number;
  /** Nucleus sampling (1 = off). */
  topP?: number;
  seed?: number;
  /** Stop texts: the continuation ends before the first one. */
  stop?: string[];
  /** An IDP prompt bank folder for the model: IDP picks one prompt for the input (result.idp). */
  bank?: string;
}

export const GENERATE_DEFAULTS = { maxTokens: 256, temperature: 0, topK: 0, topP: 1, seed: 42 } as const;

export type GenerateJobOptions = RunOptions & GenerateInput;

export interface GenerateProgress {
  /** Generated so far, of maxTokens. */
  tokens: number;
  maxTokens: number;
  /** The continuation so far. */
  text: string;
  elapsedMs: number;
  tokensPerSecond: number;
}

export interface GenerateJobResult {
  text: string;
  ids: number[];
  finish: FinishReason;
  timings: GenerateResult['timings'];
  /** With a bank: the prompt IDP picked (index, length) and every prompt's score. */
  idp?: IdpPick;
}

export const GENERATE_KEYS = ['prompt', 'ids', 'fim', 'maxTokens', 'temperature', 'topK', 'topP', 'seed', 'stop', 'bank'] as const;

const isInt = (x: unknown, min: number) => typeof x === 'number' && Number.isInteger(x) && x >= min;
const isNum = (x: unknown, min: number, max: number) => typeof x === 'number' && Number.isFinite(x) && x >= min && x <= max;

/** Rejects an input a caller could get wrong (the wire is untyped at run time); `keys`: what else may be there. */
export function checkGenerateInput(p: GenerateInput, keys: readonly string[] = GENERATE_KEYS): void {
  ParamChecker.of('generate', p, keys);
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

/** What the generate job takes besides its input: the job hooks, and the continuation after every token. */
export interface GenerateHooks extends JobHooks<GenerateProgress> {
  /** The continuation so far, after every token (unthrottled, unlike onProgress). */
  onText?: (text: string) => void;
  /** The token ids the input was laid out as (prompt with BOS, FIM cut to fit, or the ids given), before generating. */
  onInput?: (ids: number[]) => void;
}

/** An input longer than the context it may use (after a bank's prompt positions): an INPUT error front ends may map (idp serve: 400). */
export class ContextExceeded extends IdpError {
  /** context: what the input may use; bankPositions: a bank's prompt positions before it (the runtime's and IdpLM's wording). */
  constructor(readonly tokens: number, readonly context: number, bankPositions = 0) {
    super('INPUT', bankPositions
      ? `${tokens} tokens do not fit after the bank's ${bankPositions} prompt positions (context ${context + bankPositions})`
      : `prompt of ${tokens} tokens is longer than the model's context of ${context}`);
  }
}

export const isContextExceeded = (e: unknown): e is ContextExceeded => e instanceof ContextExceeded;

/** Progress goes out at most this often (and once at the last token). */
const PROGRESS_MS = 50;

/** One loaded model ready to generate: its session, FIM formats and bank runner kept between inputs. */
export class Generator {
  private fim: Map<FimChoice, FimTokens | undefined>;
  private banks = new BankRunners();

  /** bank: a runner every input goes through when it names no bank of its own (idp serve --bank); lm is then its lm. */
  constructor(readonly model: LoadedModel, readonly lm: CausalLM, readonly threads: number | undefined, readonly provider: ProviderChoice, private readonly bank?: IdpLM) {
    this.fim = new Map([['auto', findFimTokens(model.tokenizer)]]);
  }

  /** The FIM tokens of a format ('auto': the vocabulary's own; undefined: none); a named format the vocabulary lacks is an INPUT error. */
  fimTokens(choice: FimChoice = 'auto'): FimTokens | undefined {
    if (!this.fim.has(choice)) this.fim.set(choice, findFimTokens(this.model.tokenizer, choice));
    return this.fim.get(choice);
  }

  /** Tokens an input may use: the context, less the prompt positions of the bank it runs with. */
  inputContext(bank?: string): number {
    const idp = this.runnerFor(bank);
    return this.lm.config.maxPositions - (idp?.bank.positions ?? 0);
  }

  private runnerFor(bank: string | undefined): IdpLM | undefined {
    return bank ? this.banks.get(this.model, bank, this.threads) : this.bank;
  }

  /** The options' model on the options' provider, its session opened (errors belong to the load). */
  static async open(o: RunOptions): Promise<Generator> {
    const { m, threads } = await openModel(o);
    const provider = await resolveProvider(o.ep ?? 'cpu');   // auto: chosen once per process
    const lm = new CausalLM(m, { ep: provider.ep, threads });
    await lm.session('last');
    return new Generator(m, lm, threads, provider);
  }

  /**
   * The input's token ids: as given, the prompt with BOS, or the completion cut to fit `context` (default: the
   * input context of the input's bank) less room for `maxTokens` (at most half of it).
   */
  inputIds(p: GenerateInput, maxTokens: number, context = this.inputContext(p.bank)): number[] {
    const { lm, model } = this;
    const tok = model.tokenizer;
    if (p.ids) return p.ids;
    if (p.fim && tok) {
      const bos = bosFor(lm.config, tok);
      const budget = Math.max(8, context - Math.min(maxTokens, context >> 1));   // room for the tokens asked for
      const fim = this.fimTokens(p.fim.template ?? 'auto');
      return completionIds(tok, fim, p.fim.prefix, p.fim.suffix, budget, bos, { repo: p.fim.repo, path: p.fim.path });
    }
    return promptIds(lm, tok, p.fim ? p.fim.prefix : p.prompt ?? '');
  }

  /**
   * The input checked (GENERATE_KEYS only) and its continuation; an abort ends it after the current token
   * ('cancelled'). An input longer than its context: ContextExceeded.
   */
  async generate(p: GenerateInput, hooks: GenerateHooks = {}): Promise<GenerateJobResult> {
    checkGenerateInput(p);
    const tok = this.model.tokenizer;
    const maxTokens = p.maxTokens ?? GENERATE_DEFAULTS.maxTokens;
    const idp = this.runnerFor(p.bank);
    const context = this.lm.config.maxPositions - (idp?.bank.positions ?? 0);
    const ids = this.inputIds(p, maxTokens, context);
    if (ids.length > context) throw new ContextExceeded(ids.length, context, idp?.bank.positions);
    hooks.onInput?.(ids);
    const t0 = performance.now();
    let lastSent = 0;
    let tokens = 0;
    const { onProgress, onText } = hooks;
    const opts: GenerateOptions = {
      maxTokens, temperature: p.temperature ?? GENERATE_DEFAULTS.temperature, topK: p.topK ?? GENERATE_DEFAULTS.topK,
      topP: p.topP ?? GENERATE_DEFAULTS.topP, seed: p.seed ?? GENERATE_DEFAULTS.seed, stop: p.stop,
      isCancelled: cancelledBy(hooks.signal),
      yieldEachStep: hooks.signal !== undefined,   // a cancel arriving meanwhile is seen at the next token
      onToken: onProgress || onText ? (_row, _id, text) => {
        onText?.(text);
        if (!onProgress) return;
        tokens++;
        const now = performance.now();
        if (now - lastSent < PROGRESS_MS && tokens < maxTokens) return;
        lastSent = now;
        const elapsedMs = now - t0;
        onProgress({ tokens, maxTokens, text, elapsedMs, tokensPerSecond: (tokens * 1000) / Math.max(elapsedMs, 1) });
      } : undefined,
    };
    let pick: IdpPick | undefined;
    const r = idp
      ? await idp.generate(tok, [ids], opts).then((x) => { pick = pickOf(idp, x.selected, x.scores); return x; })
      : await generate(this.lm, tok, [ids], opts);
    const row = r.rows[0];
    const text = tok && !p.ids ? continuationText(tok, ids, row.ids, p.stop) : row.text;
    return { text, ids: row.ids, finish: row.finish, timings: r.timings, ...(pick ? { idp: pick } : {}) };
  }
}

export function checkGenerateOptions(o: GenerateJobOptions, absolutePaths = false): void {
  checkGenerateInput(o, [...RUN_KEYS, ...GENERATE_KEYS]);
  checkModelOptions(ParamChecker.of('generate', o, [...RUN_KEYS, ...GENERATE_KEYS], absolutePaths), true);
}

/** One generation on the options' model (loaded for it); for auto, onWarning says which provider and why. */
export async function run(o: GenerateJobOptions, hooks: GenerateHooks = {}): Promise<GenerateJobResult> {
  checkGenerateOptions(o, hooks.absolutePaths);
  const { model: _m, tokenizer: _t, threads: _th, ep: _e, ...input } = o;
  const g = await Generator.open(o);
  if (o.ep === 'auto') hooks.onWarning?.(`execution provider ${describeChoice(g.provider)}`);
  return g.generate(input, hooks);
}
