// llama.cpp as a benchmark peer, through node-llama-cpp (exact pin below), installed on demand into
// a cache folder outside the project so that its ~730 MB never enter the project's dependencies:
//   $IDP_CACHE/peers/node-llama-cpp, else ~/.cache/idp-lab/peers/node-llama-cpp.
//
// Offline install: the npm package ships prebuilt llama.cpp binaries (optional dependency
// @node-llama-cpp/<platform>), so nothing has to be downloaded from GitHub or built. Its postinstall
// would only probe/build; we skip it (--ignore-scripts, and NODE_LLAMA_CPP_SKIP_DOWNLOAD=true which
// makes that postinstall a no-op), and load with getLlama({build: 'never', skipDownload: true}) so a
// missing binary is an error, never a download or a cmake build.
//
// Measurement (llamaCppDecode): greedy decoding with LlamaContextSequence.evaluate, which evaluates
// one token per step and yields the sampled next token. Timed as IDP Lab's generate() times itself:
// the prompt prefill and the first sampled token are excluded; the decode time covers the
// remaining tokens - 1 single-token steps (evaluate + greedy sample). CPU only (gpu: false).

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';

export const NODE_LLAMA_CPP_VERSION = '3.21.1';

export function peerDir(): string {
  const base = process.env.IDP_CACHE ? path.resolve(process.env.IDP_CACHE) : path.join(os.homedir(), '.cache', 'idp-lab');
  return path.join(base, 'peers', 'node-llama-cpp');
}

function installedVersion(dir: string): string | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** The platform package holding the prebuilt CPU binary (e.g. @node-llama-cpp/linux-x64). */
function prebuiltPackage(dir: string): string | undefined {
  const plat = process.platform === 'darwin' ? 'mac' : process.platform === 'win32' ? 'win' : process.platform;
  const name = `${plat}-${process.arch}${plat === 'mac' && process.arch === 'arm64' ? '-metal' : ''}`;
  const p = path.join(dir, 'node_modules', '@node-llama-cpp', name);
  return fs.existsSync(p) ? p : undefined;
}

/** Install node-llama-cpp@NODE_LLAMA_CPP_VERSION into peerDir() unless it is already there. Returns the folder. */
export function ensureNodeLlamaCpp(log: (msg: string) => void = (m) => console.error(m)): string {
  const dir = peerDir();
  if (installedVersion(dir) === NODE_LLAMA_CPP_VERSION && prebuiltPackage(dir)) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const pkg = path.join(dir, 'package.json');
  if (!fs.existsSync(pkg)) fs.writeFileSync(pkg, JSON.stringify({ name: 'idp-lab-peer-node-llama-cpp', private: true }, null, 2) + '\n');
  log(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} into ${dir} (once; ~730 MB, prebuilt binaries, no build)…`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = ['install', '--prefix', dir, `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`, '--save-exact',
    '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel', 'error'];
  try {
    execFileSync(npm, args, {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
    });
  } catch (e) {
    throw new Error(`npm ${args.join(' ')} failed (${(e as Error).message.split('\n')[0]}); llama.cpp numbers need the npm registry once`);
  }
  const v = installedVersion(dir);
  if (v !== NODE_LLAMA_CPP_VERSION) throw new Error(`node-llama-cpp install in ${dir} gave version ${v}, expected ${NODE_LLAMA_CPP_VERSION}`);
  if (!prebuiltPackage(dir)) throw new Error(`node-llama-cpp has no prebuilt binary for ${process.platform}-${process.arch} in ${dir}`);
  return dir;
}

// Kept as a real dynamic import: TypeScript would turn `import()` into require(), which cannot load ESM.
// node-llama-cpp is not a dependency of the project, so its API is used untyped here.
const importEsm = new Function('u', 'return import(u)') as (u: string) => Promise<any>;

let cached: Promise<{ mod: any; llama: any }> | undefined;

/** node-llama-cpp's module and its CPU llama (loaded once per process). */
export async function llamaInstance(): Promise<{ mod: any; llama: any }> {
  cached ??= (async () => {
    const dir = ensureNodeLlamaCpp();
    const root = path.join(dir, 'node_modules', 'node-llama-cpp');
    const meta = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const entry = meta.exports?.['.']?.import ?? meta.exports?.['.']?.default ?? meta.main ?? './dist/index.js';
    const mod = await importEsm(pathToFileURL(path.join(root, entry)).href);
    // maxThreads 0: no cap, so a context's `threads` is used exactly.
    const llama = await mod.getLlama({ gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, progressLogs: false, logLevel: 'error', maxThreads: 0 });
    return { mod, llama };
  })();
  return cached;
}

export interface LlamaCppDecodeOptions {
  /** Tokens to generate (the first comes from the prefill; tokens - 1 decode steps are timed). */
  tokens: number;
  threads: number;
  promptIds: number[];
  /** Timed repetitions (default 3); each starts from an empty KV cache. */
  runs?: number;
  /** Tokens of one untimed generation before the timed runs (default 0). */
  warmupTokens?: number;
}

export interface LlamaCppDecodeResult {
  /** Best decode tokens/s over the runs. */
  tokensPerSecond: number;
  /** Every run's decode tokens/s. */
  runsTokensPerSecond: number[];
  decodeTokens: number;
  /** Prefill (prompt + first token) of the best run, ms. */
  prefillMs: number;
  /** Greedy ids of the first run (the continuation, tokens long). */
  ids: number[];
  loadMs: number;
  threads: number;
  contextSize: number;
  version: string;
  buildType: string;
  llamaCppRelease: string;
  systemInfo: string;
  kvCacheType: string;
  flashAttention: string;
}

/** Greedy decode throughput of llama.cpp (CPU, `threads` threads) on a GGUF file. */
export async function llamaCppDecode(ggufPath: string, o: LlamaCppDecodeOptions): Promise<LlamaCppDecodeResult> {
  if (o.tokens < 2) throw new Error('llamaCppDecode: need at least 2 tokens (1 prefill + 1 decode step)');
  const { mod, llama } = await llamaInstance();
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: path.resolve(ggufPath), gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const want = o.promptIds.length + o.tokens + 1;
  const contextSize = Math.min(model.trainContextSize, Math.ceil(want / 256) * 256);
  if (want > contextSize) throw new Error(`llamaCppDecode: ${want} positions exceed the model's context of ${contextSize}`);
  const context = await model.createContext({ contextSize, sequences: 1, threads: { ideal: o.threads, min: o.threads } });
  try {
    const seq = context.getSequence();
    const runs: Array<{ tps: number; prefillMs: number; ids: number[] }> = [];
    if (o.warmupTokens) {
      const gen = seq.evaluate(o.promptIds, { temperature: 0, yieldEogToken: true });
      for (let i = 0; i < o.warmupTokens; i++) if ((await gen.next()).done) break;
      await gen.return(undefined);
    }
    for (let r = 0; r < (o.runs ?? 3); r++) {
      await seq.clearHistory();
      const ids: number[] = [];
      const gen = seq.evaluate(o.promptIds, { temperature: 0, yieldEogToken: true });
      const a = performance.now();
      let step = await gen.next();
      const b = performance.now();
      if (step.done) throw new Error('llama.cpp ended generation after the prompt');
      ids.push(step.value);
      while (ids.length < o.tokens) {
        step = await gen.next();
        if (step.done) break;
        ids.push(step.value);
      }
      const c = performance.now();
      await gen.return(undefined);
      if (ids.length < o.tokens) throw new Error(`llama.cpp stopped after ${ids.length} of ${o.tokens} tokens`);
      runs.push({ tps: ((o.tokens - 1) * 1000) / (c - b), prefillMs: b - a, ids });
    }
    const best = runs.reduce((x, y) => (y.tps > x.tps ? y : x));
    return {
      tokensPerSecond: best.tps,
      runsTokensPerSecond: runs.map((r) => r.tps),
      decodeTokens: o.tokens - 1,
      prefillMs: best.prefillMs,
      ids: runs[0].ids,
      loadMs,
      threads: context.idealThreads,
      contextSize: context.contextSize,
      version: NODE_LLAMA_CPP_VERSION,
      buildType: llama.buildType,
      llamaCppRelease: String(llama.llamaCppRelease?.release ?? ''),
      systemInfo: String(llama.systemInfo ?? ''),
      kvCacheType: String(mod.GgmlType?.[context.kvCacheKeyType] ?? context.kvCacheKeyType),
      flashAttention: String(context.flashAttention),
    };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}
