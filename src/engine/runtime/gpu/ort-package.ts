// What the bundled onnxruntime-node says about its CUDA provider files, read from the package itself
// (script/install-metadata.js, the data its own install script works from), so the files fetched always
// match the onnxruntime-node version in node_modules:
//
//   manifests['linux/x64:cuda12']   file name in the binding folder → { package, path inside the .nupkg }
//                                   (libonnxruntime_providers_{cuda,shared,tensorrt}.so from
//                                   runtimes/linux-x64/native/ of Microsoft.ML.OnnxRuntime.Gpu.Linux)
//   packages[<package>]             { name: the NuGet id, versions: [{ feed, version }] }
//   feeds[<feed>]                   { type: 'nuget', index: the NuGet v3 service index }
//
// Where the files go: the binding folder, bin/napi-v6/<platform>/<arch>/, beside onnxruntime_binding.node
// and libonnxruntime.so.1. ORT loads a shared provider by absolute path from the folder of the
// onnxruntime library itself (its "runtime path"), never from the library search path, so that folder
// is the only place the binding will find them.

import * as fs from 'fs';
import * as path from 'path';
import { formatError, unsupported } from '../../errors';

/** The install-metadata manifest this project uses (the only CUDA build onnxruntime-node 1.2x–1.30 lists). */
export const CUDA_MANIFEST = 'linux/x64:cuda12';
/** The default NuGet service index (onnxruntime-node's feed 'nuget'); IDP_NUGET_INDEX overrides it. */
export const NUGET_ORG_INDEX = 'https://api.nuget.org/v3/index.json';

export interface CudaPackagePlan {
  /** onnxruntime-node's version (its package.json). */
  ortVersion: string;
  /** NuGet package id, e.g. Microsoft.ML.OnnxRuntime.Gpu.Linux. */
  id: string;
  /** The package version onnxruntime-node pins (its install-metadata-versions.js). */
  version: string;
  /** The NuGet v3 service index to resolve it from. */
  index: string;
  /** Binding-folder file name → path inside the .nupkg. */
  files: { name: string; entry: string }[];
}

/** onnxruntime-node's folder in node_modules. */
export function ortRoot(): string {
  return path.dirname(require.resolve('onnxruntime-node/package.json'));
}

/**
 * Where onnxruntime-node keeps its native binaries for this platform (the binding folder). IDP_ORT_BIN_DIR
 * names another folder for the CUDA setup, its checks and the engines' library path (docs/gpu.md): the tests
 * point *IDP: Enable CUDA* at a temporary copy of the binding folder with it, never the real one.
 */
export function ortBinDir(): string {
  const over = process.env.IDP_ORT_BIN_DIR?.trim();
  if (over) return path.resolve(over);
  return path.join(ortRoot(), 'bin', 'napi-v6', process.platform, process.arch);
}

/** The CUDA provider files' names, in the binding folder. */
export const CUDA_PROVIDER_LIB = 'libonnxruntime_providers_cuda.so';

/** Is this a platform onnxruntime-node has CUDA provider files for? (linux/x64 only) */
export function cudaPlatformProblem(platform: string = process.platform, cpu: string = process.arch): string | undefined {
  if (`${platform}/${cpu}` === 'linux/x64') return undefined;
  return `the CUDA execution provider files exist for linux/x64 only (onnxruntime-node's install metadata); this is ${platform}/${cpu}`;
}

type Json = Record<string, unknown>;
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The plan for this machine, from onnxruntime-node's own metadata. `index` overrides the feed's service
 * index (default: IDP_NUGET_INDEX, else the metadata's nuget.org index). Throws UNSUPPORTED off linux/x64.
 */
export function cudaPackagePlan(opts: { index?: string; root?: string; platform?: string; arch?: string } = {}): CudaPackagePlan {
  const problem = cudaPlatformProblem(opts.platform, opts.arch);
  if (problem) throw unsupported(problem);
  const root = opts.root ?? ortRoot();
  const metaFile = path.join(root, 'script', 'install-metadata.js');
  const pkgFile = path.join(root, 'package.json');
  if (!fs.existsSync(metaFile)) throw formatError(metaFile, 'onnxruntime-node has no install metadata here: this version cannot say which CUDA provider files match it');
  const meta = require(metaFile) as unknown;
  const bad = (what: string) => formatError(metaFile, `unexpected install metadata: ${what}`);
  if (!isObj(meta) || !isObj(meta.manifests) || !isObj(meta.packages) || !isObj(meta.feeds)) throw bad('no manifests / packages / feeds');
  const manifest = meta.manifests[CUDA_MANIFEST];
  if (!isObj(manifest)) throw bad(`no '${CUDA_MANIFEST}' manifest`);
  const files: CudaPackagePlan['files'] = [];
  let pkgKey: string | undefined;
  for (const [rel, spec] of Object.entries(manifest)) {
    if (!isObj(spec) || typeof spec.package !== 'string' || typeof spec.path !== 'string') throw bad(`file ${rel} has no package / path`);
    const name = path.posix.normalize(rel);
    if (name.includes('/') || !/^[A-Za-z0-9_.+-]+$/.test(name)) throw bad(`file ${rel} is not a plain file name in the binding folder`);
    if (pkgKey !== undefined && spec.package !== pkgKey) throw bad('the CUDA files come from more than one package');
    pkgKey = spec.package;
    files.push({ name, entry: spec.path });
  }
  if (!pkgKey || files.length === 0) throw bad(`the '${CUDA_MANIFEST}' manifest lists no files`);
  const pkg = meta.packages[pkgKey];
  if (!isObj(pkg) || typeof pkg.name !== 'string' || !Array.isArray(pkg.versions)) throw bad(`package ${pkgKey} has no name / versions`);
  const first = pkg.versions.find((v): v is { feed: string; version: string } => isObj(v) && typeof v.feed === 'string' && typeof v.version === 'string');
  if (!first) throw bad(`package ${pkgKey} lists no version`);
  const feed = meta.feeds[first.feed];
  const metaIndex = isObj(feed) && typeof feed.index === 'string' ? feed.index : NUGET_ORG_INDEX;
  const ortVersion = String((JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as Json).version ?? '?');
  return {
    ortVersion, id: pkg.name, version: first.version, files,
    index: opts.index ?? (process.env.IDP_NUGET_INDEX?.trim() || metaIndex),
  };
}
