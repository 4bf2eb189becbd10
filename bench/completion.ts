// Inline-completion latency: replays typing into a document through the extension's completion
// core (the same Completer the VS Code provider uses: adaptive debounce, one request in flight,
// cancellation on every keystroke, LRU cache, stop rules) against the real engine process.
// Every keystroke cancels the previous request, as the editor does.
//
//   npm run bench:completion [-- --keystrokes 300 --interval 90 --model PATH --file TEXT]
//
// Prints p50/p95 of the engine time per answered request and of keystroke → completion shown,
// and the work wasted on cancelled requests; writes bench/results/completion.json.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Command } from 'commander';
import { int } from '../src/cli/options';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { EngineClient } from '../src/extension/engine-client';
import { Completer } from '../src/extension/completion/completer';
import { percentile } from '../src/extension/completion/policy';
import { defaultModelPath } from '../src/engine/defaults';

// A document to type (our own text, in the style the default model knows).
const TEXT = `Once upon a time, there was a little dog named Max. Max liked to run in the park with his friend Sam.
One day, Sam found a big red ball under a tree. "Look, Max!" said Sam. Max wagged his tail and ran to the ball.
They played all day until the sun went down. Then they went home, and Mom gave them warm milk.
Max was happy. He said, "Thank you, Mom!" and went to sleep in his soft bed.
`;

const args = new Command('bench:completion')
  .description('inline-completion latency while replaying typing')
  .option('--keystrokes <n>', 'keystrokes to replay', int('--keystrokes', 1), 300)
  .option('--interval <ms>', 'mean gap between keystrokes', int('--interval', 1), 90)
  .option('--model <path>', 'model (default: the embedded default model)')
  .option('--file <path>', 'text to type (default: a built-in document)')
  .parse(process.argv.slice(2), { from: 'user' })
  .opts<{ keystrokes: number; interval: number; model?: string; file?: string }>();

/** A seeded generator for human-like gaps between keystrokes. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

async function main(): Promise<void> {
  const { keystrokes, interval } = args;
  const model = args.model ?? defaultModelPath();
  const text = args.file ? fs.readFileSync(args.file, 'utf8') : TEXT;
  const root = path.resolve(__dirname, '..', '..');
  const server = [path.join(root, 'dist', 'server.js'), path.join(root, 'out', 'src', 'server', 'main.js')].find((p) => fs.existsSync(p))!;
  const engine = new EngineClient({ serverScript: server });
  const info = await engine.load({ model });
  const completer = new Completer((p, token) => engine.generate(p, undefined, token));
  const opts = { maxTokens: 32, maxLines: 4, model: info.path };
  // warm up (graph build, first session run)
  await completer.complete({ prefix: 'Once', suffix: '', languageId: 'plaintext', explicit: true }, opts, new CancellationTokenSource().token);
  completer.reset();
  Object.assign(completer.stats, { requests: 0, completed: 0, cancelled: 0, cacheHits: 0, generatedTokens: 0, wastedTokens: 0, latenciesMs: [] });

  const next = rng(7);
  const shownMs: number[] = [];
  const shownEngineMs: number[] = [];
  let shown = 0;
  let current: CancellationTokenSource | undefined;
  const pending: Promise<void>[] = [];
  const n = Math.min(keystrokes, text.length);
  const t0 = Date.now();
  for (let i = 1; i <= n; i++) {
    current?.cancel(); // the editor cancels the previous request on every keystroke
    const cts = new CancellationTokenSource();
    current = cts;
    const typedAt = performance.now();
    pending.push(completer.complete({ prefix: text.slice(0, i), suffix: text.slice(i).startsWith('\n') ? '\n' : '', languageId: 'plaintext', explicit: false }, opts, cts.token)
      .then((r) => {
        if (r && !cts.token.isCancellationRequested) {
          shown++;
          shownMs.push(performance.now() - typedAt);
          if (r.source === 'engine') shownEngineMs.push(performance.now() - typedAt);
        }
      }));
    // 0.5x–1.5x the mean gap, with an occasional pause to think
    const gap = interval * (0.5 + next()) + (next() < 0.05 ? interval * 8 : 0);
    await new Promise((r) => setTimeout(r, gap));
  }
  await Promise.all(pending);
  const wallS = (Date.now() - t0) / 1000;
  await engine.dispose();

  const s = completer.stats;
  const result = {
    machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}`,
    model: info.path, parameters: info.parameters,
    keystrokes: n, mean_interval_ms: interval, wall_s: wallS,
    engine_latency_ms: { p50: percentile(s.latenciesMs, 50), p95: percentile(s.latenciesMs, 95), n: s.latenciesMs.length },
    keystroke_to_shown_ms: { p50: percentile(shownMs, 50), p95: percentile(shownMs, 95), n: shownMs.length },
    keystroke_to_shown_from_engine_ms: { p50: percentile(shownEngineMs, 50), p95: percentile(shownEngineMs, 95), n: shownEngineMs.length },
    completions_shown: shown, cache_hits: s.cacheHits,
    requests: s.requests, cancelled_requests: s.cancelled,
    generated_tokens: s.generatedTokens, wasted_tokens: s.wastedTokens,
    wasted_fraction: s.generatedTokens ? s.wastedTokens / s.generatedTokens : 0,
  };
  const out = path.join(root, 'bench', 'results', 'completion.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  const f = (x: number) => x.toFixed(1);
  console.log(`inline completion on ${path.basename(info.path)} (${info.parameters.toLocaleString('en-US')} parameters), ${n} keystrokes at ~${interval} ms, ${result.machine}`);
  console.log(`  engine latency       p50 ${f(result.engine_latency_ms.p50)} ms   p95 ${f(result.engine_latency_ms.p95)} ms   (${result.engine_latency_ms.n} answered requests)`);
  console.log(`  keystroke → shown    p50 ${f(result.keystroke_to_shown_ms.p50)} ms   p95 ${f(result.keystroke_to_shown_ms.p95)} ms   (${shown} shown, ${s.cacheHits} from cache/typing through)`);
  console.log(`  … engine answers only p50 ${f(result.keystroke_to_shown_from_engine_ms.p50)} ms   p95 ${f(result.keystroke_to_shown_from_engine_ms.p95)} ms   (debounce + engine)`);
  console.log(`  wasted work          ${s.cancelled}/${s.requests} requests cancelled, ${s.wastedTokens}/${s.generatedTokens} tokens (${f(100 * result.wasted_fraction)}%)`);
  console.log(`  goal p50 ≤ 150 ms: ${result.keystroke_to_shown_from_engine_ms.p50 <= 150 ? 'met (engine answers alone)' : 'NOT met'}  → ${path.relative(root, out)}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
