// OpenAI-style errors: what the HTTP API answers when a request cannot be served, as
// {"error": {"message", "type", "param", "code"}} with the status clients branch on (the `openai`
// client turns 400/401/404/429 into BadRequestError, AuthenticationError, NotFoundError, RateLimitError).

import { isIdpError } from '../../engine/index';

export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ApiErrorType,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: { message: string; type: ApiErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, 'invalid_request_error', message, param, code);

/**
 * Any failure as the API reports it: ApiErrors as they are; the engine's bad-input errors (a prompt longer
 * than the context, an empty prompt) are the client's fault, 400; everything else is the server's, 500.
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (isIdpError(e) && e.code === 'INPUT') {
    return badRequest(e.message);   // the context's length is refused before the engine (model-host.ts: context_length_exceeded)
  }
  return new ApiError(500, 'server_error', e instanceof Error ? e.message : String(e));
}
