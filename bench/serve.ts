// `idp serve` under load: the CLI server as a separate process, and 1, 4 and 16 concurrent clients (the
// `openai` npm client) sending greedy completions back to back. Prints requests/s, p50/p95 latency per
// request and how many were refused (429: more clients than --max-queue + 1), and the server's RSS after
// each level. Beside it, same run, same prompts and load: llama.cpp (node-llama-cpp) behind the same API
// subset and the same queue (peers/llama-serve.ts); the two are measured alternately (the order flips at
// every level) and the ratios IDP Lab / llama.cpp are printed. --no-llama-cpp measures idp serve alone.
//
//   npm run bench:serve [-- --requests 48 --max-tokens 32 --max-queue 8 --model DIR --no-llama-cpp]
//
// Writes bench/results/serve.json.

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { int } from '../src/cli/options';
import { percentile } from '../src/extension/completion/policy';
import { defaultModelPath } from '../src/engine/defaults';
import { cpuModel } from './machine';
import { LlamaPeer, startLlamaPeer } from './peers/llama-serve';

// required, not imported: only the calls are used, not the client's types
const { OpenAI } = require('openai');

const args = new Command('bench:serve')
  .description('idp serve throughput and latency at 1, 4 and 16 concurrent clients')
  .option('--requests <n>', 'requests per concurrency level', int('--requests', 1), 48)
  .option('--max-tokens <n>', 'tokens per completion', int('--max-tokens', 1), 32)
  .option('--max-queue <n>', 'the server\'s --max-queue', int('--max-queue'), 8)
  .option('--model <path>', 'model (default: the embedded default model)')
  .option('--no-llama-cpp', 'no llama.cpp peer')
  .parse(process.argv.slice(2), { from: 'user' })
  .opts<{ requests: number; maxTokens: number; maxQueue: number; model?: string; llamaCpp: boolean }>();

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

interface Level {
  clients: number; requests: number; answered: number; refused: number; wall_s: number;
  requests_per_s: number; tokens_per_s: number; latency_ms: { p50: number; p95: number }; server_rss_mib: number | null;
}

/** `clients` concurrent clients sending args.requests greedy completions in all, back to back. */
async function load(c: any, clients: number, rss: () => number | null): Promise<Level> {
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
        const r = await ask(c, i);
        latencies.push(performance.now() - s);
        tokens += r.usage.completion_tokens;
      } catch (e) {
        if ((e as { status?: number }).status === 429) refused++;
        else throw e;
      }
    }
  }));
  const wallS = (performance.now() - t0) / 1000;
  return {
    clients, requests: args.requests, answered: latencies.length, refused, wall_s: wallS,
    requests_per_s: latencies.length / wallS, tokens_per_s: tokens / wallS,
    latency_ms: { p50: percentile(latencies, 50), p95: percentile(latencies, 95) }, server_rss_mib: rss(),
  };
}

const ask = (c: any, i: number) => c.completions.create({ model: 'bench', prompt: PROMPTS[i % PROMPTS.length], max_tokens: args.maxTokens, temperature: 0 });

async function startIdp(model: string): Promise<{ url: string; pid: number; stop: () => void }> {
  const root = path.resolve(__dirname, '..', '..');
  const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), 'serve', '--model', model, '--port', '0', '--max-queue', String(args.maxQueue)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const deadline = Date.now() + 60000;
  let url: string | undefined;
  while (!(url = /http:\/\/\S+\/v1/.exec(out)?.[0])) {
    if (Date.now() > deadline || child.exitCode !== null) { child.kill('SIGTERM'); throw new Error(`idp serve did not start: ${out}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, pid: serverPid(child.pid!), stop: () => child.kill('SIGTERM') };
}

const line = (name: string, l: Level) => `  ${name.padEnd(9)} ${String(l.clients).padStart(2)} clients  ${l.requests_per_s.toFixed(1)} req/s  ${l.tokens_per_s.toFixed(0)} tok/s  p50 ${l.latency_ms.p50.toFixed(1)} ms  p95 ${l.latency_ms.p95.toFixed(1)} ms  ${l.answered} answered, ${l.refused} refused (429)${l.server_rss_mib !== null ? `  RSS ${l.server_rss_mib.toFixed(0)} MiB` : ''}`;

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const model = args.model ?? defaultModelPath();
  const idp = await startIdp(model);
  let peer: LlamaPeer | undefined;
  let peerError: string | undefined;
  const levels: Level[] = [];
  const peerLevels: Level[] = [];
  let sameText = 0;
  try {
    if (args.llamaCpp) {
      try {
        peer = await startLlamaPeer(model, args.maxQueue);
      } catch (e) {
        peerError = (e as Error).message;
        console.error(`llama.cpp peer not run: ${peerError}`);
      }
    }
    const ci = new OpenAI({ baseURL: idp.url, apiKey: 'unused', maxRetries: 0 });
    const cp = peer && new OpenAI({ baseURL: peer.url, apiKey: 'unused', maxRetries: 0 });
    // warm up both, and check they answer the same prompts alike (same weights, greedy)
    for (let i = 0; i < PROMPTS.length; i++) {
      const a = await ask(ci, i);
      if (cp) { const b = await ask(cp, i); if (a.choices[0].text === b.choices[0].text) sameText++; }
    }
    for (const [k, clients] of [1, 4, 16].entries()) {
      const runIdp = async () => { levels.push(await load(ci, clients, () => rssMiB(idp.pid))); };
      // the peer lives in this process: its RSS would include the client's, so none is reported
      const runPeer = async () => { if (cp) peerLevels.push(await load(cp, clients, () => null)); };
      if (k % 2 === 0) { await runIdp(); await runPeer(); } else { await runPeer(); await runIdp(); }
    }
  } finally {
    idp.stop();
    await peer?.close();
  }
  const ratios = peerLevels.map((p, k) => ({
    clients: p.clients,
    requests_per_s: levels[k].requests_per_s / p.requests_per_s,
    p50: levels[k].latency_ms.p50 / p.latency_ms.p50,
    p95: levels[k].latency_ms.p95 / p.latency_ms.p95,
  }));
  const result = {
    machine: `${cpuModel()}, node ${process.version}`, model: path.relative(root, model) || model, max_tokens: args.maxTokens, max_queue: args.maxQueue,
    decoding: 'greedy (temperature 0)', levels,
    llama_cpp: peer ? {
      how: 'node-llama-cpp in a Node http server in the bench process (OpenAI /v1/completions subset, idp serve\'s queue and 429), same weights as an F32 GGUF, IDP Lab\'s tokenizer for text<->ids',
      gguf: path.basename(peer.gguf), threads: peer.threads, ...peer.info,
      same_greedy_text: `${sameText} of ${PROMPTS.length} prompts`, levels: peerLevels,
    } : { not_run: peerError ?? '--no-llama-cpp' },
    ratios_idp_over_llama_cpp: ratios,
  };
  const file = path.join(root, 'bench', 'results', 'serve.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`idp serve on ${path.basename(model)}, ${args.maxTokens} greedy tokens per completion, --max-queue ${args.maxQueue}, ${result.machine}`);
  if (peer) console.log(`beside llama.cpp (node-llama-cpp ${peer.info.nodeLlamaCpp}, llama.cpp ${peer.info.llamaCppRelease}, ${peer.threads} thread(s), F32 GGUF) behind the same API subset and queue; same greedy text for ${sameText} of ${PROMPTS.length} prompts`);
  for (const [k, l] of levels.entries()) {
    console.log(line('IDP Lab', l));
    if (peerLevels[k]) console.log(line('llama.cpp', peerLevels[k]));
    const r = ratios[k];
    if (r) console.log(`  ratio IDP Lab / llama.cpp: req/s ${r.requests_per_s.toFixed(2)}×  p50 ${r.p50.toFixed(2)}×  p95 ${r.p95.toFixed(2)}×`);
  }
  console.log(`  → ${path.relative(root, file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
