// The HTTP API: authentication, routing, bodies, and the three endpoints' answers (whole or streamed).
// A request's generation is cancelled when its client goes away (the response closes before it ends).

import type * as http from 'http';
import { randomUUID, timingSafeEqual } from 'crypto';
import { ApiError, toApiError } from './errors';
import { chatRequest, completionRequest, GenerationRequest } from './params';
import type { ModelHost, RunResult } from './model-host';
import type { GenerationQueue } from './queue';
import { SseWriter, TextDeltas } from './sse';

export interface RouteContext {
  host: ModelHost;
  queue: GenerationQueue;
  apiKey?: string;
  /** One line per notable event (a cancel, a refusal); the CLI prints them. */
  log: (line: string) => void;
  /** Called when a cancelled run has stopped: when the client went, and when its generation ended. */
  onCancelled?: (e: { closedAt: number; stoppedAt: number; tokensAfterClose: number }) => void;
}

/** Largest request body read (a completion's prompt and suffix included): bigger ones are refused (413). */
export const MAX_BODY_BYTES = 4 << 20;

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    // past the limit the rest is read and dropped, not kept: answering before the client has sent it all
    // would reset the connection under a client still writing, and it would never see the 413
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) parts.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return reject(new ApiError(413, 'invalid_request_error', `the request body is ${size} bytes: over the ${MAX_BODY_BYTES} this server reads`));
      try {
        resolve(JSON.parse(Buffer.concat(parts).toString('utf8')));
      } catch (e) {
        reject(new ApiError(400, 'invalid_request_error', `the request body is not JSON: ${(e as Error).message}`));
      }
    });
    req.on('error', reject);
    // a client gone before its body ended: 'end' never comes, and nothing would settle this promise
    req.on('close', () => { if (!req.complete) reject(new ApiError(499, 'invalid_request_error', 'the client closed the request', null, 'client_closed')); });
  });
}

/** The Authorization header carries `key` (compared in constant time: the answer's timing must not leak the key). */
function authorized(req: http.IncomingMessage, key: string): boolean {
  const got = Buffer.from(req.headers.authorization ?? '');
  const want = Buffer.from(`Bearer ${key}`);
  return got.length === want.length && timingSafeEqual(got, want);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const finishReason = (f: RunResult['finish']) => (f === 'stop' ? 'stop' : 'length');

const usageOf = (r: RunResult) => ({ prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens });

/** The extra field: which bank prompt IDP selected (clients that do not know it ignore it). */
const idpOf = (r: RunResult) => (r.idp ? { idp: { selected_prompt: r.idp.selected, prompt_tokens: r.idp.n, scores: r.idp.scores } } : {});

export function handler(ctx: RouteContext): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    route(ctx, req, res).catch((e) => {
      const err = toApiError(e);
      if (err.status >= 500) ctx.log(`error: ${err.message}`);
      if (err.status === 429) ctx.log(`refused (queue full): ${req.method} ${req.url}`);
      if (res.headersSent) res.destroy();   // mid-stream: a broken stream is all a client can be told
      else sendJson(res, err.status, err.body());
    });
  };
}

async function route(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (ctx.apiKey !== undefined && !authorized(req, ctx.apiKey)) {
    throw new ApiError(401, 'authentication_error', 'missing or wrong API key: send Authorization: Bearer <key>', null, 'invalid_api_key');
  }
  const url = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
  const kind = url === '/v1/completions' ? 'completion' : url === '/v1/chat/completions' ? 'chat' : undefined;
  if (url === '/v1/models' && req.method === 'GET') {
    const m = ctx.host;
    return sendJson(res, 200, { object: 'list', data: [{ id: m.id, object: 'model', created: m.created, owned_by: 'idp-lab' }] });
  }
  if (!kind) throw new ApiError(404, 'not_found_error', `no route ${req.method} ${url}: idp serve has GET /v1/models, POST /v1/completions, POST /v1/chat/completions`);
  if (req.method !== 'POST') throw new ApiError(405, 'invalid_request_error', `${url} takes POST`);
  const body = await readBody(req);
  const r = kind === 'chat' ? chatRequest(body) : completionRequest(body);

  // the client is gone when the response closes before we ended it
  let closedAt = 0;
  let tokensAtClose = 0;
  const closed = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) { closedAt = performance.now(); tokensAtClose = ctx.host.tokensGenerated; closed.abort(); }
  });
  const gone = () => closedAt > 0;

  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: ctx.host.id };
  let sse: SseWriter | undefined;
  let deltas: TextDeltas | undefined;
  const chunk = (text: string, finish: string | null, extra: object = {}) => {
    const choice = kind === 'chat'
      ? { index: 0, delta: text || finish ? (text ? { content: text } : {}) : { role: 'assistant', content: '' }, finish_reason: finish }
      : { index: 0, text, logprobs: null, finish_reason: finish };
    sse!.send({ ...head, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', choices: [choice], ...extra });
  };

  const result = await ctx.queue.run(async () => {
    const ids = kind === 'chat' ? ctx.host.chatIds(r as ReturnType<typeof chatRequest>) : ctx.host.completionIds(r as ReturnType<typeof completionRequest>);
    // the first byte of a stream goes out once the input is known to be good: errors before it are still JSON
    if (r.stream) {
      sse = new SseWriter(res);
      deltas = new TextDeltas(r.stop);
      if (kind === 'chat') chunk('', null);
    }
    return ctx.host.run(ids, r as GenerationRequest, {
      signal: closed.signal,
      onText: sse ? (text) => { const d = deltas!.next(text); if (d) chunk(d, null); } : undefined,
    });
  }, gone);

  if (result.finish === 'cancelled') {
    const stoppedAt = performance.now();
    const after = ctx.host.tokensGenerated - tokensAtClose;
    ctx.log(`cancelled: client closed ${id}; generation stopped ${(stoppedAt - closedAt).toFixed(1)} ms later, ${after} tokens after the close`);
    ctx.onCancelled?.({ closedAt, stoppedAt, tokensAfterClose: after });
    return;
  }
  if (sse) {
    const rest = deltas!.finish(result.text);
    chunk(rest, finishReason(result.finish), idpOf(result));
    if (r.includeUsage) sse.send({ ...head, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', choices: [], usage: usageOf(result) });
    sse.end();
    return;
  }
  const choice = kind === 'chat'
    ? { index: 0, message: { role: 'assistant', content: result.text }, logprobs: null, finish_reason: finishReason(result.finish) }
    : { index: 0, text: result.text, logprobs: null, finish_reason: finishReason(result.finish) };
  sendJson(res, 200, { ...head, choices: [choice], usage: usageOf(result), ...idpOf(result) });
}
