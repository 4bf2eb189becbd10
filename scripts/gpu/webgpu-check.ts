// The WebGPU execution provider on a real GPU, next to the CPU, in one run (scripts/gpu/run.sh carries
// it to the GPU machine as one esbuild bundle). Prints and writes JSON with:
//   stories260K   max |Δlogits| WebGPU vs CPU over 8 tokens; greedy 256 tokens from BOS on both, equal
//                 ids and equal to llama2.c's sample (reference_greedy.json); decode tokens/s of each
//   hf            for each transformers fixture folder (scripts/gpu/hf_reference.py): max |Δ| of our
//                 logits (CPU and WebGPU) vs transformers' own
//   random-100M   decode tokens/s (128 tokens after a 16-token prompt) and prefill ms (512 tokens),
//                 CPU at 1 and all threads vs WebGPU
// Usage: node webgpu-check.js --stories DIR [--hf DIR] [--out FILE] [--skip-100m]

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel } from '../../src/engine/models/load';
import { CausalLM } from '../../src/engine/runtime/lm';
import { generate } from '../../src/engine/runtime/generate';
import { ensureRandomLlama } from '../../bench/write-random-llama';

type Json = Record<string, unknown>;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
}

async function stories(dir: string): Promise<Json> {
  const model = await loadModel(path.join(dir, 'stories260K.bin'), { tokenizer: path.join(dir, 'tok512.bin') });
  const cpu = new CausalLM(model, { threads: 1 });
  const gpu = new CausalLM(model, { ep: 'webgpu' });
  const ids = [1, 403, 407, 261, 378, 432, 383, 286];
  const [[a], [b]] = [await gpu.logits([ids]), await cpu.logits([ids])];
  const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference_greedy.json'), 'utf8')) as { generated_ids: number[] };
  const g = await generate(gpu, undefined, [[1]], { maxTokens: 256 });
  const c = await generate(cpu, undefined, [[1]], { maxTokens: 256 });
  const same = (x: number[], y: number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return {
    logitsMaxAbsDiff: maxAbs(a, b),
    greedyEqualCpu: same(g.rows[0].ids, c.rows[0].ids),
    greedyTokens: g.rows[0].ids.length,
    greedyEqualLlama2c: same(g.rows[0].ids, ref.generated_ids.slice(0, g.rows[0].ids.length)),
    webgpuDecodeTokS: g.timings.decode_tokens_per_s,
    shapes: process.argv.includes('--shapes') ? await shapeCost(gpu, 'stories260K webgpu') : undefined,
    cpuDecodeTokS: c.timings.decode_tokens_per_s,
  };
}

async function hfFixtures(dir: string): Promise<Json> {
  const out: Json = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const folder = path.join(dir, name);
    try {
      const ref = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8'));
      const model = await loadModel(folder);
      const seqs: number[][] = ref.input_ids;
      const want = (ref.logits as number[][][]).map((r) => r.flat());
      const row: Json = {};
      for (const ep of ['cpu', 'webgpu'] as const) {
        try {
          const lm = new CausalLM(model, ep === 'cpu' ? { threads: 1 } : { ep });
          const got = await lm.logits(seqs);
          row[ep] = Math.max(...got.map((g, i) => maxAbs(g, want[i])));
        } catch (e) {
          row[ep] = `error: ${(e as Error).message}`;
        }
      }
      out[name] = row;
    } catch (e) {
      out[name] = { error: (e as Error).message };
    }
  }
  return out;
}

async function decodeSpeed(lm: CausalLM, prompt: number[], n: number): Promise<{ tokS: number; prefillMs: number }> {
  await generate(lm, undefined, [prompt], { maxTokens: 8, stopIds: [] }); // warm-up: sessions, kernels
  const r = await generate(lm, undefined, [prompt], { maxTokens: n, stopIds: [] });
  const long = Array.from({ length: 512 }, (_, i) => 3 + ((i * 7919) % 30000));
  const [, ms] = await timed(() => lm.logits([long]));
  return { tokS: r.timings.decode_tokens_per_s, prefillMs: ms };
}

/**
 * Where a WebGPU step's time goes: the same forward repeated at one shape vs at a new length each call
 * (the decode cache grows by one slot per step). A large gap means per-shape work (pipeline creation).
 */
async function shapeCost(lm: CausalLM, label: string): Promise<Json> {
  const seq = (n: number) => Array.from({ length: n }, (_, i) => 3 + ((i * 31) % 90));
  await lm.logits([seq(64)]);
  const same: number[] = [];
  for (let i = 0; i < 8; i++) same.push((await timed(() => lm.logits([seq(64)])))[1]);
  const grow: number[] = [];
  for (let i = 0; i < 8; i++) grow.push((await timed(() => lm.logits([seq(65 + i)])))[1]);
  const again: number[] = [];
  for (let i = 0; i < 8; i++) again.push((await timed(() => lm.logits([seq(65 + i)])))[1]);
  const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
  const r = { sameShapeMs: med(same), newShapeMs: med(grow), seenShapeAgainMs: med(again) };
  console.log('shapes', label, JSON.stringify(r));
  return r;
}

async function random100m(): Promise<Json> {
  const rl = ensureRandomLlama();
  const model = await loadModel(rl.hfDir);
  const prompt = Array.from({ length: 16 }, (_, i) => 3 + i * 11);
  const out: Json = { parameters: rl.parameters, threads: os.cpus().length };
  if (process.argv.includes('--shapes')) out.shapes = await shapeCost(new CausalLM(model, { ep: 'webgpu' }), '100M webgpu').catch((e) => String(e));
  for (const [label, opts] of [['cpu-1', { threads: 1 }], [`cpu-${os.cpus().length}`, { threads: os.cpus().length }], ['webgpu', { ep: 'webgpu' as const }]] as const) {
    try {
      out[label] = await decodeSpeed(new CausalLM(model, opts), prompt, 128);
    } catch (e) {
      out[label] = `error: ${(e as Error).message}`;
    }
    console.log(label, JSON.stringify(out[label]));
  }
  return out;
}

async function main() {
  const report: Json = { node: process.version, cpus: os.cpus()[0]?.model, cores: os.cpus().length };
  const sdir = arg('--stories');
  if (sdir) {
    report.stories260K = await stories(sdir).catch((e) => `error: ${(e as Error).stack}`);
    console.log('stories260K', JSON.stringify(report.stories260K));
  }
  const hf = arg('--hf');
  if (hf) {
    report.hf = await hfFixtures(hf);
    console.log('hf', JSON.stringify(report.hf));
  }
  if (!process.argv.includes('--skip-100m')) report.random100M = await random100m().catch((e) => `error: ${(e as Error).stack}`);
  const file = arg('--out');
  if (file) fs.writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
