// The request bodies of /v1/completions and /v1/chat/completions, checked and reduced to what the engine
// runs. Defaults follow OpenAI's (temperature 1, top_p 1, 16 tokens for a completion, a chat answer up to the
// end of the context). Fields the engine cannot honour are refused with a 400 naming the field rather than
// silently ignored; fields that only tune billing or moderation (user, metadata, …) are ignored.

import { badRequest } from './errors';
import type { ChatMessage } from './chat-template';

export interface GenerationRequest {
  model?: string;
  maxTokens?: number;            // undefined: up to the end of the context
  temperature: number;
  topP: number;
  stop: string[];
  seed?: number;
  stream: boolean;
  includeUsage: boolean;
}

export interface CompletionRequest extends GenerationRequest { prompt: string; suffix?: string }
export interface ChatRequest extends GenerationRequest { messages: ChatMessage[] }

type Body = Record<string, unknown>;

const isObj = (x: unknown): x is Body => !!x && typeof x === 'object' && !Array.isArray(x);

function optNumber(b: Body, key: string, min: number, max: number, integer = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw badRequest(`${key} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`, key);
  }
  return v;
}

function stopOf(b: Body): string[] {
  const v = b.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw badRequest('stop must be a non-empty string or a list of up to 4 of them', 'stop');
  }
  return list as string[];
}

/** Fields OpenAI defines that this server does not implement: refused unless they ask for the default. */
function refuseUnsupported(b: Body, keys: Array<[string, unknown]>): void {
  for (const [k, dflt] of keys) {
    const v = b[k];
    if (v !== undefined && v !== null && v !== dflt) throw badRequest(`${k} is not supported by idp serve${dflt === undefined ? '' : ` (only ${JSON.stringify(dflt)})`}`, k, 'unsupported_parameter');
  }
}

function common(b: unknown, maxTokensKeys: string[]): GenerationRequest & { body: Body } {
  if (!isObj(b)) throw badRequest('the request body must be a JSON object');
  if (b.model !== undefined && typeof b.model !== 'string') throw badRequest('model must be a string', 'model');
  refuseUnsupported(b, [['n', 1], ['best_of', 1], ['echo', false], ['logprobs', false], ['top_logprobs', 0], ['presence_penalty', 0], ['frequency_penalty', 0]]);
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw badRequest('stream must be a boolean', 'stream');
  const so = b.stream_options;
  if (so !== undefined && so !== null && !isObj(so)) throw badRequest('stream_options must be an object', 'stream_options');
  let maxTokens: number | undefined;
  for (const k of maxTokensKeys) maxTokens = optNumber(b, k, 1, 1e9, true) ?? maxTokens;
  return {
    body: b,
    model: b.model as string | undefined,
    maxTokens,
    temperature: optNumber(b, 'temperature', 0, 2) ?? 1,
    topP: optNumber(b, 'top_p', 0, 1) ?? 1,
    stop: stopOf(b),
    seed: optNumber(b, 'seed', 0, 2 ** 31 - 1, true),
    stream: b.stream === true,
    includeUsage: isObj(so) && so.include_usage === true,
  };
}

export function completionRequest(raw: unknown): CompletionRequest {
  const { body: b, ...g } = common(raw, ['max_tokens']);
  let prompt = b.prompt;
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  if (typeof prompt !== 'string') throw badRequest('prompt must be a string (one prompt per request; token-id prompts are not supported)', 'prompt');
  if (b.suffix !== undefined && b.suffix !== null && typeof b.suffix !== 'string') throw badRequest('suffix must be a string', 'suffix');
  return { ...g, maxTokens: g.maxTokens ?? 16, prompt, ...(typeof b.suffix === 'string' && b.suffix !== '' ? { suffix: b.suffix } : {}) };
}

function contentText(c: unknown, i: number): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c) && c.every((p) => isObj(p) && p.type === 'text' && typeof p.text === 'string')) return c.map((p) => (p as { text: string }).text).join('');
  throw badRequest(`messages[${i}].content must be a string or a list of text parts`, `messages[${i}].content`);
}

export function chatRequest(raw: unknown): ChatRequest {
  const { body: b, ...g } = common(raw, ['max_tokens', 'max_completion_tokens']);
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw badRequest('messages must be a non-empty list', 'messages');
  refuseUnsupported(b, [['tools', undefined], ['response_format', undefined]]);
  const messages = b.messages.map((m, i): ChatMessage => {
    if (!isObj(m) || typeof m.role !== 'string') throw badRequest(`messages[${i}] must be {role, content}`, `messages[${i}]`);
    return { role: m.role, content: contentText(m.content, i) };
  });
  return { ...g, messages };
}
