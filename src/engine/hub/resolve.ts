// From what a user wrote for a model to a local path — the one place Hub references are resolved
// (models/load.ts calls it for every load: CLI, engine process, extension).
//
//   1. An existing local path is that path, whatever it looks like.
//   2. Not a reference (reference.ts): returned as it is (the loader then reports it missing).
//   3. A reference whose revision the cache knows (a commit, or refs/<revision>) with a complete
//      snapshot (files.ts): that snapshot — no network.
//   4. HF_HUB_OFFLINE: a snapshot with config.json and the weights is enough; else a NOT_FOUND error.
//   5. Otherwise the Hub: the revision's commit and files (listing.ts), then each needed file missing
//      from the snapshot — its metadata (HEAD), its blob unless another revision already has it
//      (download.ts), its link. refs/<revision> is written last, once the snapshot is whole.

import * as fs from 'fs';
import * as path from 'path';
import { notFound } from '../errors';
import { RepoCache } from './cache-layout';
import { downloadBlob } from './download';
import { hubCacheDir, hubEnv, HubEnv } from './env';
import { cachedModel, planFiles, shardsOf } from './files';
import { fileMeta, FileMeta, Net } from './http';
import { listRevision } from './listing';
import { formatHubReference, HubReference, parseHubReference } from './reference';

export interface HubProgress {
  repo: string;
  /** The file being downloaded (a repository path). */
  file: string;
  fileBytes: number;
  fileSize?: number;
  /** Bytes of this batch so far, and in all (undefined where the Hub gave no size). */
  bytes: number;
  total?: number;
}

export interface HubOptions {
  onProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
  /** Settings (default: the environment, env.ts). */
  env?: HubEnv;
}

/** Where a Hub model was found. */
export interface HubSource {
  repo: string;
  revision: string;
  commit: string;
  /** The GGUF file chosen (a repository path); undefined for a transformers model. */
  file?: string;
  /** The snapshot folder. */
  snapshot: string;
  /** Bytes downloaded by this resolution (0: it came from the cache). */
  downloaded: number;
}

export interface ResolvedModel {
  /** A local file or folder for the loader. */
  path: string;
  /** Set when `path` came from a Hub reference. */
  hub?: HubSource;
  /** The reference as written, normalised (ORG/NAME[@REV][:QUANT]). */
  reference?: string;
}

/** Is `p` a local path (existing) or a Hub reference (not existing locally)? Decides nothing else. */
export function hubReferenceOf(p: string): HubReference | undefined {
  if (fs.existsSync(path.resolve(p))) return undefined;
  return parseHubReference(p);
}

/**
 * What loading the model `p` reads, for the confinement checks (server/request-paths.ts): `p`, or for a
 * Hub reference (not a local path) its repository folder in the HF cache, which it reads and may
 * download into.
 */
export function modelReadPath(p: string): string {
  const ref = hubReferenceOf(p);
  return ref ? new RepoCache(hubCacheDir(), ref.repo).folder : p;
}

/** See the top of this file. */
export async function resolveModel(p: string, o: HubOptions = {}): Promise<ResolvedModel> {
  const ref = hubReferenceOf(p);
  if (!ref) return { path: p };
  const hub = await resolveHub(ref, o);
  return { path: hub.file ? path.join(hub.snapshot, ...hub.file.split('/')) : hub.snapshot, hub, reference: formatHubReference(ref) };
}

/** Steps 3-5 of the top of this file for `ref`. */
export async function resolveHub(ref: HubReference, o: HubOptions = {}): Promise<HubSource> {
  const env = o.env ?? hubEnv();
  const what = formatHubReference(ref);
  const c = new RepoCache(env.cacheDir, ref.repo);
  const revision = ref.revision ?? 'main';
  const found = (commit: string, local: string): HubSource => {
    const snapshot = c.snapshot(commit);
    const file = local === snapshot ? undefined : path.relative(snapshot, local).split(path.sep).join('/');
    return { repo: ref.repo, revision, commit, file, snapshot, downloaded: 0 };
  };
  const known = c.commitFor(revision);
  if (known) {
    const hit = cachedModel(c, known, ref.quant, what);
    if (hit) return found(known, hit);
  }
  if (env.offline) {
    const usable = known ? cachedModel(c, known, ref.quant, what, true) : undefined;
    if (usable) return found(known!, usable);
    throw notFound(what, `not in the Hugging Face cache (${c.folder}${known ? `: the snapshot of ${known.slice(0, 12)} is incomplete` : ''}), ` +
      'and HF_HUB_OFFLINE is set, so it is not downloaded');
  }

  const net: Net = { env, signal: o.signal };
  const listing = await listRevision(net, ref.repo, revision, what);
  const commit = listing.commit;
  const plan = planFiles(listing.files, ref.quant, what);
  const fetcher = new SnapshotFetcher(net, c, commit, ref.repo, o.onProgress);
  let result: HubSource;
  if (plan.kind === 'gguf') {
    await fetcher.fetch([plan.file]);
    result = { repo: ref.repo, revision, commit, file: plan.file, snapshot: c.snapshot(commit), downloaded: 0 };
  } else {
    const files = [...plan.files];
    if (plan.index) {
      await fetcher.fetch([plan.index]);
      const listed = new Set(listing.files);
      const shards = shardsOf(c.snapshotFile(commit, plan.index));
      const missing = shards.find((s) => !listed.has(s));
      if (missing) throw notFound(what, `${plan.index} names the shard ${missing}, which the repository does not have`);
      files.push(...shards);
    }
    await fetcher.fetch(files);
    for (const f of plan.absent) c.markMissing(commit, f);
    result = { repo: ref.repo, revision, commit, snapshot: c.snapshot(commit), downloaded: 0 };
  }
  c.writeRef(revision, commit);
  result.downloaded = fetcher.downloaded;
  return result;
}

/** Fetches files of one snapshot: metadata of those missing first (for the batch's total), then each blob and link. */
class SnapshotFetcher {
  downloaded = 0;

  constructor(private net: Net, private c: RepoCache, private commit: string, private repo: string, private onProgress?: (p: HubProgress) => void) {}

  async fetch(files: string[]): Promise<void> {
    const todo: Array<{ file: string; meta: FileMeta }> = [];
    for (const file of files) {
      if (this.c.has(this.commit, file)) continue;
      const meta = await fileMeta(this.net, this.repo, this.commit, file, `${this.repo}/${file}`);
      todo.push({ file, meta });
    }
    const sizes = todo.map((t) => (this.c.has(this.commit, t.file) || fs.existsSync(this.c.blob(t.meta.etag)) ? 0 : t.meta.size));
    const total = sizes.every((s) => s !== undefined) ? (sizes as number[]).reduce((a, b) => a + b, 0) : undefined;
    let bytes = 0;
    for (const { file, meta } of todo) {
      let fileBytes = 0;
      const pointer = this.c.snapshotFile(this.commit, file);
      await downloadBlob(this.net, this.c, meta, pointer, (n) => {
        fileBytes += n;
        bytes += n;
        this.downloaded += n;
        this.onProgress?.({ repo: this.repo, file, fileBytes, fileSize: meta.size, bytes, total });
      });
      this.c.link(this.commit, file, meta.etag);
    }
  }
}
