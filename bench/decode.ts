// `npm run bench:decode`: greedy decode throughput of IDP Lab vs llama.cpp (node-llama-cpp, same
// thread count, CPU) on stories260K and on a ~100M-parameter random-weight Llama written in both
// formats by write-random-llama.ts; plus IDP Lab's peak RSS against weights + KV cache bytes.
//
// Each (engine, model, threads) runs in its own child process (this script with --child), so the
// engines never share a process and every peak RSS (VmHWM, see maxRss) belongs to one
// model and one engine. A child loads the model, decodes a few warm-up tokens, then decodes once
// from an empty cache; rounds alternate the engines and the best of `runs` rounds is reported. Decode tokens/s excludes loading, session creation
// and the prompt prefill (which also produces the first token): (tokens - 1) single-token steps.
// IDP Lab is timed by generate() itself (timings.decode_tokens_per_s), with no tokenizer so that
// neither engine detokenizes; llama.cpp by LlamaContextSequence.evaluate (peers/node-llama-cpp.ts).
//
// 4-bit rows (--models … q4): the same random Llama as a Q4_0 GGUF (every matrix Q4_0, written by
// write-random-llama.ts) for llama.cpp, and two IDP Lab runs: (a) that GGUF loaded directly (its Q4_0
// blocks converted into MatMulNBits, models/quant/gguf-nbits-load.ts) and (b) its own 4-bit folder,
// `idp compress --method rtn --bits 4 --group-size 32 --sym --quantize-head` of the F32 model (written
// once into the bench cache). Goal: IDP ≥ 1.0× llama.cpp and peak RSS ≤ llama.cpp's + 64 MiB. Beside them,
// without a goal, (c) the same with group size 128 (`idp compress`'s default for these shapes: 4.25 bits
// per weight against Q4_0's 4.5, so faster and coarser; its top-1 agreement with F32 says by how much).
// K-quant row (--models … q4k): the same model as a Q4_K_M-like GGUF (llama.cpp's Q4_K_M mix of Q4_K
// and Q6_K, written by the round-to-nearest writer formats/ggml-quantize.ts, not llama.cpp's scale
// search) run by llama.cpp and by IDP Lab (loaded directly). Every 4-bit row of the 100M model also
// reports top-1 agreement with the F32 model: IDP Lab's F32 greedy continuation teacher-forced through
// the 4-bit model, the share of positions where the 4-bit argmax is the F32 model's token.
// ~1B row (--models 1b, opt-in): a Llama-3.2-1B-shaped random model (LLAMA_1B_SPEC) written only as a
// Q4_0 GGUF, one tensor at a time (no F32 copy on disk or in memory), run by llama.cpp and by IDP Lab
// loading that GGUF; goal ≥ 0.9× llama.cpp. Its token count is --random-tokens.
//
// Options: --threads 1,2  --runs 3  --stories-tokens 256  --random-tokens 128  --models stories,random,q4,q4k[,1b]
//          --random-prompt N (decode after an N-token prompt on the random model; default 5)  --out FILE
//          --no-llama-cpp   Environment: IDP_DATA (data folder), IDP_CACHE (caches).
// Writes bench/results/decode.json (overwritten each run), or --out FILE.

import { fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ensureRandomLlama, ensureRandomLlamaGguf, ensureRandomLlamaQ4_0, ensureRandomLlamaQ4_K_M, DEFAULT_SPEC, LLAMA_1B_SPEC } from './write-random-llama';
import { ensureNodeLlamaCpp, llamaCppDecode, NODE_LLAMA_CPP_VERSION } from './peers/node-llama-cpp';
import { cpuModel, pages } from './machine';
import { relaunchWithHugePages, withoutHugePages } from '../src/engine/runtime/huge-pages';

type Engine = 'idp' | 'llama.cpp' | 'idp-check' | 'idp-compress' | 'idp-convert';

interface ChildTask {
  engine: Engine;
  model: string;        // what the engine loads (IDP: folder or file; llama.cpp: GGUF)
  threads: number;
  tokens: number;
  prompt: number[];
  runs: number;
  /** Untimed tokens generated once before the timed runs (warms caches, thread pools, allocators). */
  warmup: number;
  /** idp-check: the token ids to teacher-force (llama.cpp's greedy continuation). */
  forced?: number[];
  /** idp-compress: the folder to write (`model` is the F32 source) and its group size (default 32). */
  out?: string;
  groupSize?: number;
}

interface CheckResult {
  /** Positions where IDP Lab's argmax equals llama.cpp's token, given llama.cpp's continuation as input. */
  matches: number;
  of: number;
  /** Mismatches: IDP's argmax and how far (in logits) llama.cpp's token is below it. */
  mismatches: Array<{ index: number; llamaCpp: number; idp: number; marginLogits: number }>;
}

interface ChildResult {
  engine: Engine; threads: number; tokensPerSecond: number; runsTokensPerSecond: number[]; decodeTokens: number;
  prefillMs: number; ids: number[]; loadMs: number; peakRssBytes: number; baselineRssBytes: number;
  weightBytes?: number; kvBytes?: number; parameters?: number; details?: Record<string, unknown>;
}

function repoRoot(): string {
  for (let d = __dirname; ; d = path.dirname(d)) {
    const pkg = path.join(d, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'idp-lab') return d;
    if (path.dirname(d) === d) throw new Error(`no idp-lab package.json above ${__dirname}`);
  }
}

const ROOT = repoRoot();
const dataDir = () => path.resolve(process.env.IDP_DATA ?? path.join(ROOT, '..', 'shared', 'data'));
/**
 * Peak RSS of this process in bytes: VmHWM of /proc/self/status on Linux. (getrusage's maxRSS is not
 * used there: Linux carries the high-water mark of the pre-exec copy of the parent into a forked
 * child, so a child of a big parent would report the parent's size.)
 */
function maxRss(): number {
  try {
    const m = /^VmHWM:\s*(\d+)\s*kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS * 1024;
}
const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

// ---------------------------------------------------------------------------------------------
// Child side

async function runIdp(t: ChildTask): Promise<ChildResult> {
  const baseline = maxRss();
  // Required here, not at the top: the parent and llama.cpp children never load onnxruntime.
  const { loadModel } = await import('../src/engine/models/load');
  const { CausalLM } = await import('../src/engine/runtime/lm');
  const { generate } = await import('../src/engine/runtime/generate');
  const ortLoaded = maxRss();
  const t0 = performance.now();
  const model = await loadModel(t.model);
  const loadMs = performance.now() - t0;
  const lm = new CausalLM(model, { threads: t.threads });
  const runs: Array<{ tps: number; prefillMs: number; ids: number[] }> = [];
  if (t.warmup > 0) await generate(lm, undefined, [t.prompt], { maxTokens: t.warmup, stopIds: [] });
  for (let r = 0; r < t.runs; r++) {
    const res = await generate(lm, undefined, [t.prompt], { maxTokens: t.tokens, stopIds: [] });
    if (res.rows[0].ids.length !== t.tokens) throw new Error(`IDP Lab generated ${res.rows[0].ids.length} of ${t.tokens} tokens (${res.rows[0].finish})`);
    runs.push({ tps: res.timings.decode_tokens_per_s, prefillMs: res.timings.prefill_ms, ids: res.rows[0].ids });
  }
  const best = runs.reduce((x, y) => (y.tps > x.tps ? y : x));
  const c = model.config;
  let weightBytes = 0, parameters = 0;
  for (const w of model.weights.values()) { weightBytes += w.byteLength; parameters += w.shape.reduce((a, b) => a * b, 1); }
  for (const q of model.quant?.modules.values() ?? []) {   // quantized matrices: the bytes the runtime maps
    parameters += q.inFeatures * q.outFeatures;
    for (const r of [q.b, q.scales, q.zeroPoints, q.offsets, q.perm, q.dequantized]) weightBytes += r?.byteLength ?? 0;
  }
  // KV cache at the end of the run: keys + values, F32, every layer, prompt + generated positions.
  const kvBytes = 2 * c.numLayers * c.numKvHeads * c.headDim * 4 * (t.prompt.length + t.tokens);
  return {
    engine: 'idp', threads: t.threads, tokensPerSecond: best.tps, runsTokensPerSecond: runs.map((r) => r.tps),
    decodeTokens: t.tokens - 1, prefillMs: best.prefillMs, ids: runs[0].ids, loadMs, peakRssBytes: maxRss(),
    baselineRssBytes: ortLoaded, weightBytes, kvBytes, parameters,
    details: {
      nodeRssBeforeEngineBytes: baseline, format: model.format, weightDtypes: [...new Set([...model.weights.values()].map((w) => w.dtype))],
      ...(model.quant ? { quantization: model.quant.method === 'gguf' ? model.quant.ggmlTypes : `gptq ${model.quant.bits}-bit g${model.quant.groupSize}`, quantizedModules: model.quant.modules.size } : {}),
    },
  };
}

async function runLlamaCpp(t: ChildTask): Promise<ChildResult> {
  const baseline = maxRss();
  const r = await llamaCppDecode(t.model, { tokens: t.tokens, threads: t.threads, promptIds: t.prompt, runs: t.runs, warmupTokens: t.warmup });
  const { tokensPerSecond, runsTokensPerSecond, decodeTokens, prefillMs, ids, loadMs, ...details } = r;
  return { engine: 'llama.cpp', threads: r.threads, tokensPerSecond, runsTokensPerSecond, decodeTokens, prefillMs, ids, loadMs, peakRssBytes: maxRss(), baselineRssBytes: baseline, details };
}

/** Teacher-forced check: IDP Lab's logits over prompt + llama.cpp's continuation, argmax per position. */
async function runCheck(t: ChildTask): Promise<CheckResult> {
  const { loadModel } = await import('../src/engine/models/load');
  const { CausalLM } = await import('../src/engine/runtime/lm');
  const forced = t.forced!;
  const lm = new CausalLM(await loadModel(t.model), { threads: t.threads });
  const [logits] = await lm.logits([[...t.prompt, ...forced.slice(0, -1)]]);
  const V = lm.config.vocabSize;
  const out: CheckResult = { matches: 0, of: forced.length, mismatches: [] };
  for (let k = 0; k < forced.length; k++) {
    const row = logits.subarray((t.prompt.length - 1 + k) * V, (t.prompt.length + k) * V);
    let best = 0;
    for (let i = 1; i < V; i++) if (row[i] > row[best]) best = i;
    if (best === forced[k]) out.matches++;
    else out.mismatches.push({ index: k, llamaCpp: forced[k], idp: best, marginLogits: +(row[best] - row[forced[k]]).toPrecision(3) });
  }
  return out;
}

/** A 4-bit folder of the F32 model (RTN, the task's group size, symmetric, quantized head), written in a child. */
async function runCompress(t: ChildTask): Promise<{ out: string; seconds: number }> {
  const { compressModel } = await import('../src/engine/compress/compress');
  const r = await compressModel(t.model, { method: 'rtn', bits: 4, groupSize: t.groupSize ?? 32, sym: true, quantizeHead: true, out: t.out!, threads: t.threads });
  return { out: r.out, seconds: r.totalSeconds };
}

/**
 * A GGUF's one-time conversion into IDP Lab's cache (models/convert.ts; its matrices into MatMulNBits),
 * run once before the timed rounds so that every round measures a load from the cache.
 */
async function runConvert(t: ChildTask): Promise<{ seconds: number; peakRssBytes: number; baselineRssBytes: number }> {
  const { loadModel } = await import('../src/engine/models/load');
  const baselineRssBytes = maxRss();
  const t0 = performance.now();
  await loadModel(t.model);
  return { seconds: (performance.now() - t0) / 1000, peakRssBytes: maxRss(), baselineRssBytes };
}

async function childMain(task: ChildTask): Promise<void> {
  const res = task.engine === 'idp' ? await runIdp(task) : task.engine === 'idp-check' ? await runCheck(task)
    : task.engine === 'idp-compress' ? await runCompress(task) : task.engine === 'idp-convert' ? await runConvert(task) : await runLlamaCpp(task);
  await new Promise<void>((ok) => process.send!(res, () => ok()));
  process.exit(0);  // llama.cpp / ORT thread pools would otherwise keep the child alive a while
}

// ---------------------------------------------------------------------------------------------
// Parent side

function runChild<R = ChildResult>(task: ChildTask): Promise<R> {
  return new Promise((resolve, reject) => {
    // IDP Lab runs with the huge pages its CLI and extension give it; llama.cpp as it ships (without them).
    const env = task.engine === 'llama.cpp' ? withoutHugePages(process.env) : process.env;
    const child = fork(__filename, ['--child', JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env });
    let result: R | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20 * 60_000);
    child.on('message', (m) => { result = m as R; });
    child.on('error', reject);
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(new Error(`${task.engine} child for ${path.basename(task.model)} (threads ${task.threads}) exited with ${sig ?? code} and no result`));
    });
  });
}

function machine(): Record<string, unknown> {
  const ortPkg = JSON.parse(fs.readFileSync(require.resolve('onnxruntime-node/package.json', { paths: [ROOT] }), 'utf8'));
  return {
    cpu: cpuModel(), pages: pages(), nproc: os.availableParallelism?.() ?? os.cpus().length, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${process.platform}-${process.arch}`, kernel: os.release(), node: process.version,
    onnxruntimeNode: ortPkg.version, nodeLlamaCpp: NODE_LLAMA_CPP_VERSION, loadAverageAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

const WARMUP_TOKENS = 8;

/** One engine's rounds → best tokens/s, every round's figure, the highest peak RSS, the first round's ids. */
function bestOf(rs: ChildResult[]): ChildResult {
  const best = rs.reduce((x, y) => (y.tokensPerSecond > x.tokensPerSecond ? y : x));
  return {
    ...best, ids: rs[0].ids, runsTokensPerSecond: rs.flatMap((r) => r.runsTokensPerSecond),
    peakRssBytes: Math.max(...rs.map((r) => r.peakRssBytes)), baselineRssBytes: Math.min(...rs.map((r) => r.baselineRssBytes)),
  };
}

function leadingAgreement(a: number[], b: number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

const MODEL_KEYS = ['stories', 'random', 'q4', 'q4k', '1b'];

interface Args { threads: number[]; runs: number; storiesTokens: number; randomTokens: number; randomPrompt: number; models: string[]; llamaCpp: boolean; out?: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { threads: [1, 2], runs: 3, storiesTokens: 256, randomTokens: 128, randomPrompt: 5, models: ['stories', 'random', 'q4', 'q4k'], llamaCpp: true };
  for (let i = 0; i < argv.length; i++) {
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`); return argv[++i]; };
    const int = (s: string) => { const n = Number(s); if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${s}`); return n; };
    switch (argv[i]) {
      case '--threads': a.threads = v().split(',').map(int); break;
      case '--runs': a.runs = int(v()); break;
      case '--stories-tokens': a.storiesTokens = int(v()); break;
      case '--random-tokens': a.randomTokens = int(v()); break;
      case '--random-prompt': a.randomPrompt = int(v()); break;
      case '--out': a.out = path.resolve(v()); break;
      case '--models': a.models = v().split(','); for (const m of a.models) if (!MODEL_KEYS.includes(m)) throw new Error(`unknown model ${m} (one of ${MODEL_KEYS.join(', ')})`); break;
      case '--no-llama-cpp': a.llamaCpp = false; break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/decode.ts)`);
    }
  }
  return a;
}

/** The random model's prompt: BOS and n − 1 ids spread over the vocabulary (the first five as in earlier runs). */
function randomPrompt(n: number): number[] {
  const first = [1, 400, 1000, 5000, 20000];
  return Array.from({ length: n }, (_, i) => (i < first.length ? first[i] : 3 + ((i * 7919) % 31000)));
}

/**
 * One model for llama.cpp (`gguf`) and one or more IDP Lab variants of it (label → what IDP loads);
 * `f32`: the F32 folder the quantized variants' top-1 agreement is measured against; `goal`: the
 * tokens/s ratio to llama.cpp the issue asks for.
 */
interface BenchModel {
  name: string; idp: Array<{ label: string; path: string; goal?: null }>; gguf: string; tokens: number; prompt: number[]; reference?: number[];
  quantized: boolean; f32?: string; goal: number;
}

async function benchModels(a: Args): Promise<BenchModel[]> {
  const out: BenchModel[] = [];
  if (a.models.includes('stories')) {
    const dir = path.join(dataDir(), 'models', 'stories260K');
    const gguf = path.join(dir, 'stories260K.gguf');
    if (!fs.existsSync(gguf)) {
      console.log(`stories260K: skipped, ${gguf} not found (set IDP_DATA to the data folder)`);
    } else {
      let reference: number[] | undefined;
      const refFile = path.join(dir, 'reference_greedy.json');
      if (fs.existsSync(refFile)) reference = (JSON.parse(fs.readFileSync(refFile, 'utf8')).generated_ids as number[]);
      out.push({ name: 'stories260K', idp: [{ label: 'F32', path: gguf }], gguf, tokens: a.storiesTokens, prompt: [1], reference, quantized: false, goal: 5 });
    }
  }
  if (a.models.includes('random') || a.models.includes('q4') || a.models.includes('q4k')) {
    const t0 = Date.now();
    const r = ensureRandomLlama(DEFAULT_SPEC);
    console.log(`random Llama (${(r.parameters / 1e6).toFixed(1)}M params, F32): ${r.written ? `written in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'cached'} at ${r.dir}`);
    if (a.models.includes('random')) out.push({ name: `random-${Math.round(r.parameters / 1e6)}M`, idp: [{ label: 'F32', path: r.hfDir }], gguf: r.gguf, tokens: a.randomTokens, prompt: randomPrompt(a.randomPrompt), quantized: false, goal: 1 });
  }
  if (a.models.includes('q4')) {
    const r = ensureRandomLlama(DEFAULT_SPEC);
    const t0 = Date.now();
    const q = ensureRandomLlamaQ4_0(DEFAULT_SPEC);
    console.log(`random Llama, Q4_0 GGUF: ${q.written ? `written in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'cached'} at ${q.file}`);
    // g32: Q4_0's blocks (4.5 bits per weight with fp16 scales; IDP Lab stores fp32 scales: 5); g128: what
    // `idp compress` picks by default for these shapes (4.25 bits per weight) — fewer bits than Q4_0, so a
    // row beside the like-for-like one, with its own top-1 agreement, never in its place.
    const folders = [32, 128].map((groupSize) => ({ groupSize, dir: path.join(r.dir, `rtn4-g${groupSize}-head`) }));
    for (const { groupSize, dir } of folders) {
      if (fs.existsSync(path.join(dir, 'model.safetensors'))) continue;
      const c = await runChild<{ out: string; seconds: number }>({ engine: 'idp-compress', model: r.hfDir, out: dir, groupSize, threads: 1, tokens: 0, prompt: [], runs: 0, warmup: 0 });
      console.log(`random Llama, IDP Lab 4-bit folder (rtn, group ${groupSize}, --quantize-head): written in ${c.seconds.toFixed(1)} s at ${c.out}`);
    }
    out.push({
      name: `random-${Math.round(r.parameters / 1e6)}M-q4`, gguf: q.file, tokens: a.randomTokens, prompt: randomPrompt(a.randomPrompt),
      idp: [{ label: 'Q4_0 GGUF', path: q.file }, { label: 'rtn4+head', path: folders[0].dir }, { label: 'rtn4-g128+head', path: folders[1].dir, goal: null }],
      quantized: true, f32: r.hfDir, goal: 1,
    });
  }
  if (a.models.includes('q4k')) {
    const r = ensureRandomLlama(DEFAULT_SPEC);
    const t0 = Date.now();
    const q = ensureRandomLlamaQ4_K_M(DEFAULT_SPEC);
    console.log(`random Llama, Q4_K_M-like GGUF (round-to-nearest K-quants): ${q.written ? `written in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'cached'} at ${q.file}`);
    out.push({
      name: `random-${Math.round(r.parameters / 1e6)}M-q4km`, gguf: q.file, tokens: a.randomTokens, prompt: randomPrompt(a.randomPrompt),
      idp: [{ label: 'Q4_K_M GGUF', path: q.file }], quantized: true, f32: r.hfDir, goal: 1,
    });
  }
  if (a.models.includes('1b')) {
    const t0 = Date.now();
    const q = ensureRandomLlamaGguf(LLAMA_1B_SPEC, 'Q4_0', { f32: false });
    console.log(`random Llama-3.2-1B-like (${(q.parameters / 1e9).toFixed(2)}B params), Q4_0 GGUF only: ${q.written ? `written in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'cached'} at ${q.file}`);
    out.push({
      name: `random-${(q.parameters / 1e9).toFixed(1)}B-q4`, gguf: q.file, tokens: a.randomTokens, prompt: randomPrompt(a.randomPrompt),
      idp: [{ label: 'Q4_0 GGUF', path: q.file }], quantized: true, goal: 0.9,
    });
  }
  return out;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const mach = machine();
  console.log(`machine: ${mach.cpu}, ${mach.nproc} CPUs, ${mach.memoryGiB} GiB, ${mach.platform}, Node ${mach.node}, onnxruntime-node ${mach.onnxruntimeNode}; load average ${(mach.loadAverageAtStart as number[]).join(' ')} (other work on the machine skews the figures)`);
  try {
    if (a.llamaCpp) ensureNodeLlamaCpp((m) => console.log(m));
  } catch (e) {
    console.log(`llama.cpp: skipped — ${(e as Error).message}`);
    a.llamaCpp = false;
  }
  console.log('llama2.c: skipped — its run.c is not on this machine and nothing may be downloaded here.');
  const models = await benchModels(a);
  const rows: Array<Record<string, unknown>> = [];
  const lines: string[] = [];
  const agreements: Record<string, Agreement> = {};
  for (const m of models) {
    // Rounds alternate the engines (IDP, llama.cpp, IDP, …), each run in a fresh child after a
    // warm-up, so that load from other work on the machine hits both alike; best of `runs` rounds.
    // A GGUF, and a GPTQ folder's 4-bit matrices, are converted into IDP Lab's cache on their first load: once
    // here, untimed, so that no round's time or peak RSS includes it.
    for (const variant of m.idp.filter((x) => m.quantized || x.path.endsWith('.gguf'))) {
      const { cacheFolderFor } = await import('../src/engine/models/convert');
      if (variant.path.endsWith('.gguf') && fs.existsSync(cacheFolderFor(variant.path))) continue;
      const c = await runChild<{ seconds: number; peakRssBytes: number; baselineRssBytes: number }>({ engine: 'idp-convert', model: variant.path, threads: 1, tokens: 0, prompt: [], runs: 0, warmup: 0 });
      console.log(`${m.name} ${variant.label}: loaded once, untimed, converting into IDP Lab's cache where it had to: ${c.seconds.toFixed(1)} s, peak RSS ${MiB(c.peakRssBytes)} (${MiB(c.peakRssBytes - c.baselineRssBytes)} above the bare process)`);
    }
    const byThreads = new Map<number, { idp: ChildResult[][]; lc: ChildResult[] }>(a.threads.map((t) => [t, { idp: m.idp.map(() => []), lc: [] }]));
    for (let round = 1; round <= a.runs; round++) {
      for (const threads of a.threads) {
        const task = { threads, tokens: m.tokens, prompt: m.prompt, runs: 1, warmup: WARMUP_TOKENS };
        console.log(`${m.name}, ${threads} thread(s), round ${round}/${a.runs}…`);
        for (const [v, variant] of m.idp.entries()) byThreads.get(threads)!.idp[v].push(await runChild({ ...task, engine: 'idp', model: variant.path }));
        if (a.llamaCpp) byThreads.get(threads)!.lc.push(await runChild({ ...task, engine: 'llama.cpp', model: m.gguf }));
      }
    }
    // Top-1 agreement with the F32 model: its greedy continuation teacher-forced through each 4-bit variant.
    const vsF32: Array<CheckResult | undefined> = [];
    if (m.f32) {
      const f32Ids = await f32Continuation(m.f32, m, a.threads[0]);
      for (const variant of m.idp) {
        console.log(`${m.name} ${variant.label}: teacher-forced on IDP Lab's F32 continuation…`);
        vsF32.push(await runChild<CheckResult>({ engine: 'idp-check', model: variant.path, threads: a.threads[0], tokens: m.tokens, prompt: m.prompt, runs: 1, warmup: 0, forced: f32Ids }));
      }
    }
    const idpIds: number[][][] = m.idp.map(() => []), lcIds: number[][] = [];
    // An F32 model's greedy ids double as the reference of the 4-bit rows' top-1 agreement (same prompt and length).
    if (!m.quantized && m.idp.length === 1) f32Runs.set(f32Key(m.idp[0].path, m), byThreads.get(a.threads[0])!.idp[0][0].ids);
    for (const threads of a.threads) for (const [v, variant] of m.idp.entries()) {
      const got = byThreads.get(threads)!;
      const idp = bestOf(got.idp[v]);
      const lc = got.lc.length ? bestOf(got.lc) : undefined;
      idpIds[v].push(idp.ids);
      if (lc && v === 0) lcIds.push(lc.ids);
      const wkv = idp.weightBytes! + idp.kvBytes!;
      rows.push({
        model: m.idp.length > 1 ? `${m.name} ${variant.label}` : m.name, variant: variant.label, llamaCppModel: path.basename(m.gguf),
        quantized: m.quantized, goal: variant.goal === null ? null : m.goal, parameters: idp.parameters,
        top1VsF32: vsF32[v] ? { matches: vsF32[v]!.matches, of: vsF32[v]!.of } : null,
        ggufBytes: variant.path.endsWith('.gguf') ? fs.statSync(variant.path).size : null, threads, tokens: m.tokens, promptTokens: m.prompt.length,
        idpTokensPerSecond: +idp.tokensPerSecond.toFixed(1), llamaCppTokensPerSecond: lc ? +lc.tokensPerSecond.toFixed(1) : null,
        ratio: lc ? +(idp.tokensPerSecond / lc.tokensPerSecond).toFixed(3) : null,
        idpRuns: idp.runsTokensPerSecond.map((x) => +x.toFixed(1)), llamaCppRuns: lc?.runsTokensPerSecond.map((x) => +x.toFixed(1)) ?? null,
        idpPrefillMs: +idp.prefillMs.toFixed(1), llamaCppPrefillMs: lc ? +lc.prefillMs.toFixed(1) : null,
        idpPeakRssBytes: idp.peakRssBytes, idpBaselineRssBytes: idp.baselineRssBytes, weightBytes: idp.weightBytes, kvBytes: idp.kvBytes,
        rssOverWeightsKv: +(idp.peakRssBytes / wkv).toFixed(3),
        rssAboveBaselineOverWeightsKv: +((idp.peakRssBytes - idp.baselineRssBytes) / wkv).toFixed(3),
        llamaCppPeakRssBytes: lc?.peakRssBytes ?? null, llamaCpp: lc?.details ?? null, idp: idp.details,
      });
    }
    for (const [v, variant] of m.idp.entries()) {
      const key = m.idp.length > 1 ? `${m.name} ${variant.label}` : m.name;
      agreements[key] = await agreementOf(m, variant.path, idpIds[v], lcIds, a.threads[0]);
      lines.push(agreementLine(key, agreements[key]));
    }
  }

  const head = ['model', 'threads', 'IDP tok/s', 'llama.cpp tok/s', 'ratio', 'top-1 vs F32', 'IDP peak RSS', 'weights+KV', 'RSS/(w+KV)', 'llama.cpp RSS'];
  const widths = [30, 8, 10, 16, 8, 13, 13, 11, 11, 13];
  const table = [head.map((h, i) => pad(h, widths[i])).join(' ')];
  for (const r of rows) {
    const top1 = r.top1VsF32 as { matches: number; of: number } | null;
    const cells = [r.model, r.threads, r.idpTokensPerSecond, r.llamaCppTokensPerSecond ?? '-', r.ratio !== null ? `${(r.ratio as number).toFixed(2)}×` : '-',
      top1 ? `${top1.matches}/${top1.of} (${((100 * top1.matches) / top1.of).toFixed(0)}%)` : '-',
      MiB(r.idpPeakRssBytes as number), MiB((r.weightBytes as number) + (r.kvBytes as number)), (r.rssOverWeightsKv as number).toFixed(2),
      r.llamaCppPeakRssBytes !== null ? MiB(r.llamaCppPeakRssBytes as number) : '-'];
    table.push(cells.map((c, i) => pad(String(c), widths[i])).join(' '));
  }
  console.log('\n' + table.join('\n'));
  console.log(`\nbest of ${a.runs} alternating rounds (one fresh process per engine and round, after ${WARMUP_TOKENS} warm-up tokens); decode = (tokens - 1) single-token greedy steps after the prompt prefill; IDP RSS includes the Node + onnxruntime baseline (${rows.length ? MiB(rows[0].idpBaselineRssBytes as number) : '-'}).`);
  if (rows.some((r) => r.top1VsF32)) console.log("top-1 vs F32: IDP Lab's F32 greedy continuation of the same random model teacher-forced through the 4-bit model; positions where the 4-bit argmax is the F32 token (random weights give near-tied logits, so 4-bit noise flips many; compare the rows with each other).");
  for (const l of lines) console.log(l);
  for (const m of models) {
    const lc = rows.filter((r) => r.model === `${m.name}${m.idp.length > 1 ? ` ${m.idp[0].label}` : ''}` && r.llamaCppTokensPerSecond !== null);
    for (const r of lc) {
      const faster = lc.find((x) => (x.threads as number) < (r.threads as number) && (x.llamaCppTokensPerSecond as number) > (r.llamaCppTokensPerSecond as number));
      if (faster) {
        console.log(`note: llama.cpp on ${m.name} is slower at ${r.threads} threads than at ${faster.threads} (${r.llamaCppTokensPerSecond} vs ${faster.llamaCppTokensPerSecond} tok/s);` +
          ` probably llama.cpp's spinning compute threads and node-llama-cpp's JS/libuv threads contend for ${mach.nproc} CPUs. The goal lines also compare with llama.cpp's best thread count.`);
      }
    }
  }
  const goals = goalLines(rows);
  for (const g of goals) console.log(g);

  const out = a.out ?? path.join(ROOT, 'bench', 'results', 'decode.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const json = { date: new Date().toISOString(), machine: mach, options: a, randomSpec: DEFAULT_SPEC, llama2c: 'skipped: run.c not available offline', rows, agreements, goals };
  fs.writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), out) || out}`);
}

interface Agreement {
  tokens: number;
  /** Greedy ids identical across thread counts, per engine. */
  idpSameAcrossThreads: boolean;
  llamaCppSameAcrossThreads?: boolean;
  /** Leading greedy ids on which the two engines agree (free-running). */
  leadingIdsEqual?: number;
  idpFirst: number[];
  llamaCppFirst?: number[];
  /** IDP Lab teacher-forced on llama.cpp's continuation. */
  teacherForced?: CheckResult;
  /** stories260K: leading ids equal to the float reference continuation (reference_greedy.json). */
  idpVsReference?: { leading: number; of: number };
}

/** IDP Lab's greedy ids on the F32 model (prompt excluded), the reference for the 4-bit rows' top-1 agreement; one run per folder, prompt and length. */
const f32Runs = new Map<string, number[]>();
const f32Key = (folder: string, m: BenchModel) => JSON.stringify([folder, m.prompt, m.tokens]);
async function f32Continuation(folder: string, m: BenchModel, threads: number): Promise<number[]> {
  const key = f32Key(folder, m);
  if (!f32Runs.has(key)) {
    console.log(`${m.name}: IDP Lab's F32 greedy continuation (reference for top-1 agreement)…`);
    f32Runs.set(key, (await runChild({ engine: 'idp', model: folder, threads, tokens: m.tokens, prompt: m.prompt, runs: 1, warmup: 0 })).ids);
  }
  return f32Runs.get(key)!;
}

async function agreementOf(m: BenchModel, idpPath: string, idp: number[][], lc: number[][], threads: number): Promise<Agreement> {
  const same = (xs: number[][]) => xs.every((x) => x.join() === xs[0].join());
  const g: Agreement = { tokens: m.tokens, idpSameAcrossThreads: same(idp), idpFirst: idp[0].slice(0, 8) };
  if (lc.length) {
    Object.assign(g, { llamaCppSameAcrossThreads: same(lc), leadingIdsEqual: leadingAgreement(idp[0], lc[0]), llamaCppFirst: lc[0].slice(0, 8) });
    console.log(`${m.name}: IDP Lab teacher-forced on llama.cpp's continuation…`);
    g.teacherForced = await runChild<CheckResult>({ engine: 'idp-check', model: idpPath, threads, tokens: m.tokens, prompt: m.prompt, runs: 1, warmup: 0, forced: lc[0] });
  }
  if (m.reference) {
    const stop = m.reference.indexOf(1);  // run.c stops at BOS
    const ref = stop >= 0 ? m.reference.slice(0, stop) : m.reference;
    g.idpVsReference = { leading: leadingAgreement(idp[0], ref), of: Math.min(ref.length, m.tokens) };
  }
  return g;
}

function agreementLine(name: string, g: Agreement): string {
  let s = `agreement ${name}: IDP ${g.idpFirst.join(',')}…`;
  if (g.leadingIdsEqual !== undefined) {
    s += ` / llama.cpp ${g.llamaCppFirst!.join(',')}…; greedy ids equal for the first ${g.leadingIdsEqual} of ${g.tokens}`;
    const tf = g.teacherForced!;
    s += `; teacher-forced on llama.cpp's ids IDP picks the same token at ${tf.matches} of ${tf.of} positions`;
    if (tf.mismatches.length) s += ` (where they differ, llama.cpp's token is ${tf.mismatches.slice(0, 4).map((x) => `${x.marginLogits}`).join(', ')} logits below IDP's top)`;
  }
  if (g.idpVsReference) s += `; IDP vs the float reference: ${g.idpVsReference.leading} of ${g.idpVsReference.of}`;
  if (!g.idpSameAcrossThreads || g.llamaCppSameAcrossThreads === false) s += '; NOTE: greedy ids differ between thread counts';
  return s;
}

/** The issue's goals, checked against this run's rows. */
function goalLines(rows: Array<Record<string, unknown>>): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const big = r.model !== 'stories260K';
    if (r.goal === null) continue;   // a row beside the like-for-like ones (fewer bits than llama.cpp's file)
    if (r.ratio !== null) {
      const want = r.goal as number;
      const bestLc = Math.max(...rows.filter((x) => x.model === r.model && (x.threads as number) <= (r.threads as number) && x.llamaCppTokensPerSecond !== null).map((x) => x.llamaCppTokensPerSecond as number));
      const vsBest = (r.idpTokensPerSecond as number) / bestLc;
      const verdict = (r.ratio as number) < want ? 'NOT met' : vsBest >= want ? 'met' : "met only against llama.cpp's slower figure at this thread count";
      out.push(`goal ${r.model} @${r.threads}t: ≥ ${want}× llama.cpp — ${verdict} (${(r.ratio as number).toFixed(2)}×; vs llama.cpp's best at ≤ ${r.threads} threads: ${vsBest.toFixed(2)}×)`);
    }
    if (r.ggufBytes !== null && r.quantized) {
      // Counted above the bare Node + onnxruntime process (its ~60 MiB would otherwise decide a small model's verdict).
      const limit = 1.3 * (r.ggufBytes as number) + (r.kvBytes as number);
      const above = (r.idpPeakRssBytes as number) - (r.idpBaselineRssBytes as number);
      out.push(`goal ${r.model} @${r.threads}t: GGUF peak RSS above the bare Node + onnxruntime process ≤ 1.3 × file + KV (no float copy) — ${above <= limit ? 'met' : 'NOT met'} (${MiB(above)} vs ${MiB(limit)}; peak ${MiB(r.idpPeakRssBytes as number)}, file ${MiB(r.ggufBytes as number)})`);
    }
    if (r.quantized && r.goal === 1 && r.llamaCppPeakRssBytes !== null) {
      const over = ((r.idpPeakRssBytes as number) - (r.llamaCppPeakRssBytes as number)) / 2 ** 20;
      out.push(`goal ${r.model} @${r.threads}t: peak RSS ≤ llama.cpp's + 64 MiB — ${over <= 64 ? 'met' : 'NOT met'} (${over >= 0 ? '+' : ''}${over.toFixed(0)} MiB)`);
    } else if (big && !r.quantized) out.push(`goal ${r.model} @${r.threads}t: peak RSS ≤ 1.2 × (weights + KV) — ${(r.rssOverWeightsKv as number) <= 1.2 ? 'met' : 'NOT met'} (${(r.rssOverWeightsKv as number).toFixed(2)}×; ${(r.rssAboveBaselineOverWeightsKv as number).toFixed(2)}× above the bare Node + onnxruntime process)`);
  }
  return out;
}

const childAt = process.argv.indexOf('--child');
// The parent relaunches itself with huge pages (runtime/huge-pages.ts) as the CLI does; children inherit them.
const run = childAt >= 0 ? childMain(JSON.parse(process.argv[childAt + 1]) as ChildTask) : relaunchWithHugePages() ? undefined : main();
run?.catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
