// `npm run bench:idp`: prefill and decode latency of the recovery methods on a quantized model, all on
// the same runtime and inputs — none, single prompts (26 and 100 tokens, K/V cached), IDP with m = 2
// (26 + 100) and m = 4 (26 + 50 + 75 + 100), the concatenation 26 + 100, prefix tuning (100) and
// LoRA (r = 4 on q,k,v,o,gate,up,down; on a quantized model its factors cannot be merged into the
// packed weights, so they run as extra products) — and the ratios the IDP issue sets as goals:
//   IDP / single prompt ≤ 1.05 at prefill and equal at decode; IDP / LoRA ≤ 0.6.
// Prompts, prefix and LoRA factors are random (latency does not depend on training). Every method is listed
// with its parameter count as the paper's appendix A counts it.
//
// Model: the ~100M-parameter random Llama of write-random-llama.ts quantized once with RTN to 4 bits
// (group 128, symmetric; MatMulNBits at accuracy level 4), cached under $IDP_CACHE/bench; or --model PATH.
// Methods run round-robin (--rounds) so drift in machine load hits all alike; the fastest round of each
// method (and the median) is reported, ratios from the fastest (the least disturbed by other load).
// Prefill = generate()'s prefill_ms of a run that stops after the first token (IDP: the selection run and
// keeping the selected prompt's cache); decode = ms per token over --decode greedy tokens. CPU time of
// this process is recorded too: with other jobs on the machine it moves far less than wall time.
//
// Options: --tokens 128 --batch 1 --decode 32 --rounds 7 --threads 1 --model PATH --only NAME,NAME (name prefixes)
//          --ep cpu|webgpu --out FILE
// One thread by default: then ORT computes on this thread and its CPU time is the work done (with a pool,
// idle pool threads spin and CPU time stops meaning anything on a busy machine).
// Writes bench/results/idp.json.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Command, Option } from 'commander';
import { int } from '../src/cli/options';
import { compressModel } from '../src/engine/compress/compress';
import { loadModel } from '../src/engine/models/load';
import { LoadedModel, parameterCount } from '../src/engine/models/config';
import { CausalLM } from '../src/engine/runtime/lm';
import { generate, GenerateOptions, GenerateResult } from '../src/engine/runtime/generate';
import { Rng } from '../src/engine/rng';
import { tokenEmbedding } from '../src/engine/train/methods/prompt';
import { Prefix } from '../src/engine/train/methods/prefix';
import { Lora } from '../src/engine/train/methods/lora';
import { IdpBank } from '../src/engine/idp/bank';
import { IdpLM } from '../src/engine/idp/runner';
import { computePromptKVs } from '../src/engine/idp/kv';
import { pastPrefill, promptSlots } from '../src/engine/idp/past';
import { concatKv, loraInferenceHooks, prefixKv } from '../src/engine/idp/baselines';
import { formatCount, loraParams, noneParams, prefixParams, promptParams } from '../src/engine/idp/params';
import { benchCacheDir, DEFAULT_SPEC, ensureRandomLlama, specKey } from './write-random-llama';
import { cpuModel, pages } from './machine';
import { relaunchWithHugePages } from '../src/engine/runtime/huge-pages';

interface Args { tokens: number; batch: number; decode: number; rounds: number; threads: number; ep: 'cpu' | 'webgpu'; model?: string; only?: string[]; out: string }

function parseArgs(argv: string[]): Args {
  const o = new Command('bench:idp')
    .description('prefill and decode latency of the recovery methods on a quantized model')
    .option('--tokens <n>', 'input tokens per row', int('--tokens', 1), 128)
    .option('--batch <n>', 'rows', int('--batch', 1), 1)
    .option('--decode <n>', 'greedy tokens timed per decode run', int('--decode', 1), 32)
    .option('--rounds <n>', 'round-robin rounds over the methods', int('--rounds', 1), 7)
    .option('--threads <n>', 'ORT intra-op threads', int('--threads', 1), 1)
    .option('--model <path>', 'a quantized model folder (default: RTN 4-bit of the ~100M random Llama)')
    .option('--only <names>', 'comma-separated method-name prefixes', (v: string) => v.split(','))
    .addOption(new Option('--ep <ep>', 'execution provider').choices(['cpu', 'webgpu']).default('cpu'))
    .option('--out <file>', 'results file', path.join(__dirname, '..', '..', 'bench', 'results', 'idp.json'))
    .parse(argv, { from: 'user' })
    .opts<Args>();
  return o;
}

/** The quantized bench model: RTN 4-bit of the random ~100M Llama, made once. */
async function quantizedModel(): Promise<string> {
  const r = ensureRandomLlama(DEFAULT_SPEC);
  const out = path.join(benchCacheDir(), `idp-rtn4-${specKey(DEFAULT_SPEC)}`);
  if (!fs.existsSync(path.join(out, 'quantize_config.json'))) {
    console.log(`quantizing ${r.hfDir} (RTN, 4 bits, group 128) → ${out} …`);
    await compressModel(r.hfDir, { method: 'rtn', bits: 4, groupSize: 128, sym: true, out });
  }
  return out;
}

function randomPrompt(m: LoadedModel, n: number, seed: number): { embeddings: Float32Array; n: number } {
  const e = tokenEmbedding(m.config).width;
  const rng = Rng.for(seed, 'bench-prompt', n);
  return { embeddings: Float32Array.from({ length: n * e }, () => rng.normal() * 0.02), n };
}

interface Method {
  name: string;
  /** Appendix A's parameter count. */
  params: number;
  run: (rows: number[][], o: GenerateOptions) => Promise<GenerateResult & { selected?: number[] }>;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const load0 = os.loadavg().map((x) => +x.toFixed(2));
  const modelPath = a.model ?? await quantizedModel();
  const m = await loadModel(modelPath);
  const threads = a.threads;
  // on WebGPU (no Attention-23 kernel there) CausalLM and IdpLM build explicit attention by themselves
  const session = { threads, ep: a.ep };
  console.log(`model ${modelPath}: ${(parameterCount(m) / 1e6).toFixed(1)}M parameters${m.quant ? `, ${m.quant.bits}-bit GPTQ layout (MatMulNBits)` : ''}; ` +
    `${a.batch} × ${a.tokens} input tokens, ${a.decode} decode tokens, ${threads} threads, ${a.rounds} rounds`);

  const lm = new CausalLM(m, session);
  const single = async (n: number) => {
    const kv = (await computePromptKVs(m, [{ ...randomPrompt(m, n, 1), start: 0 }], session))[0];
    return (rows: number[][], o: GenerateOptions) => generate(lm, undefined, rows, { ...o, prefill: pastPrefill(lm, promptSlots(kv)) });
  };
  const idpOf = (lengths: number[]) => {
    const idp = new IdpLM(m, IdpBank.fromPrompts(m, lengths.map((n, i) => randomPrompt(m, n, 1 + i))), session);
    return (rows: number[][], o: GenerateOptions) => idp.generate(undefined, rows, o);
  };
  const concat = await concatKv(m, IdpBank.fromPrompts(m, [26, 100].map((n, i) => randomPrompt(m, n, 1 + i))), session);
  const prefix = await Prefix.create(m, { tokens: 100, init: 'vocab', seed: 1 });
  const lora = Lora.create(m, { rank: 4, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], seed: 1 });
  const rng = new Rng(7);
  for (const t of lora.params.values()) if (t.shape[1] === lora.rank) for (let i = 0; i < t.data.length; i++) t.data[i] = (rng.next() - 0.5) * 0.01;  // B ≠ 0
  const loraLm = new CausalLM(m, { ...session, graph: { hooks: loraInferenceHooks(lora) } });

  const all: Method[] = [
    { name: 'none', params: noneParams().paper, run: (rows, o) => generate(lm, undefined, rows, o) },
    { name: 'prompt 26', params: promptParams(m.config, [26], 'prompt').paper, run: await single(26) },
    { name: 'prompt 100', params: promptParams(m.config, [100], 'prompt').paper, run: await single(100) },
    { name: 'IDP m=2 (26+100)', params: promptParams(m.config, [26, 100], 'idp').paper, run: idpOf([26, 100]) },
    { name: 'IDP m=4 (26+50+75+100)', params: promptParams(m.config, [26, 50, 75, 100], 'idp').paper, run: idpOf([26, 50, 75, 100]) },
    { name: 'concat 26+100', params: promptParams(m.config, [26, 100], 'concat').paper, run: (rows, o) => generate(lm, undefined, rows, { ...o, prefill: pastPrefill(lm, promptSlots(concat)) }) },
    { name: 'prefix 100', params: prefixParams(m.config, 100).paper, run: (rows, o) => generate(lm, undefined, rows, { ...o, prefill: pastPrefill(lm, promptSlots(prefixKv(prefix))) }) },
    { name: 'LoRA r=4 (all 7)', params: loraParams(m.config, 4, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']).paper, run: (rows, o) => generate(loraLm, undefined, rows, o) },
  ];
  const methods = a.only ? all.filter((x) => a.only!.some((k) => x.name.startsWith(k))) : all;
  const inputRng = new Rng(11);
  const rows = Array.from({ length: a.batch }, () => Array.from({ length: a.tokens }, () => 3 + inputRng.int(m.config.vocabSize - 3)));
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  type Samples = { prefill: number[]; decode: number[]; prefillCpu: number[]; decodeCpu: number[]; selected?: number[] };
  const samples = new Map<string, Samples>();
  for (const x of methods) {                       // warm-up: sessions, K/V, first runs
    const r = await x.run(rows, { maxTokens: 2, stopIds: [] });
    samples.set(x.name, { prefill: [], decode: [], prefillCpu: [], decodeCpu: [], selected: r.selected });
  }
  for (let round = 0; round < a.rounds; round++) {
    for (const x of methods) {
      const sm = samples.get(x.name)!;
      const c0 = cpu();
      const p = await x.run(rows, { maxTokens: 1, stopIds: [] });              // prefill (+ first token) only
      sm.prefillCpu.push(cpu() - c0);
      sm.prefill.push(p.timings.prefill_ms);
      let afterPrefill: number | undefined;          // CPU when the prefill's token arrives: decode CPU from this run alone
      const r = await x.run(rows, { maxTokens: a.decode + 1, stopIds: [], onToken: () => { afterPrefill ??= cpu(); } });
      sm.decode.push(r.timings.decode_ms / Math.max(1, r.timings.decode_tokens));
      sm.decodeCpu.push((cpu() - afterPrefill!) / Math.max(1, r.timings.decode_tokens));
    }
    process.stdout.write(`round ${round + 1}/${a.rounds}\r`);
  }
  const fix = (x: number, d = 2) => +x.toFixed(d);
  const res = methods.map((x) => {
    const sm = samples.get(x.name)!;
    return {
      method: x.name, params: x.params,
      prefillMs: fix(Math.min(...sm.prefill)), prefillMedianMs: fix(median(sm.prefill)), prefillCpuMs: fix(Math.min(...sm.prefillCpu)),
      decodeMsPerToken: fix(Math.min(...sm.decode), 3), decodeMedianMsPerToken: fix(median(sm.decode), 3), decodeCpuMsPerToken: fix(Math.min(...sm.decodeCpu), 3),
      ...(sm.selected ? { selected: sm.selected } : {}),
    };
  });
  type Row = typeof res[number];
  const by = (name: string) => res.find((r) => r.method === name);
  const col = (v: number, w: number, d = 2) => v.toFixed(d).padStart(w);
  console.log(`\n${'method'.padEnd(24)}${'params'.padStart(8)}${'prefill ms'.padStart(11)}${'median'.padStart(9)}${'CPU ms'.padStart(9)}  ${'decode ms/tok'.padStart(13)}${'median'.padStart(9)}${'CPU ms'.padStart(9)}`);
  for (const r of res) {
    console.log(`${r.method.padEnd(24)}${formatCount(r.params).padStart(8)}${col(r.prefillMs, 11)}${col(r.prefillMedianMs, 9)}${col(r.prefillCpuMs, 9)}  ` +
      `${col(r.decodeMsPerToken, 13, 3)}${col(r.decodeMedianMsPerToken, 9, 3)}${col(r.decodeCpuMsPerToken, 9, 3)}${r.selected ? `   selected ${r.selected.join(',')}` : ''}`);
  }
  // ratios of the fastest rounds (wall clock) and of CPU time (insensitive to other processes' load)
  const ratios: Record<string, { wall: number; cpu: number }> = {};
  const ratio = (key: string, x: Row, y: Row, pick: (r: Row) => [number, number]) => {
    const [xw, xc] = pick(x);
    const [yw, yc] = pick(y);
    ratios[key] = { wall: fix(xw / yw, 4), cpu: fix(xc / yc, 4) };
  };
  const pre = (r: Row): [number, number] => [r.prefillMs, r.prefillCpuMs];
  const dec = (r: Row): [number, number] => [r.decodeMsPerToken, r.decodeCpuMsPerToken];
  const tot = (r: Row): [number, number] => [r.prefillMs + a.decode * r.decodeMsPerToken, r.prefillCpuMs + a.decode * r.decodeCpuMsPerToken];
  const loraRow = by('LoRA r=4 (all 7)');
  const p100 = by('prompt 100');
  for (const [name, lengths] of [['IDP m=2 (26+100)', [26, 100]], ['IDP m=4 (26+50+75+100)', [26, 50, 75, 100]]] as const) {
    const i = by(name);
    if (!i) continue;
    const chosen = by(`prompt ${lengths[i.selected?.[0] ?? lengths.length - 1]}`);
    if (p100) ratio(`${name} / prompt 100: prefill (goal ≤ 1.05)`, i, p100, pre);
    if (chosen) ratio(`${name} / ${chosen.method} (the selected length): decode (goal 1)`, i, chosen, dec);
    if (loraRow) {
      ratio(`${name} / LoRA: prefill (goal ≤ 0.6)`, i, loraRow, pre);
      ratio(`${name} / LoRA: decode (goal ≤ 0.6)`, i, loraRow, dec);
      ratio(`${name} / LoRA: prefill + ${a.decode} tokens (goal ≤ 0.6)`, i, loraRow, tot);
    }
  }
  console.log('\nratios (wall clock of the fastest round | CPU time):');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k}: ${v.wall.toFixed(3)} | ${v.cpu.toFixed(3)}`);
  const out = a.out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({
    date: new Date().toISOString(),
    machine: { cpu: cpuModel(), pages: pages(), nproc: os.availableParallelism?.() ?? os.cpus().length, node: process.version, loadAverageAtStart: load0, loadAverageAtEnd: os.loadavg().map((x) => +x.toFixed(2)) },
    model: { path: modelPath, parameters: parameterCount(m), quant: m.quant ? { bits: m.quant.bits, groupSize: m.quant.groupSize } : null },
    options: a, results: res, ratios,
  }, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)} (load average ${load0.join(' ')} at start: wall-clock figures on a loaded machine vary with it)`);
}

if (!relaunchWithHugePages()) main().catch((e) => { console.error(e); process.exit(1); });
