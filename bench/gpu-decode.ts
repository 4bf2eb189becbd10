// `node out/bench/gpu-decode.js`: per-token decode time of the WebGPU variants against the CPU, and how many
// ORT runs and host ↔ device tensor transfers each decode token costs (docs/gpu.md, issue 19 part 3).
//
// Variants (--variants, comma-separated):
//   cpu               the CPU provider as the product runs it (small models: greedy chunks in one ONNX Loop)
//   webgpu            --ep webgpu as the product runs it: one run per token, the whole KV cache up and down
//   webgpu-device-kv  --ep webgpu with CausalLM deviceKv: the cache stays in GPU memory between runs
//
// Each variant loads the model into its own CausalLM, generates a few untimed tokens, then `runs` times
// generates --tokens tokens greedily after a --prompt-token prompt; ms/token is generate()'s decode time over
// its decode steps (prefill excluded), best of the runs. Transfers are counted on the WebGPU 'last'
// session's run(): every feed and every output located on the CPU is one copy between host and device
// (a feed or output located 'gpu-buffer' is none). Every variant's greedy tokens must equal the CPU's.
//
// Models (--model): `stories` (stories260K from $IDP_DATA), `small` (a random Llama of 8 layers × 256,
// default here: quick on a software Vulkan device), `100m` (the ~100M random Llama of bench:decode, for a
// GPU machine). On lavapipe (Mesa's software Vulkan device) only the ratios mean anything.
// Options: --model small|stories|100m  --tokens 32  --prompt 8  --runs 3  --threads 1 (CPU variant)
//          --variants cpu,webgpu,webgpu-device-kv  --out FILE (JSON; default: print only)

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as ort from 'onnxruntime-node';
import { loadModel } from '../src/engine/models/load';
import { CausalLM, PREFILL_CHUNK } from '../src/engine/runtime/lm';
import { generate } from '../src/engine/runtime/generate';
import { ensureRandomLlama, DEFAULT_SPEC, RandomLlamaSpec } from './write-random-llama';
import { cpuModel } from './machine';

type Variant = 'cpu' | 'webgpu' | 'webgpu-device-kv';
const VARIANTS: Variant[] = ['cpu', 'webgpu', 'webgpu-device-kv'];

/** 8 layers of 256 (8 q / 4 kv heads), 4k vocabulary: ~9M parameters. */
export const SMALL_SPEC: RandomLlamaSpec = { ...DEFAULT_SPEC, hidden: 256, layers: 8, heads: 8, kvHeads: 4, intermediate: 688, vocab: 4096, context: 1024 };

interface Args { model: 'small' | 'stories' | '100m'; tokens: number; prompt: number; runs: number; threads: number; variants: Variant[]; out?: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { model: 'small', tokens: 32, prompt: 8, runs: 3, threads: 1, variants: VARIANTS };
  const int = (s: string, name: string) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`); return argv[++i]; };
    switch (argv[i]) {
      case '--model': {
        const m = v();
        if (m !== 'small' && m !== 'stories' && m !== '100m') throw new Error(`--model: small, stories or 100m, got ${m}`);
        a.model = m;
        break;
      }
      case '--tokens': a.tokens = int(v(), '--tokens'); break;
      case '--prompt': a.prompt = int(v(), '--prompt'); break;
      case '--runs': a.runs = int(v(), '--runs'); break;
      case '--threads': a.threads = int(v(), '--threads'); break;
      case '--variants': {
        const vs = v().split(',').map((s) => s.trim()).filter(Boolean);
        const bad = vs.filter((s) => !VARIANTS.includes(s as Variant));
        if (bad.length || !vs.length) throw new Error(`--variants: some of ${VARIANTS.join(', ')}; got ${bad.join(', ') || 'none'}`);
        a.variants = vs as Variant[];
        break;
      }
      case '--out': a.out = v(); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/gpu-decode.ts)`);
    }
  }
  return a;
}

async function modelPath(which: Args['model']): Promise<string> {
  if (which === 'stories') {
    const data = process.env.IDP_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data');
    return path.join(data, 'models', 'stories260K', 'stories260K.gguf');
  }
  return ensureRandomLlama(which === '100m' ? DEFAULT_SPEC : SMALL_SPEC).gguf;
}

/** Each later run of `session`: its CPU-located feeds (uploads) and outputs (downloads). */
function recordRuns(session: ort.InferenceSession): { uploads: number; downloads: number }[] {
  const log: { uploads: number; downloads: number }[] = [];
  const run = session.run.bind(session) as (feeds: ort.InferenceSession.FeedsType) => Promise<ort.InferenceSession.ReturnType>;
  (session as { run: unknown }).run = async (feeds: ort.InferenceSession.FeedsType) => {
    const out = await run(feeds);
    const onCpu = (ts: object) => Object.values(ts).filter((t) => (t as ort.Tensor).location === 'cpu').length;
    log.push({ uploads: onCpu(feeds), downloads: onCpu(out) });
    return out;
  };
  return log;
}

interface Row {
  variant: Variant; msPerToken: number; runsMsPerToken: number[]; decodeTokens: number; prefillMs: number; loadMs: number;
  /** Per decode token, WebGPU variants only (the CPU has no transfers). */
  perToken?: { runs: number; uploads: number; downloads: number };
  ids: number[]; sameAsCpu?: boolean;
}

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

async function measure(variant: Variant, file: string, a: Args, prompt: number[]): Promise<Row> {
  const t0 = performance.now();
  const model = await loadModel(file);
  const lm = variant === 'cpu' ? new CausalLM(model, { threads: a.threads })
    : new CausalLM(model, { ep: 'webgpu', deviceKv: variant === 'webgpu-device-kv' });
  try {
    await generate(lm, undefined, [prompt], { maxTokens: 4 });   // sessions, shaders, arenas
    const loadMs = performance.now() - t0;
    const log = variant === 'cpu' ? undefined : recordRuns(await lm.session('last'));
    const runs: { ms: number; steps: number; prefillMs: number; ids: number[] }[] = [];
    let perToken: Row['perToken'];
    for (let r = 0; r < a.runs; r++) {
      const first = log?.length ?? 0;
      const g = await generate(lm, undefined, [prompt], { maxTokens: a.tokens, stopIds: [] });
      const steps = g.timings.decode_tokens;
      runs.push({ ms: g.timings.decode_ms / steps, steps, prefillMs: g.timings.prefill_ms, ids: g.rows[0].ids });
      if (log && r === 0) {
        const decode = log.slice(first + Math.ceil(prompt.length / (lm.options.prefillChunk ?? PREFILL_CHUNK)));   // after the prefill's runs
        perToken = { runs: decode.length / steps, uploads: sum(decode.map((x) => x.uploads)) / steps, downloads: sum(decode.map((x) => x.downloads)) / steps };
      }
    }
    const best = runs.reduce((x, y) => (y.ms < x.ms ? y : x));
    return { variant, msPerToken: best.ms, runsMsPerToken: runs.map((r) => r.ms), decodeTokens: best.steps, prefillMs: best.prefillMs, loadMs, perToken, ids: best.ids };
  } finally {
    await lm.release();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const file = await modelPath(a.model);
  const prompt = [1, ...Array.from({ length: a.prompt - 1 }, (_, i) => 3 + ((i * 37) % 200))];
  const rows: Row[] = [];
  for (const v of a.variants) {
    const row = await measure(v, file, a, prompt);
    rows.push(row);
    const pt = row.perToken ? `  per token: ${row.perToken.runs} run, ${row.perToken.uploads} up, ${row.perToken.downloads} down` : '';
    console.log(`${v.padEnd(17)} ${row.msPerToken.toFixed(2).padStart(8)} ms/token (runs ${row.runsMsPerToken.map((x) => x.toFixed(2)).join(', ')})${pt}`);
  }
  const cpu = rows.find((r) => r.variant === 'cpu');
  for (const r of rows) if (cpu) r.sameAsCpu = JSON.stringify(r.ids) === JSON.stringify(cpu.ids);
  const wrong = rows.filter((r) => r.sameAsCpu === false);
  if (wrong.length) console.error(`greedy tokens differ from the CPU's: ${wrong.map((r) => r.variant).join(', ')}`);
  const result = {
    bench: 'gpu-decode', date: new Date().toISOString(), host: os.hostname(), cpu: cpuModel(), cores: os.cpus().length,
    model: a.model, modelFile: path.basename(file), promptTokens: prompt.length, tokens: a.tokens, runs: a.runs, cpuThreads: a.threads,
    rows: rows.map(({ ids, ...r }) => ({ ...r, firstIds: ids.slice(0, 8) })),
  };
  if (a.out) {
    fs.mkdirSync(path.dirname(path.resolve(a.out)), { recursive: true });
    fs.writeFileSync(a.out, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${a.out}`);
  }
  if (wrong.length) process.exitCode = 1;
}

if (require.main === module) {
  main().then(() => process.exit(process.exitCode ?? 0), (e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
}
