// `npm run bench:compress`: compression speed and quantized inference.
//
//   1. GPTQ (4-bit) and SparseGPT (50%) wall time per layer and per model on stories260K (calibration:
//      WikiText-2, samples × seqlen) and on the ~100M-parameter random Llama of write-random-llama.ts
//      (calibration: seeded random token windows — timing does not depend on the text).
//   2. GPTQ on one module against a PyTorch implementation of the same algorithm (written here, run
//      with python3-torch on the same CPU and thread count), same W and H: seconds and ‖ΔWX‖². Both
//      run --torch-rounds times, alternating (a shared machine's load then hits both alike); each round
//      is the best of --runs; the ratio is reported per round and as the median.
//   3. Decode tokens/s and resident memory of the 100M model, fp32 vs its GPTQ 4-bit checkpoint
//      (MatMulNBits, accuracy_level 4), each in its own child process.
//
// Options: --models stories,random  --samples 128 --seqlen 512 (stories)  --random-samples 32
//          --random-seqlen 512  --threads N (default: decode at 1 and 2)  --decode-tokens 128  --runs 3
//          --rounds 2  --no-torch  --torch-rounds 3  --out FILE  (--models none: only the PyTorch comparison)
//          --decode-only (random: reuse the 4-bit checkpoint a previous run left in the cache; decode only)
// The machine's load average is recorded: decode figures on a shared machine vary with it.
// Writes bench/results/compress.json (or --out).

import { execFileSync, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compressModel, CompressResult } from '../src/engine/compress/compress';
import { Linalg } from '../src/engine/compress/linalg';
import { gptqQuantize, reconstructionError } from '../src/engine/compress/gptq';
import { dequantize } from '../src/engine/models/quant/gptq-format';
import { loadModel } from '../src/engine/models/load';
import { parameterCount } from '../src/engine/models/config';
import { CausalLM } from '../src/engine/runtime/lm';
import { generate } from '../src/engine/runtime/generate';
import { SamplingRng } from '../src/engine/rng';
import { dataDir } from '../src/engine/defaults';
import { benchCacheDir, DEFAULT_SPEC, ensureRandomLlama } from './write-random-llama';
import { cpuModel, pages } from './machine';
import { relaunchWithHugePages } from '../src/engine/runtime/huge-pages';

interface Args { models: string[]; samples: number; seqlen: number; randomSamples: number; randomSeqlen: number; threads?: number; decodeTokens: number; runs: number; rounds: number; torch: boolean; torchRounds: number; out?: string; decodeOnly: boolean }

function parseArgs(argv: string[]): Args {
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined; };
  return {
    models: (get('models') ?? 'stories,random').split(','),
    samples: Number(get('samples') ?? 128), seqlen: Number(get('seqlen') ?? 512),
    randomSamples: Number(get('random-samples') ?? 32), randomSeqlen: Number(get('random-seqlen') ?? 512),
    threads: get('threads') ? Number(get('threads')) : undefined,
    decodeTokens: Number(get('decode-tokens') ?? 128), runs: Number(get('runs') ?? 3), rounds: Number(get('rounds') ?? 2),
    torch: !argv.includes('--no-torch'), torchRounds: Number(get('torch-rounds') ?? 3), out: get('out'),
    decodeOnly: argv.includes('--decode-only'),
  };
}

const summary = (r: CompressResult) => ({
  totalSeconds: +r.totalSeconds.toFixed(2),
  calibrationSeconds: +r.calibrationSeconds.toFixed(2),
  perLayerSeconds: r.layerSeconds.map((s) => +s.toFixed(3)),
  meanLayerSeconds: +(r.layerSeconds.reduce((a, b) => a + b, 0) / r.layerSeconds.length).toFixed(3),
  meanRelError: +(r.modules.reduce((a, m) => a + (m.relError ?? 0), 0) / r.modules.length).toExponential(3),
  meanErrorVsBaseline: +(r.modules.reduce((a, m) => a + (m.error ?? 0) / (m.baselineError || 1), 0) / r.modules.length).toFixed(3),
});

function randomWindows(n: number, T: number, vocab: number, seed: number): number[][] {
  const rng = new SamplingRng(seed);
  return Array.from({ length: n }, () => Array.from({ length: T }, () => Math.floor(rng.next() * vocab)));
}

// ---- PyTorch peer ------------------------------------------------------------------------------

const TORCH_GPTQ = String.raw`
import json, sys, time, numpy as np, torch
# GPTQ (Frantar et al. 2022, Algorithm 1 with lazy batch updates), written for this benchmark.
a = json.loads(sys.argv[1]); torch.set_num_threads(a['threads'])
N, K, bits, gs, B = a['N'], a['K'], a['bits'], a['gs'], 128
W0 = torch.from_numpy(np.fromfile(a['w'], dtype=np.float32).reshape(N, K))
H0 = torch.from_numpy(np.fromfile(a['h'], dtype=np.float64).reshape(K, K)).float()
def run():
    W = W0.clone(); H = H0.clone(); maxq = 2 ** bits - 1
    dead = torch.diag(H) == 0; H[dead, dead] = 1; W[:, dead] = 0
    H += a['damp'] * torch.mean(torch.diag(H)) * torch.eye(K)
    U = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros_like(W)
    def params(x):
        xmin = torch.minimum(x.min(1).values, torch.zeros(N)); xmax = torch.maximum(x.max(1).values, torch.zeros(N))
        both = (xmin == 0) & (xmax == 0); xmin[both] = -1; xmax[both] = 1
        s = (xmax - xmin) / maxq; z = torch.round(-xmin / s); return s.unsqueeze(1), z.unsqueeze(1)
    s, z = params(W)
    for i1 in range(0, K, B):
        i2 = min(i1 + B, K); W1 = W[:, i1:i2].clone(); E = torch.zeros_like(W1); Ui = U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if gs > 0 and (i1 + i) % gs == 0: s, z = params(W[:, i1 + i:i1 + i + gs])
            w = W1[:, i:i + 1]
            q = s * (torch.clamp(torch.round(w / s) + z, 0, maxq) - z)
            Q[:, i1 + i:i1 + i + 1] = q
            e = (w - q) / Ui[i, i]
            W1[:, i:] -= e.matmul(Ui[i:i + 1, i:]); E[:, i:i + 1] = e
        W[:, i2:] -= E.matmul(U[i1:i2, i2:])
    return Q
run()
times = []
for _ in range(a['runs']):
    t = time.perf_counter(); Q = run(); times.append(time.perf_counter() - t)
D = (W0 - Q).double(); err = float(((D @ H0.double()) * D).sum())
print(json.dumps({'seconds': min(times), 'runs': times, 'error': err, 'torch': torch.__version__}))
`;

async function torchComparison(a: Args, tmp: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let version = '';
  let python = '';
  for (const p of [process.env.IDP_PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x)) {
    try {
      version = execFileSync(p, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      python = p;
      break;
    } catch { /* next candidate */ }
  }
  if (!python) return { skipped: 'no python3 with torch (Debian: apt-get install python3-torch; or set IDP_PYTHON)' };
  const threads = a.threads ?? os.cpus().length;
  const script = path.join(tmp, 'gptq_ref.py');
  fs.writeFileSync(script, TORCH_GPTQ);
  const la = await Linalg.create(threads);
  const rng = new SamplingRng(7);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  for (const [name, N, K] of [['768x768 (q_proj)', 768, 768], ['768x2048 (down_proj)', 768, 2048], ['2048x768 (up_proj)', 2048, 768]] as Array<[string, number, number]>) {
    const W = Float32Array.from({ length: N * K }, () => gauss() * 0.04);
    // H = XᵀX of correlated activations (rank-32 structure + noise), 4096 rows, via ORT
    const rows = 4096;
    const basis = Float32Array.from({ length: 32 * K }, gauss);
    const coef = Float32Array.from({ length: rows * 32 }, gauss);
    const X = await la.mul(coef, rows, 32, basis, K);
    for (let i = 0; i < X.length; i++) X[i] += 0.3 * gauss();
    const Xt = new Float32Array(K * rows);
    for (let r = 0; r < rows; r++) for (let k = 0; k < K; k++) Xt[k * rows + r] = X[r * K + k];
    const H = Float64Array.from(await la.mulT(Xt, K, rows, Xt, K));
    const wf = path.join(tmp, 'w.f32'); const hf = path.join(tmp, 'h.f64');
    fs.writeFileSync(wf, Buffer.from(W.buffer)); fs.writeFileSync(hf, Buffer.from(H.buffer));
    const ours: number[] = [];
    const theirs: number[] = [];
    const ratios: number[] = [];
    let err = 0;
    let py: { seconds: number; error: number } = { seconds: 0, error: 0 };
    for (let round = 0; round < a.torchRounds; round++) {
      const mine: number[] = [];
      for (let r = 0; r < a.runs; r++) {
        const t = performance.now();
        const q = await gptqQuantize(la, W, Float64Array.from(H), N, K, { bits: 4, groupSize: 128, sym: false, minZero: 0 });
        mine.push((performance.now() - t) / 1000);
        err = await reconstructionError(la, W, dequantize(q.quantized), H, N, K);
      }
      py = JSON.parse(execFileSync(python, [script, JSON.stringify({ w: wf, h: hf, N, K, bits: 4, gs: 128, damp: 0.01, threads, runs: a.runs })], { encoding: 'utf8', maxBuffer: 1 << 24 }));
      ours.push(Math.min(...mine));
      theirs.push(py.seconds);
      ratios.push(py.seconds / Math.min(...mine));
    }
    const median = [...ratios].sort((x, y) => x - y)[ratios.length >> 1];
    out[name] = {
      idpSeconds: +Math.min(...ours).toFixed(3), torchSeconds: +Math.min(...theirs).toFixed(3), speedup: +median.toFixed(2),
      rounds: ours.map((x, i) => ({ idpSeconds: +x.toFixed(3), torchSeconds: +theirs[i].toFixed(3), speedup: +ratios[i].toFixed(2) })),
      idpError: err, torchError: py.error, loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
    };
    console.log(`  GPTQ ${name}: IDP Lab ${Math.min(...ours).toFixed(3)} s, PyTorch ${Math.min(...theirs).toFixed(3)} s; PyTorch / IDP Lab per round ${ratios.map((x) => x.toFixed(2)).join(', ')} ` +
      `(median ${median.toFixed(2)}; error ${err.toExponential(3)} vs ${py.error.toExponential(3)}; load ${os.loadavg()[0].toFixed(1)})`);
  }
  await la.release();
  return { torch: version, python, threads, ...out };
}

// ---- decode + memory (child processes) ---------------------------------------------------------

interface DecodeTask { model: string; tokens: number; runs: number; threads?: number }

function rssBytes(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

async function decodeChild(t: DecodeTask): Promise<Record<string, unknown>> {
  const before = rssBytes();
  const m = await loadModel(t.model);
  const lm = new CausalLM(m, { threads: t.threads });
  await lm.session('last');
  const prompt = [1, 100, 200, 300, 400, 500, 600, 700];
  await generate(lm, undefined, [prompt], { maxTokens: 4, stopIds: [] });
  const afterLoad = rssBytes();
  const rates: number[] = [];
  for (let r = 0; r < t.runs; r++) {
    const g = await generate(lm, undefined, [prompt], { maxTokens: t.tokens, stopIds: [] });
    rates.push(g.timings.decode_tokens_per_s);
  }
  let quantBytes = 0;
  let floatBytes = 0;
  for (const q of m.quant?.modules.values() ?? []) quantBytes += (q.b?.byteLength ?? 0) + (q.scales?.byteLength ?? 0) + (q.zeroPoints?.byteLength ?? 0) + (q.perm?.byteLength ?? 0);
  for (const w of m.weights.values()) floatBytes += w.byteLength * (w.dtype === 'F16' || w.dtype === 'BF16' ? 2 : 1);   // resident as fp32
  const linearFp32 = [...(m.quant?.modules.values() ?? [])].reduce((a, q) => a + 4 * q.inFeatures * q.outFeatures, 0);
  return {
    model: t.model, parameters: parameterCount(m), decodeTokensPerSecond: +Math.max(...rates).toFixed(1), runs: rates.map((x) => +x.toFixed(1)),
    rssAfterLoadMiB: +((afterLoad - before) / 2 ** 20).toFixed(1), quantizedLinearBytes: quantBytes, quantizedLinearFp32Bytes: linearFp32,
    otherWeightBytesFp32: floatBytes,
  };
}

function runChild(task: DecodeTask): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['--child', JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.on('message', (msg) => resolve(msg as Record<string, unknown>));
    c.on('exit', (code) => { if (code) reject(new Error(`child exited ${code}`)); });
  });
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-bench-compress-'));
  const results: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, model: cpuModel(), pages: pages(), node: process.version, date: new Date().toISOString(), loadAverage: os.loadavg() }, args: a,
  };
  const outDir = path.join(benchCacheDir(), 'compress');
  fs.mkdirSync(outDir, { recursive: true });
  try {
    if (a.models.includes('stories')) {
      const model = path.join(dataDir(), 'models', 'stories260K', 'stories260K.gguf');
      const calib = [path.join(dataDir(), 'corpora', 'wikitext2', 'wikitext-2-raw-v1.test.joined.txt')];
      const common = { calib, samples: a.samples, seqlen: a.seqlen, threads: a.threads, output: 'dense' as const, overwrite: true };
      console.log(`stories260K: GPTQ 4-bit per channel, ${a.samples} × ${a.seqlen} WikiText-2 tokens`);
      const g = await compressModel(model, { method: 'gptq', bits: 4, groupSize: -1, out: path.join(outDir, 'stories-gptq4'), ...common });
      console.log('  ', JSON.stringify(summary(g)));
      console.log('stories260K: SparseGPT 50%');
      const s = await compressModel(model, { method: 'sparsegpt', sparsity: 0.5, out: path.join(outDir, 'stories-sp50'), ...common });
      console.log('  ', JSON.stringify(summary(s)));
      results.stories260K = { gptq4: summary(g), sparsegpt50: summary(s) };
    }
    if (a.models.includes('random')) {
      const r = ensureRandomLlama(DEFAULT_SPEC);
      const windows = randomWindows(a.randomSamples, a.randomSeqlen, DEFAULT_SPEC.vocab, 11);
      const common = { calib: windows, threads: a.threads, overwrite: true };
      const q4 = path.join(outDir, 'random-gptq4');
      const compressed: Record<string, unknown> = {};
      if (!a.decodeOnly || !fs.existsSync(path.join(q4, 'quantize_config.json'))) {
        console.log(`random Llama (${(r.parameters / 1e6).toFixed(0)}M): GPTQ 4-bit group 128, ${a.randomSamples} × ${a.randomSeqlen} tokens`);
        const g = await compressModel(r.hfDir, { method: 'gptq', bits: 4, groupSize: 128, sym: true, out: q4, ...common, onProgress: (p) => { if (p.stage === 'layer') console.log(`   ${p.message}`); } });
        console.log('  ', JSON.stringify(summary(g)));
        compressed.gptq4 = summary(g);
      }
      if (!a.decodeOnly) {
        console.log('random Llama: SparseGPT 50%');
        const s = await compressModel(r.hfDir, { method: 'sparsegpt', sparsity: 0.5, out: path.join(outDir, 'random-sp50'), output: 'dense', ...common });
        console.log('  ', JSON.stringify(summary(s)));
        compressed.sparsegpt50 = summary(s);
      }
      const decode: Record<string, unknown> = {};
      for (const threads of a.threads ? [a.threads] : [1, 2]) {
        console.log(`random Llama: decode ${a.decodeTokens} tokens, fp32 vs GPTQ 4-bit, ${threads} thread(s) (child processes, alternating, best of ${a.rounds} rounds)`);
        const best = { fp32: undefined as Record<string, unknown> | undefined, int4: undefined as Record<string, unknown> | undefined };
        for (let round = 0; round < a.rounds; round++) {
          for (const [k, model] of [['fp32', r.hfDir], ['int4', q4]] as const) {
            const c = await runChild({ model, tokens: a.decodeTokens, runs: a.runs, threads });
            if (!best[k] || (c.decodeTokensPerSecond as number) > (best[k]!.decodeTokensPerSecond as number)) best[k] = c;
          }
        }
        const fp32 = best.fp32!;
        const int4 = best.int4!;
        const speedup = (int4.decodeTokensPerSecond as number) / (fp32.decodeTokensPerSecond as number);
        console.log(`   fp32 ${fp32.decodeTokensPerSecond} tok/s, RSS +${fp32.rssAfterLoadMiB} MiB; 4-bit ${int4.decodeTokensPerSecond} tok/s, RSS +${int4.rssAfterLoadMiB} MiB; speedup ${speedup.toFixed(2)}×`);
        console.log(`   4-bit linear layers: ${((int4.quantizedLinearBytes as number) / 2 ** 20).toFixed(1)} MiB vs ${((int4.quantizedLinearFp32Bytes as number) / 2 ** 20).toFixed(1)} MiB fp32 (ratio ${((int4.quantizedLinearBytes as number) / (int4.quantizedLinearFp32Bytes as number)).toFixed(4)})`);
        decode[`threads${threads}`] = { fp32, gptq4: int4, speedup: +speedup.toFixed(2) };
      }
      results.random100M = { parameters: r.parameters, ...compressed, decode, loadAverage: os.loadavg() };
    }
    if (a.torch) {
      console.log('GPTQ per module vs PyTorch (same W, H, threads)');
      results.gptqVsPytorch = await torchComparison(a, tmp);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const file = a.out ? path.resolve(a.out) : path.join(__dirname, '..', '..', 'bench', 'results', 'compress.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

if (process.argv[2] === '--child') {
  decodeChild(JSON.parse(process.argv[3]) as DecodeTask).then((r) => { process.send!(r); process.exit(0); }, (e) => { console.error(e); process.exit(1); });
} else if (require.main === module && !relaunchWithHugePages()) {
  main().catch((e) => { console.error(e); process.exit(1); });
}
