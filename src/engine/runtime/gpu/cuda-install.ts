// `idp gpu setup` / IDP: Enable CUDA: the CUDA execution provider's files, fetched as onnxruntime-node's
// own install script fetches them (ort-package.ts: the same NuGet package, version and files), verified
// and put in the binding folder.
//
//   1. The binding folder is locked (formats/output-lock.ts) for the whole run.
//   2. Files already there are judged against IDP Lab's record, <bin>/idp-cuda-provider.json: a file it
//      lists with the same size and SHA-256 is IDP Lab's and may be replaced; any other file of those
//      names (put there by onnxruntime-node's install script, or by hand) is never touched — the run is
//      refused with a DENIED error naming it. All three present and recorded for this version: done.
//   3. The package is resolved on the feed (nuget.ts) and its SHA512 read from the catalog. A feed that
//      states none is refused (UNSUPPORTED) unless `verify: false`.
//   4. The .nupkg is downloaded beside the files (same file system), checked against the hash, and only
//      the listed entries are extracted (nupkg.ts) to hidden staging files.
//   5. The record is written first, naming both what is there now and what is coming (so a run cut off
//      midway still owns every file it may have left), then each staging file is renamed over its name
//      (atomic), then the record is rewritten with the new files alone. The .nupkg and staging files are
//      removed whatever happens; a cancel (AbortSignal) leaves the folder as it was.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { denied, formatError, IdpError, inputError, notFound, unsupported } from '../../errors';
import { lockOutput } from '../../formats/output-lock';
import { cudaPackagePlan, ortBinDir, CudaPackagePlan } from './ort-package';
import { cancelledError, downloadPackage, resolvePackage } from './nuget';
import { extractEntries } from './nupkg';

export const CUDA_RECORD = 'idp-cuda-provider.json';

interface FileRecord { entry: string; size: number; sha256: string }

export interface CudaRecord {
  tool: 'idp-lab';
  kind: 'cuda-provider';
  package: string;
  version: string;
  ortVersion: string;
  url: string;
  /** base64 SHA512 of the .nupkg, as downloaded. */
  sha512: string;
  verified: boolean;
  installedAt: string;
  files: Record<string, FileRecord>;
  /** Files being put in place by a run that has not finished (step 5). */
  pending?: Record<string, FileRecord>;
}

export interface SetupProgress {
  phase: 'resolve' | 'download' | 'extract' | 'install';
  message: string;
  /** Of the download: bytes so far and the total when known. */
  bytes?: number;
  total?: number;
}

export interface CudaSetupOptions {
  /** The folder to install into (default: onnxruntime-node's binding folder; tests use a copy). */
  binDir?: string;
  /** NuGet service index (default: IDP_NUGET_INDEX, else onnxruntime-node's nuget.org index). */
  index?: string;
  /** Refuse a package whose feed states no hash (default true). */
  verify?: boolean;
  /** Fetch and install again even when this version's files are in place. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: SetupProgress) => void;
  /** onnxruntime-node's folder, whose install metadata is read (default: the one in node_modules). */
  ortRoot?: string;
}

export interface CudaSetupResult {
  dir: string;
  files: string[];
  package: string;
  version: string;
  url?: string;
  verified: boolean;
  /** Where the hash came from, or why there was none. */
  hashSource?: string;
  /** Nothing to do: this version's files were already in place. */
  already: boolean;
}

const recordPath = (dir: string) => path.join(dir, CUDA_RECORD);

/** IDP Lab's record in `dir`, undefined when there is none; a damaged one is a FORMAT error. */
export function readCudaRecord(dir: string): CudaRecord | undefined {
  const file = recordPath(dir);
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > 1 << 20) throw formatError(file, 'over 1 MB: not a record IDP Lab wrote');
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let r: CudaRecord;
  try {
    r = JSON.parse(text) as CudaRecord;
  } catch (e) {
    throw formatError(file, `damaged (${(e as Error).message}); remove it and the files it names by hand`);
  }
  if (r?.tool !== 'idp-lab' || r.kind !== 'cuda-provider' || typeof r.files !== 'object' || r.files === null) throw formatError(file, 'not a record of IDP Lab\'s CUDA provider files');
  return r;
}

function writeRecord(dir: string, r: CudaRecord): void {
  const file = recordPath(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(r, null, 2) + '\n');
  const fd = fs.openSync(tmp, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Is the file at `file` the one `rec` describes? (size first, then the SHA-256) */
function matches(file: string, rec: FileRecord | undefined): boolean {
  if (!rec) return false;
  const st = fs.lstatSync(file);
  return st.isFile() && st.size === rec.size && sha256File(file) === rec.sha256;
}

type FileState = 'absent' | 'ours' | 'foreign';

/** Each planned file in `dir`: absent, IDP Lab's (recorded, unchanged) or someone else's. */
function fileStates(dir: string, plan: CudaPackagePlan, rec: CudaRecord | undefined): Map<string, FileState> {
  const out = new Map<string, FileState>();
  for (const { name } of plan.files) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file) && !isLink(file)) out.set(name, 'absent');
    else out.set(name, matches(file, rec?.files[name]) || matches(file, rec?.pending?.[name]) ? 'ours' : 'foreign');
  }
  return out;
}

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function checkFolder(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw notFound(dir, 'onnxruntime-node\'s binding folder is not there (is onnxruntime-node installed?)');
  }
  if (!st.isDirectory()) throw notFound(dir, 'not a folder');
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw denied(dir, 'this user cannot write here; run the setup as the user that installed onnxruntime-node (or IDP Lab)');
  }
}

/** Fetches, verifies and installs the CUDA provider files (see the top of this file). */
export async function setupCuda(opts: CudaSetupOptions = {}): Promise<CudaSetupResult> {
  const plan = cudaPackagePlan({ index: opts.index, root: opts.ortRoot });
  const dir = path.resolve(opts.binDir ?? ortBinDir());
  const verify = opts.verify ?? true;
  const say = opts.onProgress ?? (() => undefined);
  if (!/^https?:\/\/[^/]/i.test(plan.index)) throw inputError('the NuGet service index (IDP_NUGET_INDEX, --index) must be an http(s) URL', plan.index);
  checkFolder(dir);
  const lock = lockOutput(recordPath(dir));
  const nupkg = path.join(dir, `.idp-cuda-${process.pid}-${crypto.randomBytes(4).toString('hex')}.nupkg`);
  const staging = plan.files.map((f) => ({ ...f, file: path.join(dir, `.${f.name}.idp-partial-${process.pid}`) }));
  try {
    const rec = readCudaRecord(dir);
    const states = fileStates(dir, plan, rec);
    const foreign = [...states].filter(([, s]) => s === 'foreign').map(([n]) => path.join(dir, n));
    if (foreign.length) {
      throw denied(foreign[0], `exists and was not installed by IDP Lab (${recordPath(dir)} has no matching record)` +
        `${foreign.length > 1 ? `, as ${foreign.slice(1).map((f) => path.basename(f)).join(', ')}` : ''}; it is left alone — ` +
        'remove these files yourself if they should be replaced (they may come from onnxruntime-node\'s own install script)');
    }
    const allOurs = [...states.values()].every((s) => s === 'ours');
    if (allOurs && rec && rec.package === plan.id && rec.version === plan.version && !opts.force) {
      return { dir, files: plan.files.map((f) => f.name), package: plan.id, version: plan.version, url: rec.url, verified: rec.verified, already: true };
    }
    if (opts.signal?.aborted) throw cancelledError(plan.index);

    say({ phase: 'resolve', message: `resolving ${plan.id} ${plan.version} on ${plan.index}` });
    const pkg = await resolvePackage(plan.index, plan.id, plan.version, opts.signal);
    if (!pkg.sha512 && verify) {
      throw unsupported(`the feed states no SHA512 for ${plan.id} ${plan.version} (${pkg.hashSource}), so the download could not be verified; ` +
        'nothing was installed. Use a feed that publishes packageHash (nuget.org does), or pass --no-verify to install it unverified', pkg.url);
    }
    say({ phase: 'download', message: `downloading ${pkg.url}`, bytes: 0, total: pkg.size });
    const sha512 = await downloadPackage(pkg, nupkg, {
      signal: opts.signal,
      onProgress: (p) => say({ phase: 'download', message: `downloading ${pkg.url}`, bytes: p.bytes, total: p.total }),
    });
    say({ phase: 'extract', message: `extracting ${plan.files.map((f) => f.name).join(', ')}` });
    const got = await extractEntries(nupkg, staging, pkg.url, { signal: opts.signal });
    if (opts.signal?.aborted) throw cancelledError(pkg.url);

    say({ phase: 'install', message: `installing into ${dir}` });
    const files: Record<string, FileRecord> = {};
    for (const s of staging) {
      const x = got.find((g) => g.file === s.file)!;
      files[s.name] = { entry: s.entry, size: x.size, sha256: x.sha256 };
    }
    const next: CudaRecord = {
      tool: 'idp-lab', kind: 'cuda-provider', package: plan.id, version: plan.version, ortVersion: plan.ortVersion,
      url: pkg.url, sha512: sha512.toString('base64'), verified: !!pkg.sha512, installedAt: new Date().toISOString(), files,
    };
    writeRecord(dir, { ...next, files: rec?.files ?? {}, pending: files });
    for (const s of staging) fs.renameSync(s.file, path.join(dir, s.name));
    writeRecord(dir, next);
    return { dir, files: plan.files.map((f) => f.name), package: plan.id, version: plan.version, url: pkg.url, verified: next.verified, hashSource: pkg.hashSource, already: false };
  } catch (e) {
    if (e instanceof IdpError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'EACCES' || (e as NodeJS.ErrnoException).code === 'EPERM') throw denied(dir, (e as Error).message);
    throw e;
  } finally {
    fs.rmSync(nupkg, { force: true });
    for (const s of staging) fs.rmSync(s.file, { force: true });
    lock.release();
  }
}

export interface CudaRemoveResult { dir: string; removed: string[]; kept: string[] }

/** Removes the files IDP Lab installed (unchanged ones only) and its record; others are kept and named. */
export function removeCuda(opts: { binDir?: string } = {}): CudaRemoveResult {
  const dir = path.resolve(opts.binDir ?? ortBinDir());
  const lock = lockOutput(recordPath(dir));
  try {
    const rec = readCudaRecord(dir);
    if (!rec) return { dir, removed: [], kept: [] };
    const removed: string[] = [];
    const kept: string[] = [];
    const names = new Set([...Object.keys(rec.files), ...Object.keys(rec.pending ?? {})]);
    for (const name of names) {
      if (path.basename(name) !== name) continue;   // a record naming another folder is not acted on
      const file = path.join(dir, name);
      if (!fs.existsSync(file)) continue;
      if (matches(file, rec.files[name]) || matches(file, rec.pending?.[name])) {
        fs.rmSync(file);
        removed.push(name);
      } else kept.push(name);
    }
    fs.rmSync(recordPath(dir));
    return { dir, removed, kept };
  } finally {
    lock.release();
  }
}

/** What the CUDA provider needs of the files (the TensorRT provider's library is fetched too, as onnxruntime-node does, but CUDA runs without it). */
export const CUDA_NEEDED_FILES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] as const;

export interface CudaFilesStatus {
  dir: string;
  /** Every planned file present (TensorRT's included). */
  present: string[];
  /** The needed ones (CUDA_NEEDED_FILES) that are not there. */
  missing: string[];
  /** IDP Lab's record, when it installed them: package and version. */
  installedBy?: { package: string; version: string; verified: boolean };
  /** onnxruntime-node's pinned package version, to compare with installedBy.version. */
  wanted?: { package: string; version: string };
}

/** Which CUDA provider files `dir` has (no hashing: cheap enough for every start). */
export function cudaFilesStatus(opts: { binDir?: string; ortRoot?: string } = {}): CudaFilesStatus {
  const dir = path.resolve(opts.binDir ?? ortBinDir());
  let plan: CudaPackagePlan | undefined;
  try {
    plan = cudaPackagePlan({ root: opts.ortRoot });
  } catch {
    plan = undefined;
  }
  const names = plan?.files.map((f) => f.name) ?? [...CUDA_NEEDED_FILES];
  const present = names.filter((n) => fs.existsSync(path.join(dir, n)));
  let installedBy: CudaFilesStatus['installedBy'];
  try {
    const rec = readCudaRecord(dir);
    if (rec) installedBy = { package: rec.package, version: rec.version, verified: rec.verified };
  } catch {
    installedBy = undefined;
  }
  return {
    dir, present, missing: CUDA_NEEDED_FILES.filter((n) => !present.includes(n)), installedBy,
    wanted: plan ? { package: plan.id, version: plan.version } : undefined,
  };
}
