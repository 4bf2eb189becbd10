// `npm run bench:train`: training throughput (tokens/s) and peak memory of prompt tuning and LoRA in
// IDP Lab vs PyTorch on the same CPU, same model, same batch, same thread count, same steps — on
// stories260K (staged data) and on the embedded default model (models/default).
//
// Each (engine, model, method) runs in its own process so every peak RSS (VmHWM) belongs to one run.
// IDP Lab: this script with --child runs the engine's trainer (runTraining: fused forward+backward
// graph in ORT, gradient clipping and AdamW in JS) and writes the initial trainable tensors and the
// rows of every step; PyTorch: bench/peers/torch_train.py (eager, torch.optim.AdamW) reads them and
// runs the same steps. Both report the loss of every step: they must agree (same arithmetic), and
// the table says how closely. Tokens/s counts text tokens of the steps after the warmup steps.
// PyTorch runs with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = the thread count and
// OMP_WAIT_POLICY=PASSIVE (its best setting here: with spinning OpenMP threads its 2-thread runs were
// 2× slower on this shared machine); any of them set in the environment wins.
//
// PyTorch is Debian 12's python3-torch (1.13, CPU) with OpenBLAS (libopenblas0, which it recommends):
// bench/peers/setup-torch.sh installs them (not a CI dependency); without them the PyTorch rows say so.
//
// Options: --threads 1,2  --steps 12  --warmup 2  --batch 8  --seqlen 256  --models default,stories
//          --methods prompt,lora  --no-torch   Environment: IDP_DATA, IDP_CACHE, IDP_PYTHON.
// Writes bench/results/train.json (overwritten each run).

import { fork, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { int } from '../src/cli/options';
import { cpuModel, pages } from './machine';
import { relaunchWithHugePages } from '../src/engine/runtime/huge-pages';

const ROOT = path.resolve(__dirname, '..', '..');
const PROMPT_TOKENS = 16;
const LORA_RANK = 8;
const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
const LR = 1e-3;
const WD = 1e-5;
const CLIP = 1;
const SEED = 7;

interface Task { model: string; method: 'prompt' | 'lora'; threads: number; steps: number; warmup: number; batch: number; seqlen: number; dir: string }

interface RunResult {
  tokensPerSec: number;
  peakRssMiB: number;
  baseRssMiB: number;
  losses: number[];
  trainable?: number;
  modelDir?: string;
  loraScale?: number;
  detail?: string;
}

function maxRssMiB(): number {
  try {
    const m = /^VmHWM:\s*(\d+)\s*kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS / 1024;
}

// ---------------------------------------------------------------------------------------------
// Child: one IDP Lab run

async function child(t: Task): Promise<RunResult> {
  const base = maxRssMiB();
  const { loadModel } = await import('../src/engine/models/load');
  const { SoftPrompt } = await import('../src/engine/train/methods/prompt');
  const { Lora } = await import('../src/engine/train/methods/lora');
  const { Blocks } = await import('../src/engine/train/data');
  const { DEFAULT_SETTINGS, runTraining } = await import('../src/engine/train/trainer');
  const { Rng } = await import('../src/engine/rng');
  const { saveTensors, countParams } = await import('../src/engine/train/tensors');
  const m = await loadModel(t.model);
  const method = t.method === 'prompt'
    ? SoftPrompt.create(m, { tokens: PROMPT_TOKENS, init: 'vocab', seed: SEED })
    : Lora.create(m, { rank: LORA_RANK, targets: [...LORA_TARGETS], seed: SEED });
  saveTensors(path.join(t.dir, 'init.safetensors'), method.params);   // before training changes them

  // one block per row of the run; the trainer visits them in a seeded permutation: the same order is written for PyTorch
  const n = t.steps * t.batch;
  const rng = Rng.for(SEED, 'bench-data');
  const ids = new Int32Array(n * t.seqlen);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(m.config.vocabSize);
  const blocks = new Blocks(ids, t.seqlen);
  const perm = Rng.for(SEED, 'order', 0).permutation(n);
  fs.writeFileSync(path.join(t.dir, 'rows.json'), JSON.stringify(Array.from(perm, (b) => Array.from(blocks.get(b)))));

  const marks: number[] = [];
  const losses: number[] = [];
  await runTraining({
    method, data: { train: blocks, eval: new Blocks(new Int32Array(0), t.seqlen) }, out: path.join(t.dir, 'run'),
    settings: { ...DEFAULT_SETTINGS, seqLen: t.seqlen, batchSize: t.batch, gradAccum: 1, tokens: n * t.seqlen, lr: LR, weightDecay: WD,
      clip: CLIP, warmup: 0, schedule: 'constant', evalEvery: 0, checkpointEvery: 0, seed: SEED },
    session: { threads: t.threads },
    onProgress: (p) => { if (p.phase === 'train') { marks.push(performance.now()); losses.push(p.loss!); } },
  });
  const secs = (marks[t.steps - 1] - marks[t.warmup - 1]) / 1000;
  return {
    tokensPerSec: ((t.steps - t.warmup) * t.batch * t.seqlen) / secs, peakRssMiB: maxRssMiB(), baseRssMiB: base, losses,
    trainable: countParams(method.params), modelDir: m.weightsDir, loraScale: method instanceof Lora ? method.scale : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Parent

function runChild(t: Task): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['--child', JSON.stringify(t)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    c.on('message', (msg: { ok: boolean; result?: RunResult; error?: string }) => (msg.ok ? resolve(msg.result!) : reject(new Error(msg.error))));
    c.on('exit', (code) => { if (code) reject(new Error(`IDP Lab child exited with ${code}`)); });
  });
}

/** A python3 that imports torch: $IDP_PYTHON, python3 on PATH, or Debian's /usr/bin/python3. */
function findPython(): { python?: string; why?: string } {
  const candidates = [process.env.IDP_PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x);
  for (const p of candidates) {
    const r = spawnSync(p, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python: p };
  }
  return { why: 'no python3 with torch and numpy (run: sudo bash bench/peers/setup-torch.sh)' };
}

function runTorch(python: string, t: Task, idp: RunResult): RunResult {
  const args = [path.join(ROOT, 'bench', 'peers', 'torch_train.py'), '--model', idp.modelDir!, '--method', t.method,
    '--init', path.join(t.dir, 'init.safetensors'), '--rows', path.join(t.dir, 'rows.json'), '--batch', String(t.batch),
    '--steps', String(t.steps), '--warmup', String(t.warmup), '--lr', String(LR), '--wd', String(WD), '--clip', String(CLIP),
    '--threads', String(t.threads), ...(idp.loraScale !== undefined ? ['--lora-scale', String(idp.loraScale)] : [])];
  const r = spawnSync(python, args, { encoding: 'utf8', env: { OMP_NUM_THREADS: String(t.threads), OPENBLAS_NUM_THREADS: String(t.threads), OMP_WAIT_POLICY: 'PASSIVE', ...process.env } });
  if (r.status !== 0) throw new Error(`PyTorch run failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { tokensPerSec: j.tokens_per_s, peakRssMiB: j.peak_rss_mb, baseRssMiB: j.base_rss_mb, losses: j.losses, detail: `torch ${j.torch}, ${j.threads} thread(s)` };
}

interface Args { threads: number[]; steps: number; warmup: number; batch: number; seqlen: number; models: string[]; methods: Array<'prompt' | 'lora'>; torch: boolean }

function parseArgs(argv: string[]): Args {
  const list = (name: string) => (v: string) => v.split(',').map((x) => int(name, 1)(x));
  const a = new Command('bench:train')
    .description('training step time of IDP Lab vs PyTorch on the same data and model')
    .option('--threads <list>', 'thread counts, comma-separated', list('--threads'), [1, 2])
    .option('--steps <n>', 'timed optimizer steps', int('--steps', 1), 12)
    .option('--warmup <n>', 'steps not counted', int('--warmup', 1), 2)
    .option('--batch <n>', 'sequences per step', int('--batch', 1), 8)
    .option('--seqlen <n>', 'tokens per sequence', int('--seqlen', 1), 256)
    .option('--models <list>', 'default, stories', (v: string) => v.split(','), ['default', 'stories'])
    .addOption(new Option('--methods <list>', 'prompt, lora').argParser((v: string) => v.split(',') as Args['methods']).default(['prompt', 'lora']))
    .option('--no-torch', 'skip the PyTorch peer')
    .parse(argv, { from: 'user' })
    .opts<Args>();
  if (a.warmup >= a.steps) throw new InvalidArgumentError('--warmup must be below --steps');
  return a;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const data = path.resolve(process.env.IDP_DATA ?? path.join(ROOT, '..', 'shared', 'data'));
  const models: Record<string, string> = {
    default: path.join(ROOT, 'models', 'default'),
    stories: path.join(data, 'models', 'stories260K', 'stories260K.gguf'),
  };
  const py = a.torch ? findPython() : { why: 'skipped (--no-torch)' };
  const mach = {
    cpu: cpuModel(), pages: pages(), nproc: os.availableParallelism?.() ?? os.cpus().length, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version, onnxruntimeNode: JSON.parse(fs.readFileSync(require.resolve('onnxruntime-node/package.json', { paths: [ROOT] }), 'utf8')).version,
    loadAverageAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
  console.log(`machine: ${mach.cpu}, ${mach.nproc} CPUs, Node ${mach.node}, onnxruntime-node ${mach.onnxruntimeNode}; load average ${mach.loadAverageAtStart.join(' ')} (other work on the machine skews the figures)`);
  console.log(`batch ${a.batch} × ${a.seqlen} tokens, ${a.steps} steps (${a.warmup} warmup), threads ${a.threads.join(', ')}; prompt: ${PROMPT_TOKENS} tokens; LoRA: r ${LORA_RANK} on ${LORA_TARGETS.join(',')}`);
  if (py.why) console.log(`PyTorch: ${py.why}`);
  const rows: Array<Record<string, unknown>> = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-bench-train-'));
  try {
    for (const name of a.models) {
      const model = models[name] ?? name;
      if (!fs.existsSync(model)) { console.log(`${name}: ${model} is missing — skipped`); continue; }
      for (const method of a.methods) for (const threads of a.threads) {
        const dir = path.join(tmp, `${name}-${method}-${threads}`);
        fs.mkdirSync(dir);
        const t: Task = { model, method, threads, steps: a.steps, warmup: a.warmup, batch: a.batch, seqlen: a.seqlen, dir };
        const idp = await runChild(t);
        const torch = py.python ? runTorch(py.python, t, idp) : undefined;
        const maxLossDiff = torch ? Math.max(...idp.losses.map((l, i) => Math.abs(l - torch.losses[i]))) : undefined;
        const row = {
          model: name, method, threads, trainable: idp.trainable, idp: { ...idp, modelDir: undefined, loraScale: undefined }, torch,
          ratio: torch ? idp.tokensPerSec / torch.tokensPerSec : undefined, maxLossDiff,
        };
        rows.push(row);
        console.log(`${name.padEnd(8)} ${method.padEnd(6)} ${threads}T trainable ${String(idp.trainable).padStart(7)}  IDP Lab ${idp.tokensPerSec.toFixed(0).padStart(6)} tok/s ` +
          `peak ${idp.peakRssMiB.toFixed(0)} MiB` + (torch ? ` | PyTorch ${torch.tokensPerSec.toFixed(0).padStart(6)} tok/s peak ${torch.peakRssMiB.toFixed(0)} MiB` +
          ` | ratio ${row.ratio!.toFixed(2)}× | max |Δloss| ${maxLossDiff!.toExponential(1)}` : ''));
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log('\n| model | method | threads | trainable | IDP Lab tok/s | PyTorch tok/s | IDP / PyTorch | IDP peak RSS | PyTorch peak RSS | max \\|Δloss\\| |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows as any[]) {
    console.log(`| ${r.model} | ${r.method} | ${r.threads} | ${r.trainable} | ${r.idp.tokensPerSec.toFixed(0)} | ${r.torch ? r.torch.tokensPerSec.toFixed(0) : '—'} | ` +
      `${r.ratio ? r.ratio.toFixed(2) + '×' : '—'} | ${r.idp.peakRssMiB.toFixed(0)} MiB | ${r.torch ? r.torch.peakRssMiB.toFixed(0) + ' MiB' : '—'} | ${r.maxLossDiff !== undefined ? r.maxLossDiff.toExponential(1) : '—'} |`);
  }
  const out = path.join(ROOT, 'bench', 'results', 'train.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine: mach, options: a, promptTokens: PROMPT_TOKENS, loraRank: LORA_RANK,
    torchEnv: { OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE', OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? 'threads', OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? 'threads' },
    loraTargets: LORA_TARGETS, lr: LR, weightDecay: WD, clip: CLIP, torch: py.why ?? 'python3-torch', goal: 'IDP Lab ≥ 0.8× PyTorch tokens/s', rows }, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(ROOT, out)}`);
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3]) as Task).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (e) => process.send!({ ok: false, error: (e as Error).stack ?? String(e) }, () => process.exit(1)),
  );
} else if (!relaunchWithHugePages()) {
  main().catch((e) => { console.error(`bench:train: ${(e as Error).message}`); process.exit(1); });
}
