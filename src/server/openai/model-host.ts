// The model behind the API: loaded once, with its tokenizer, chat template and optional IDP bank, as a
// generate job's Generator (engine/jobs/generate.ts: prompt and FIM layout, the context budget, the bank's
// selection, the generation). What is OpenAI's stays here: the chat template, the request's defaults, and
// the job's errors as the API's 400s. The queue (queue.ts) makes sure only one run is in flight.

import * as path from 'path';
import {
  bosFor, CausalLM, FinishReason, Generator, IdpBank, IdpLM, IdpPick, inputError, isContextExceeded, localModelPath, maxPieceChars, openModel, Tokenizer,
} from '../../engine/index';
import type { ExecutionProvider } from '../../engine/index';
import { ChatTemplate, loadChatTemplate } from './chat-template';
import { ApiError, badRequest } from './errors';
import type { ChatRequest, CompletionRequest, GenerationRequest } from './params';

export interface HostOptions { model: string; tokenizer?: string; bank?: string; threads?: number; ep?: ExecutionProvider }

export interface RunHooks {
  /** Aborted: the run stops after the current token (finish 'cancelled'). */
  signal: AbortSignal;
  /** The continuation so far, after every token. */
  onText?: (text: string) => void;
}

export interface RunResult {
  text: string;
  finish: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** The bank prompt IDP selected for this input (with --bank). */
  idp?: IdpPick;
}

export class ModelHost {
  /** Decode tokens produced by every run so far (tests read how many came after a cancel). */
  tokensGenerated = 0;

  private constructor(
    readonly id: string,
    readonly created: number,
    private readonly gen: Generator,
    private readonly tok: Tokenizer,
    readonly template: ChatTemplate | undefined,
  ) {}

  static async load(o: HostOptions): Promise<ModelHost> {
    const { m: model, threads } = await openModel({ model: o.model, tokenizer: o.tokenizer, threads: o.threads });
    if (!model.tokenizer) throw inputError('this model has no tokenizer: idp serve needs one to read text', model.source);
    const idp = o.bank ? new IdpLM(model, IdpBank.load(o.bank, model), { threads, ep: o.ep }) : undefined;
    const lm = idp?.lm ?? new CausalLM(model, { threads, ep: o.ep });
    await lm.session(lm.kvInPlace() ? 'capacity' : 'last');   // build and open now: a broken model fails at start, not on the first request
    if (idp) await idp.session('last');
    const ep = o.ep ?? 'cpu';
    const gen = new Generator(model, lm, threads, { setting: ep, ep, passed: [] }, idp);
    const id = path.basename(path.resolve(o.model)).replace(/\.(gguf|bin)$/, '');
    return new ModelHost(id, Math.floor(Date.now() / 1000), gen, model.tokenizer, loadChatTemplate(localModelPath(model)));
  }

  /** Tokens the input may use: the context, less a bank's prompt positions. */
  private get context(): number {
    return this.gen.inputContext();
  }

  completionIds(r: CompletionRequest): number[] {
    if (r.suffix !== undefined) {
      if (!this.gen.fimTokens()) throw badRequest(`model ${this.id} has no fill-in-the-middle tokens: suffix is not supported`, 'suffix');
      return this.gen.inputIds({ fim: { prefix: r.prompt, suffix: r.suffix } }, r.maxTokens ?? 0);
    }
    this.checkChars(r.prompt.length);
    return this.gen.inputIds({ prompt: r.prompt }, 0);
  }

  /**
   * Refuses text that cannot fit the context before tokenising it: a token stands for at most maxPieceChars
   * characters, so more characters than context × that are more tokens than the context holds. Tokenising a
   * 4 MB prompt takes seconds on the event loop (every client waits); this takes none. (fim.ts caps the piece
   * length at 64: text made of longer whitespace runs could be refused though it would fit.)
   */
  private checkChars(chars: number): void {
    const most = this.context * maxPieceChars(this.tok);
    if (chars > most) throw badRequest(`the prompt is ${chars} characters: more than the ${this.context} tokens this model reads can hold`, null, 'context_length_exceeded');
  }

  chatIds(r: ChatRequest): number[] {
    if (!this.template) {
      throw new ApiError(400, 'invalid_request_error', `model ${this.id} has no chat template (tokenizer_config.json has no chat_template): use /v1/completions`, 'messages', 'no_chat_template');
    }
    this.checkChars(r.messages.reduce((n, m) => n + m.content.length, 0));
    let text: string;
    try {
      text = this.template.render(r.messages);
    } catch (e) {
      throw badRequest(`the chat template refused these messages: ${(e as Error).message}`, 'messages');
    }
    // a template that writes BOS itself (most do) must not get a second one
    const ids = this.tok.encode(text);
    const bos = bosFor(this.gen.lm.config, this.tok);
    return bos !== undefined && ids[0] !== bos ? [bos, ...ids] : ids;
  }

  async run(ids: number[], r: GenerationRequest, hooks: RunHooks): Promise<RunResult> {
    // OpenAI's default: no max_tokens is up to the end of the context
    const maxTokens = Math.max(0, Math.min(r.maxTokens ?? Infinity, this.context - ids.length));
    try {
      const g = await this.gen.generate({ ids, maxTokens, temperature: r.temperature, topP: r.topP, seed: r.seed, stop: r.stop }, {
        signal: hooks.signal,   // the job yields between decode steps: the socket's close event gets in
        onText: (text) => { this.tokensGenerated++; hooks.onText?.(text); },
      });
      return { text: g.text, finish: g.finish, promptTokens: ids.length, completionTokens: g.ids.length, ...(g.idp ? { idp: g.idp } : {}) };
    } catch (e) {
      if (isContextExceeded(e)) throw badRequest(`the prompt is ${e.tokens} tokens; this model reads at most ${e.context}`, null, 'context_length_exceeded');
      throw e;
    }
  }
}
