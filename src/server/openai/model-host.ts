// The model behind the API: loaded once, with its tokenizer, FIM tokens, chat template and optional IDP
// bank, and one generation run for a checked request (prompt layout, the engine's generate, the bank's
// selection). The queue (queue.ts) makes sure only one run is in flight.

import * as path from 'path';
import {
  bosFor, CausalLM, completionIds, FimTokens, findFimTokens, FinishReason, generate, GenerateOptions, IdpBank, IdpLM, IdpPick, inputError, LoadedModel,
  pickOf,
  loadModel, localModelPath, maxPieceChars, promptIds, threadsFor, Tokenizer,
} from '../../engine/index';
import type { ExecutionProvider } from '../../engine/index';
import { ChatTemplate, loadChatTemplate } from './chat-template';
import { ApiError, badRequest } from './errors';
import type { ChatRequest, CompletionRequest, GenerationRequest } from './params';

export interface HostOptions { model: string; tokenizer?: string; bank?: string; threads?: number; ep?: ExecutionProvider }

export interface RunHooks {
  /** Polled between decode steps: true stops the run (finish 'cancelled'). */
  isCancelled: () => boolean;
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
    private readonly model: LoadedModel,
    private readonly tok: Tokenizer,
    private readonly lm: CausalLM,
    private readonly fim: FimTokens | undefined,
    readonly template: ChatTemplate | undefined,
    private readonly idp: IdpLM | undefined,
  ) {}

  static async load(o: HostOptions): Promise<ModelHost> {
    const model = await loadModel(o.model, { tokenizer: o.tokenizer });
    if (!model.tokenizer) throw inputError('this model has no tokenizer: idp serve needs one to read text', model.source);
    const threads = threadsFor(model, o.threads);
    const idp = o.bank ? new IdpLM(model, IdpBank.load(o.bank, model), { threads, ep: o.ep }) : undefined;
    const lm = idp?.lm ?? new CausalLM(model, { threads, ep: o.ep });
    await lm.session(lm.kvInPlace() ? 'capacity' : 'last');   // build and open now: a broken model fails at start, not on the first request
    if (idp) await idp.session('last');
    const id = path.basename(path.resolve(o.model)).replace(/\.(gguf|bin)$/, '');
    return new ModelHost(id, Math.floor(Date.now() / 1000), model, model.tokenizer, lm, findFimTokens(model.tokenizer), loadChatTemplate(localModelPath(model)), idp);
  }

  /** Tokens the input may use: the context, less a bank's prompt positions. */
  private get context(): number {
    return this.idp?.maxInput ?? this.lm.config.maxPositions;
  }

  completionIds(r: CompletionRequest): number[] {
    if (r.suffix !== undefined) {
      if (!this.fim) throw badRequest(`model ${this.id} has no fill-in-the-middle tokens: suffix is not supported`, 'suffix');
      const budget = Math.max(8, this.context - Math.min(r.maxTokens ?? 0, this.context >> 1));
      return completionIds(this.tok, this.fim, r.prompt, r.suffix, budget, bosFor(this.lm.config, this.tok));
    }
    this.checkChars(r.prompt.length);
    return promptIds(this.lm, this.tok, r.prompt);
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
    const bos = bosFor(this.lm.config, this.tok);
    return bos !== undefined && ids[0] !== bos ? [bos, ...ids] : ids;
  }

  async run(ids: number[], r: GenerationRequest, hooks: RunHooks): Promise<RunResult> {
    if (ids.length > this.context) {
      throw badRequest(`the prompt is ${ids.length} tokens; this model reads at most ${this.context}`, null, 'context_length_exceeded');
    }
    const opts: GenerateOptions = {
      maxTokens: Math.min(r.maxTokens ?? Infinity, this.context - ids.length),
      temperature: r.temperature, topP: r.topP, seed: r.seed, stop: r.stop,
      isCancelled: hooks.isCancelled,
      yieldEachStep: true,   // lets the socket's close event in between decode steps
      onToken: (_row, _id, text) => { this.tokensGenerated++; hooks.onText?.(text); },
    };
    let idp: IdpPick | undefined;
    const g = this.idp
      ? await this.idp.generate(this.tok, [ids], opts).then((x) => { idp = pickOf(this.idp!, x.selected, x.scores); return x; })
      : await generate(this.lm, this.tok, [ids], opts);
    const row = g.rows[0];
    return { text: row.text, finish: row.finish, promptTokens: ids.length, completionTokens: row.ids.length, ...(idp ? { idp } : {}) };
  }
}
