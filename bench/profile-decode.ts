// Where a decode step's time goes: ORT's per-node profile of greedy decoding, summed per operator type
// and per part of the model (embedding, layers' linear kernels, attention, norms, output projection).
//
//   node out/bench/profile-decode.js MODEL [--threads 1] [--tokens 64] [--prompt 5] [--top 12] [--json FILE]
//
// The model loads as the CLI loads it; one untimed generation warms the session, then a second one of
// `tokens` tokens runs with ORT's profiler on. Only the decode steps of that run are summed (the last
// tokens − 1 model_run events: the prefill and the warm-up are left out), so the figures are per-node
// kernel times that other work on the machine disturbs less than wall-clock tokens/s.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel } from '../src/engine/models/load';
import { CausalLM } from '../src/engine/runtime/lm';
import { generate } from '../src/engine/runtime/generate';

interface ProfileEvent { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }

/** The part of the model a node belongs to, from its scope path (onnx/builder.ts names nodes by scope). */
export function partOf(node: string, op: string): string {
  if (/lm_head|logits/.test(node)) return 'output projection';
  if (/embed/.test(node)) return 'embedding';
  if (op === 'MatMulNBits' || /_proj|mlp\/|gate|up|down/.test(node) && /MatMul|Gemm/.test(op)) return 'layer linears';
  if (/attn|Attention|Rotary|rope/.test(node) || /Attention|Rotary/.test(op)) return 'attention';
  if (/Norm/.test(op)) return 'norms';
  return 'other';
}

export interface ProfileSummary {
  steps: number;
  stepUs: number;                                  // mean wall time of a decode step's model_run
  kernelUs: number;                                // mean summed kernel time per step
  byOp: Array<{ op: string; us: number; calls: number }>;
  byPart: Array<{ part: string; us: number }>;
  topNodes: Array<{ node: string; op: string; us: number }>;
}

export function summarize(events: ProfileEvent[], steps: number, top = 12): ProfileSummary {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const timed = runs.slice(-steps);
  if (timed.length === 0) throw new Error('the profile holds no model_run events');
  const t0 = timed[0].ts;
  const t1 = timed[timed.length - 1].ts + timed[timed.length - 1].dur;
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= t0 && e.ts <= t1);
  const byOp = new Map<string, { us: number; calls: number }>();
  const byPart = new Map<string, number>();
  const byNode = new Map<string, { op: string; us: number }>();
  for (const e of nodes) {
    const op = e.args?.op_name ?? '?';
    const node = e.name.slice(0, -'_kernel_time'.length);
    const o = byOp.get(op) ?? { us: 0, calls: 0 };
    o.us += e.dur; o.calls++;
    byOp.set(op, o);
    const part = partOf(node, op);
    byPart.set(part, (byPart.get(part) ?? 0) + e.dur);
    const n = byNode.get(node) ?? { op, us: 0 };
    n.us += e.dur;
    byNode.set(node, n);
  }
  const n = timed.length;
  const kernel = nodes.reduce((a, e) => a + e.dur, 0);
  return {
    steps: n,
    stepUs: timed.reduce((a, e) => a + e.dur, 0) / n,
    kernelUs: kernel / n,
    byOp: [...byOp].map(([op, v]) => ({ op, us: v.us / n, calls: v.calls / n })).sort((a, b) => b.us - a.us),
    byPart: [...byPart].map(([part, us]) => ({ part, us: us / n })).sort((a, b) => b.us - a.us),
    topNodes: [...byNode].map(([node, v]) => ({ node, op: v.op, us: v.us / n })).sort((a, b) => b.us - a.us).slice(0, top),
  };
}

function printSummary(s: ProfileSummary): void {
  const pct = (us: number) => `${((100 * us) / s.kernelUs).toFixed(1)} %`;
  console.log(`${s.steps} decode steps: ${(s.stepUs / 1000).toFixed(2)} ms per step (model_run), kernels ${(s.kernelUs / 1000).toFixed(2)} ms`);
  console.log('\nby part of the model (kernel µs per step):');
  for (const p of s.byPart) console.log(`  ${p.part.padEnd(20)} ${p.us.toFixed(0).padStart(8)}  ${pct(p.us)}`);
  console.log('\nby operator (kernel µs per step, calls per step):');
  for (const o of s.byOp) console.log(`  ${o.op.padEnd(34)} ${o.us.toFixed(0).padStart(8)}  ${pct(o.us).padStart(7)}  ×${o.calls.toFixed(0)}`);
  console.log('\nslowest nodes:');
  for (const x of s.topNodes) console.log(`  ${x.us.toFixed(0).padStart(8)}  ${x.op.padEnd(20)} ${x.node}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, dflt: number) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : dflt; };
  const jsonAt = argv.indexOf('--json');
  const model = argv.find((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1].startsWith('--')));
  if (!model) throw new Error('usage: profile-decode MODEL [--threads N] [--tokens N] [--prompt N] [--top N] [--json FILE]');
  const threads = opt('--threads', 1), tokens = opt('--tokens', 64), promptLen = opt('--prompt', 5);
  const m = await loadModel(model);
  const prefix = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'idp-profile-')), 'decode');
  const lm = new CausalLM(m, { threads, profile: prefix });
  const prompt = Array.from({ length: promptLen }, (_, i) => (i === 0 ? (m.config.bosTokenId ?? 1) : 3 + ((i * 7919) % (m.config.vocabSize - 3))));
  await generate(lm, undefined, [prompt], { maxTokens: 8, stopIds: [] });
  const r = await generate(lm, undefined, [prompt], { maxTokens: tokens, stopIds: [] });
  const session = await lm.session(lm.kvInPlace() ? 'capacity' : 'last');
  await session.endProfiling();   // writes <prefix>_<date>.json
  const dir = path.dirname(prefix);
  const found = fs.readdirSync(dir).filter((f) => f.startsWith('decode') && f.endsWith('.json'));
  if (found.length !== 1) throw new Error(`expected one profile in ${dir}, found ${found.length}`);
  const file = path.join(dir, found[0]);
  const events = JSON.parse(fs.readFileSync(path.isAbsolute(file) ? file : path.resolve(file), 'utf8')) as ProfileEvent[];
  const s = summarize(events, tokens - 1, opt('--top', 12));
  console.log(`${model}: ${threads} thread(s), decode ${r.timings.decode_tokens_per_s.toFixed(1)} tok/s with the profiler on`);
  printSummary(s);
  if (jsonAt >= 0) fs.writeFileSync(argv[jsonAt + 1], JSON.stringify({ model, threads, tokens, tokensPerSecond: r.timings.decode_tokens_per_s, ...s }, null, 2) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  await lm.release();
}

if (require.main === module) {
  main().catch((e) => { console.error(e instanceof Error ? e.stack ?? e.message : e); process.exit(1); });
}
