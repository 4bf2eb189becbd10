// HTTP to the Hub (HF_ENDPOINT): one fetch for every request, the Hub's answers turned into typed
// errors, and a file's metadata read as huggingface_hub reads it.
//
// The token goes to the endpoint's own origin only (a CDN the Hub redirects a download to gets none).
// Every request carries the caller's AbortSignal. JSON answers are read up to a bound.
//
// File metadata: HEAD <endpoint>/ORG/NAME/resolve/<commit>/<file>, not following the redirect of an
// LFS file to its storage (only a relative one, as when a repository was renamed). The blob's name is
// X-Linked-Etag, else ETag (quotes and a weak W/ dropped): the sha256 of an LFS file, the git blob
// sha1 of a regular one. Its size is X-Linked-Size, else Content-Length; the commit X-Repo-Commit; the
// download URL the redirect's Location, else the resolve URL itself.

import { IdpError, inputError, notFound, runtimeError } from '../errors';
import type { HubEnv } from './env';

export interface Net {
  env: HubEnv;
  signal?: AbortSignal;
}

export interface FileMeta {
  etag: string;
  size?: number;
  commit?: string;
  /** Where the bytes are (the storage an LFS file redirects to, or the resolve URL). */
  url: string;
}

const USER_AGENT = 'idp-lab (+https://github.com/idp-lab)';

export const sameOrigin = (a: string, b: string) => {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
};

/** A request's cancellation, as the error every caller reports. */
export const cancelled = (what: string) => inputError('download cancelled (what was downloaded so far is kept and resumed next time)', what);

export const isAbort = (e: unknown, signal?: AbortSignal) => !!signal?.aborted || (e instanceof Error && e.name === 'AbortError');

/** fetch with the token (endpoint's origin only), the user agent and the caller's signal; network failures typed. */
export async function hubFetch(net: Net, url: string, init: RequestInit = {}, what = url): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('user-agent', USER_AGENT);
  if (net.env.token && sameOrigin(url, net.env.endpoint)) headers.set('authorization', `Bearer ${net.env.token}`);
  try {
    return await fetch(url, { ...init, headers, signal: net.signal });
  } catch (e) {
    if (isAbort(e, net.signal)) throw cancelled(what);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw runtimeError(`${what}: cannot reach ${new URL(url).origin} (${cause?.code ?? cause?.message ?? (e as Error).message}); ` +
      'check the connection, or set HF_HUB_OFFLINE=1 to use only the Hugging Face cache');
  }
}

/** The Hub's refusal of `what` (a reference, or ref + file) as a typed error. */
export function hubError(res: Response, net: Net, what: string, repo: string): IdpError {
  const code = res.headers.get('x-error-code') ?? '';
  const page = `${net.env.endpoint}/${repo}`;
  const tokenNote = net.env.token ? 'the token given (HF_TOKEN) has no access to it' : 'set HF_TOKEN to a token of an account with access';
  if (code === 'GatedRepo' || (res.status === 403 && code !== 'RepoNotFound')) {
    return inputError(`the repository is gated: accept its conditions on ${page}, and ${tokenNote}`, what);
  }
  if (code === 'RepoNotFound' || res.status === 401) {
    return notFound(what, `no such local file or folder, and no such model on the Hugging Face Hub (${page}), or it is private: check the id${net.env.token ? '' : ', or set HF_TOKEN'}`);
  }
  if (code === 'RevisionNotFound') return notFound(what, `no such revision in ${repo} (a branch, a tag or a commit)`);
  if (code === 'EntryNotFound' || res.status === 404) return notFound(what, `not found on the Hugging Face Hub (${res.url || page})`);
  if (res.status === 429) return runtimeError(`${what}: the Hugging Face Hub is rate-limiting requests (429): try again later${net.env.token ? '' : ', or set HF_TOKEN'}`);
  return runtimeError(`${what}: the Hugging Face Hub answered ${res.status} ${res.statusText}`);
}

const etagOf = (v: string | null) => (v === null ? undefined : v.trim().replace(/^W\//, '').replace(/^"|"$/g, ''));
const intOf = (v: string | null) => (v !== null && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined);

export const resolveUrl = (env: HubEnv, repo: string, revision: string, file: string) =>
  `${env.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;

/** A file's metadata (see the top of this file); `what` names it in errors. */
export async function fileMeta(net: Net, repo: string, revision: string, file: string, what: string): Promise<FileMeta> {
  let url = resolveUrl(net.env, repo, revision, file);
  for (let hop = 0; hop < 5; hop++) {
    const res = await hubFetch(net, url, { method: 'HEAD', redirect: 'manual', headers: { 'accept-encoding': 'identity' } }, what);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const relative = !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('//');
      if (relative) {
        url = new URL(location, url).href;
        continue;
      }
    } else if (!res.ok) throw hubError(res, net, what, repo);
    const etag = etagOf(res.headers.get('x-linked-etag')) ?? etagOf(res.headers.get('etag'));
    if (!etag) throw runtimeError(`${what}: the Hub's answer has no ETag, so the file cannot be cached (is HF_ENDPOINT a Hugging Face Hub?)`);
    return {
      etag,
      size: intOf(res.headers.get('x-linked-size')) ?? intOf(res.headers.get('content-length')),
      commit: res.headers.get('x-repo-commit')?.trim() || undefined,
      url: res.status >= 300 && res.status < 400 && location ? new URL(location, url).href : url,
    };
  }
  throw runtimeError(`${what}: too many redirects from the Hub`);
}

/**
 * The chunks of a response body, ending at once (with an AbortError) when `signal` aborts: a read
 * pending at that moment is not waited for (undici can leave it unsettled when the body had already
 * arrived whole).
 */
export async function* chunksOf(res: Response, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), aborted]);
      if (r.done) return;
      yield r.value;
    }
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    reader.cancel().catch(() => undefined);
  }
}

/** A JSON answer, read up to `limit` bytes (a FORMAT-like runtime error beyond). */
export async function boundedJson(res: Response, limit: number, what: string, signal?: AbortSignal): Promise<unknown> {
  const declared = intOf(res.headers.get('content-length'));
  if (declared !== undefined && declared > limit) throw runtimeError(`${what}: the Hub's answer is ${declared} bytes, over the ${limit} this reads`);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of chunksOf(res, signal)) {
    n += chunk.byteLength;
    if (n > limit) throw runtimeError(`${what}: the Hub's answer is over the ${limit} bytes this reads`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw runtimeError(`${what}: the Hub's answer is not JSON (${(e as Error).message})`);
  }
}
