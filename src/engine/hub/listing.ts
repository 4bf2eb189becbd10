// What a revision of a repository is: its commit and its files, from the Hub's model API
// (GET <endpoint>/api/models/ORG/NAME/revision/<revision>, through @huggingface/hub's modelInfo), as
// huggingface_hub's snapshot_download asks it. The request goes through hubFetch (token, signal,
// typed errors) and its JSON is read up to a bound.

import { modelInfo } from '@huggingface/hub';
import { runtimeError } from '../errors';
import { boundedJson, hubError, hubFetch, Net } from './http';
import { COMMIT } from './reference';

/** A listing is ~60 bytes per file; the largest repositories list a few ten thousand files. */
const LISTING_LIMIT = 32 * 1024 * 1024;

export interface Listing {
  commit: string;
  files: string[];
  gated: boolean;
}

export async function listRevision(net: Net, repo: string, revision: string, what: string): Promise<Listing> {
  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const res = await hubFetch(net, url, init, what);
    if (!res.ok) throw hubError(res, net, what, repo);
    const body = await boundedJson(res, LISTING_LIMIT, what, net.signal);
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const info = await modelInfo({
    name: repo, revision, hubUrl: net.env.endpoint, additionalFields: ['sha', 'filePaths'], fetch: fetchImpl as typeof fetch,
  });
  const commit = (info as { sha?: unknown }).sha;
  const files = (info as { filePaths?: unknown }).filePaths;
  if (typeof commit !== 'string' || !COMMIT.test(commit)) throw runtimeError(`${what}: the Hub's answer names no commit for revision '${revision}'`);
  if (!Array.isArray(files) || !files.every((f) => typeof f === 'string')) throw runtimeError(`${what}: the Hub's answer lists no files`);
  return { commit, files, gated: !!info.gated };
}
