// A NuGet v3 feed, as far as fetching one package needs (https://learn.microsoft.com/nuget/api/overview):
//
//   GET <index>                                   the service index: resources [{ '@id', '@type' }]
//   PackageBaseAddress/3.0.0 → <base>             the flat container:
//     GET <base><id>/index.json                   { versions: [...] } (lower case), as onnxruntime-node's
//                                                 install script checks before downloading
//     GET <base><id>/<ver>/<id>.<ver>.nupkg       the package (id and version lower case)
//   RegistrationsBaseUrl[/3.6.0 …] → <reg>
//     GET <reg><id>/<ver>.json                    the registration leaf: { catalogEntry: URL, or the entry inline }
//     GET <catalogEntry>                          the catalog leaf: { packageHash (base64), packageHashAlgorithm
//                                                 'SHA512', packageSize } — the hash of the .nupkg as served
//
// The flat container publishes no hash; the catalog leaf is where nuget.org states one. A feed whose
// registration has no packageHash gives `hash: undefined`, and the caller decides (refuse unless told).
// Every request carries the caller's AbortSignal; JSON answers are read up to JSON_LIMIT bytes; failures
// are typed errors naming the URL.

import * as crypto from 'crypto';
import * as fs from 'fs';
import { formatError, IdpError, inputError, notFound, runtimeError } from '../../errors';
import { chunksOf, isAbort } from '../../hub/http';

const JSON_LIMIT = 8 << 20;
/** No CUDA provider package comes near this (Microsoft.ML.OnnxRuntime.Gpu.Linux: a few hundred MB). */
export const NUPKG_LIMIT = 4 * 1024 ** 3;
const USER_AGENT = 'idp-lab (+https://github.com/idp-lab)';

/** Registration resource types, newest first (3.6.0 includes SemVer 2.0 packages; all answer the same leaf shape). */
const REGISTRATION_TYPES = ['RegistrationsBaseUrl/3.6.0', 'RegistrationsBaseUrl/3.4.0', 'RegistrationsBaseUrl/3.0.0-rc', 'RegistrationsBaseUrl/3.0.0-beta', 'RegistrationsBaseUrl'];

export interface ResolvedPackage {
  id: string;
  version: string;
  /** The .nupkg's URL on the flat container. */
  url: string;
  /** SHA512 of the .nupkg (the catalog's packageHash), or undefined when the feed states none. */
  sha512?: Buffer;
  /** Where the hash was read (the catalog leaf), or why there is none. */
  hashSource: string;
  /** The package's size in bytes, when the catalog states it. */
  size?: number;
}

export interface DownloadProgress { bytes: number; total?: number }

/** A cancelled request: nothing is installed and no partial file is kept. */
export const cancelledError = (what: string) => inputError('cancelled: nothing was installed', what);

async function feedFetch(url: string, signal: AbortSignal | undefined): Promise<Response> {
  try {
    return await fetch(url, { headers: { 'user-agent': USER_AGENT }, signal });
  } catch (e) {
    if (isAbort(e, signal)) throw cancelledError(url);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw runtimeError(`${url}: cannot reach the NuGet feed (${cause?.code ?? cause?.message ?? (e as Error).message}); ` +
      'check the connection, or point IDP_NUGET_INDEX at a mirror\'s index.json');
  }
}

function httpError(res: Response, url: string, what: string): IdpError {
  if (res.status === 404) return notFound(url, `${what}: the feed answered 404`);
  return runtimeError(`${url}: ${what}: the feed answered ${res.status} ${res.statusText}`);
}

/** A JSON object from `url`, read up to JSON_LIMIT bytes; undefined on 404 when `optional`. */
async function getJson(url: string, what: string, signal: AbortSignal | undefined, optional = false): Promise<Record<string, unknown> | undefined> {
  const res = await feedFetch(url, signal);
  if (!res.ok) {
    res.body?.cancel().catch(() => undefined);
    if (optional && res.status === 404) return undefined;
    throw httpError(res, url, what);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > JSON_LIMIT) throw formatError(url, `${what}: ${declared} bytes, over the ${JSON_LIMIT} read`);
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const c of chunksOf(res, signal)) {
      n += c.byteLength;
      if (n > JSON_LIMIT) throw formatError(url, `${what}: over the ${JSON_LIMIT} bytes read`);
      chunks.push(c);
    }
  } catch (e) {
    if (isAbort(e, signal)) throw cancelledError(url);
    throw e;
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw formatError(url, `${what}: not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw formatError(url, `${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

const withSlash = (u: string) => (u.endsWith('/') ? u : `${u}/`);

function httpUrl(u: unknown, base: string, what: string): string {
  try {
    if (typeof u !== 'string') throw new Error('not a string');
    const url = new URL(u, base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${url.protocol} URL`);
    return url.href;
  } catch (e) {
    throw formatError(base, `${what} is not an http(s) URL (${(e as Error).message})`);
  }
}

/** The resources of a service index: @type → @id (the first of each type). */
async function serviceIndex(index: string, signal?: AbortSignal): Promise<Map<string, string>> {
  const doc = await getJson(index, 'the NuGet service index', signal);
  if (!doc || !Array.isArray(doc.resources)) throw formatError(index, 'not a NuGet v3 service index (no resources)');
  const out = new Map<string, string>();
  for (const r of doc.resources as unknown[]) {
    if (typeof r !== 'object' || r === null) continue;
    const t = (r as Record<string, unknown>)['@type'];
    const id = (r as Record<string, unknown>)['@id'];
    for (const type of Array.isArray(t) ? t : [t]) {
      if (typeof type === 'string' && typeof id === 'string' && !out.has(type)) out.set(type, httpUrl(id, index, `resource ${type}`));
    }
  }
  return out;
}

const HASH_LEN = 64;

/** The catalog leaf's packageHash for id@version, or why there is none. */
async function catalogHash(reg: string | undefined, id: string, version: string, signal?: AbortSignal): Promise<{ sha512?: Buffer; size?: number; source: string }> {
  if (!reg) return { source: 'the feed\'s service index has no RegistrationsBaseUrl resource' };
  const leafUrl = `${withSlash(reg)}${id}/${version}.json`;
  const leaf = await getJson(leafUrl, 'the registration leaf', signal, true);
  if (!leaf) return { source: `no registration leaf at ${leafUrl}` };
  let entry = leaf.catalogEntry;
  let entryUrl = leafUrl;
  if (typeof entry === 'string') {
    entryUrl = httpUrl(entry, leafUrl, 'catalogEntry');
    entry = await getJson(entryUrl, 'the catalog entry', signal);
  } else if (entry && typeof entry === 'object' && !('packageHash' in entry) && typeof (entry as Record<string, unknown>)['@id'] === 'string') {
    entryUrl = httpUrl((entry as Record<string, unknown>)['@id'], leafUrl, 'catalogEntry @id');
    entry = await getJson(entryUrl, 'the catalog entry', signal);
  }
  if (!entry || typeof entry !== 'object') return { source: `the registration leaf ${leafUrl} has no catalogEntry` };
  const e = entry as Record<string, unknown>;
  const size = typeof e.packageSize === 'number' && Number.isSafeInteger(e.packageSize) && e.packageSize > 0 ? e.packageSize : undefined;
  if (typeof e.packageHash !== 'string') return { size, source: `the catalog entry ${entryUrl} states no packageHash` };
  const algo = typeof e.packageHashAlgorithm === 'string' ? e.packageHashAlgorithm : '';
  if (algo.toUpperCase() !== 'SHA512') throw formatError(entryUrl, `packageHashAlgorithm is '${algo}', not SHA512`);
  const sha512 = Buffer.from(e.packageHash, 'base64');
  if (sha512.length !== HASH_LEN) throw formatError(entryUrl, `packageHash is not a base64 SHA512 (${sha512.length} bytes)`);
  return { sha512, size, source: entryUrl };
}

/**
 * Finds id@version on the feed: the flat container must list the version (as onnxruntime-node's
 * install script requires), and the registration gives the hash when the feed states one.
 */
export async function resolvePackage(index: string, id: string, version: string, signal?: AbortSignal): Promise<ResolvedPackage> {
  const idL = id.toLowerCase();
  const verL = version.toLowerCase();
  const resources = await serviceIndex(index, signal);
  const base = resources.get('PackageBaseAddress/3.0.0');
  if (!base) throw formatError(index, 'the NuGet service index has no PackageBaseAddress/3.0.0 resource');
  const versionsUrl = `${withSlash(base)}${idL}/index.json`;
  const versions = await getJson(versionsUrl, `the version list of ${id}`, signal, true);
  if (!versions) throw notFound(versionsUrl, `the feed has no package ${id}`);
  if (!Array.isArray(versions.versions) || !versions.versions.some((v) => typeof v === 'string' && v.toLowerCase() === verL)) {
    throw notFound(versionsUrl, `the feed has no ${id} ${version} (the version onnxruntime-node pins)`);
  }
  const reg = REGISTRATION_TYPES.map((t) => resources.get(t)).find((u) => u !== undefined);
  const h = await catalogHash(reg, idL, verL, signal);
  return {
    id, version, url: `${withSlash(base)}${idL}/${verL}/${idL}.${verL}.nupkg`,
    sha512: h.sha512, hashSource: h.source, size: h.size,
  };
}

/**
 * Downloads `pkg` to `dest` (created; removed again on any failure or cancel), hashing it as it comes.
 * Stops at once past the stated size (or NUPKG_LIMIT). With a hash, a mismatch is a FORMAT error naming
 * the URL; returns the SHA512 computed.
 */
export async function downloadPackage(pkg: ResolvedPackage, dest: string, opts: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void } = {}): Promise<Buffer> {
  const { signal } = opts;
  const res = await feedFetch(pkg.url, signal);
  if (!res.ok) {
    res.body?.cancel().catch(() => undefined);
    throw httpError(res, pkg.url, `the package ${pkg.id} ${pkg.version}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const total = pkg.size ?? (Number.isSafeInteger(declared) ? declared : undefined);
  const limit = Math.min(total ?? NUPKG_LIMIT, NUPKG_LIMIT);
  if (Number.isSafeInteger(declared) && declared > limit) {
    res.body?.cancel().catch(() => undefined);
    throw formatError(pkg.url, `the package is ${declared} bytes, over the ${limit} expected`);
  }
  const hash = crypto.createHash('sha512');
  const fd = fs.openSync(dest, 'wx');
  let bytes = 0;
  let ok = false;
  try {
    try {
      for await (const chunk of chunksOf(res, signal)) {
        bytes += chunk.byteLength;
        if (bytes > limit) throw formatError(pkg.url, `the package is over the ${limit} bytes expected`);
        hash.update(chunk);
        for (let off = 0; off < chunk.byteLength;) off += fs.writeSync(fd, chunk, off);
        opts.onProgress?.({ bytes, total });
      }
    } catch (e) {
      if (isAbort(e, signal)) throw cancelledError(pkg.url);
      if (e instanceof IdpError) throw e;
      throw runtimeError(`${pkg.url}: the download broke off after ${bytes} bytes (${(e as Error).message})`);
    }
    if (pkg.size !== undefined && bytes !== pkg.size) throw formatError(pkg.url, `the package is ${bytes} bytes, the feed states ${pkg.size}`);
    const got = hash.digest();
    if (pkg.sha512 && !got.equals(pkg.sha512)) {
      throw formatError(pkg.url, `SHA512 mismatch: the feed states ${pkg.sha512.toString('base64')} (${pkg.hashSource}), the download has ${got.toString('base64')}`);
    }
    fs.fsyncSync(fd);
    ok = true;
    return got;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(dest, { force: true });
  }
}
