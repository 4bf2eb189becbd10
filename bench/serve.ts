// `idp serve` under load: the CLI server as a separate process, and 1, 4 and 16 concurrent clients (the
// `openai` npm client) sending completions back to back. Prints requests/s, p50/p95 latency per request and
// how many were refused (429: more clients than --max-queue + 1), and the server's RSS after each level.
//
//   npm run bench:serve [-- --requests 48 --max-tokens 32 --max-queue 8 --model PATH]
//
// Writes bench/results/serve.json. No llama.cpp server beside it yet (see README: what remains).

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { int } from '../src/cli/options';
import { percentile } from '../src/extension/completion/policy';
import { defaultModelPath } from '../src/engine/defaults';
import { cpuModel } from './machine';

// required, not imported: only the calls are used, not the client's types
const { OpenAI } = require('openai');

const args = new Command('bench:serve')
  .description('idp serve throughput and latency at 1, 4 and 16 concurrent clients')
  .option('--requests <n>', 'requests per concurrency level', int('--requests', 1), 48)
  .option('--max-tokens <n>', 'tokens per completion', int('--max-tokens', 1), 32)
  .option('--max-queue <n>', 'the server\'s --max-queue', int('--max-queue'), 8)
  .option('--model <path>', 'model (default: the embedded default model)')
  .parse(process.argv.slice(2), { from: 'user' })
  .opts<{ requests: number; maxTokens: number; maxQueue: number; model?: string }>();

// Prompts in the style of the default model's training text (code), varied so no two requests are alike.
const PROMPTS = ['import os\n', 'def add(a, b):', 'class Stack:\n    def ', 'export function ', 'const x = ', 'for (let i = 0; ', '# parse the file\n', 'if (err) {\n  '];

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** The pid of the process that serves: the CLI relaunches itself once (huge pages), so its child when it has one. */
function serverPid(pid: number): number {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) return Number(e);
    } catch { /* gone */ }
  }
  return pid;
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const model = args.model ?? defaultModelPath();
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), 'serve', '--model', model, '--port', '0', '--max-queue', String(args.maxQueue)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const deadline = Date.now() + 60000;
  let url: string | undefined;
  while (!(url = /http:\/\/\S+\/v1/.exec(out)?.[0])) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`idp serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = serverPid(child.pid!);
  const c = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
  const ask = (i: number) => c.completions.create({ model: 'bench', prompt: PROMPTS[i % PROMPTS.length], max_tokens: args.maxTokens, temperature: 0.8, seed: i });
  for (let i = 0; i < 4; i++) await ask(i);   // warm up
  const levels = [];
  try {
    for (const clients of [1, 4, 16]) {
      const latencies: number[] = [];
      let refused = 0;
      let tokens = 0;
      let next = 0;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: clients }, async () => {
        while (next < args.requests) {
          const i = next++;
          const s = performance.now();
          try {
            const r = await ask(i);
            latencies.push(performance.now() - s);
            tokens += r.usage.completion_tokens;
          } catch (e) {
            if ((e as { status?: number }).status === 429) refused++;
            else throw e;
          }
        }
      }));
      const wallS = (performance.now() - t0) / 1000;
      levels.push({
        clients, requests: args.requests, answered: latencies.length, refused, wall_s: wallS,
        requests_per_s: latencies.length / wallS, tokens_per_s: tokens / wallS,
        latency_ms: { p50: percentile(latencies, 50), p95: percentile(latencies, 95) }, server_rss_mib: rssMiB(pid),
      });
    }
  } finally {
    child.kill('SIGTERM');
  }
  const result = { machine: `${cpuModel()}, node ${process.version}`, model: path.relative(root, model) || model, max_tokens: args.maxTokens, max_queue: args.maxQueue, levels };
  const file = path.join(root, 'bench', 'results', 'serve.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`idp serve on ${path.basename(model)}, ${args.maxTokens} tokens per completion, --max-queue ${args.maxQueue}, ${result.machine}`);
  for (const l of levels) {
    console.log(`  ${String(l.clients).padStart(2)} clients  ${l.requests_per_s.toFixed(1)} req/s  ${l.tokens_per_s.toFixed(0)} tok/s  p50 ${l.latency_ms.p50.toFixed(1)} ms  p95 ${l.latency_ms.p95.toFixed(1)} ms  ${l.answered} answered, ${l.refused} refused (429)  RSS ${l.server_rss_mib.toFixed(0)} MiB`);
  }
  console.log(`  → ${path.relative(root, file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
