// `idp serve`: the model (and its IDP bank) behind an OpenAI-compatible HTTP API (src/server/openai/).

import type { Command } from 'commander';
import { defaultModelPath } from '../engine/index';
import type { ProviderSetting } from '../engine/index';
import { startServer } from '../server/openai/server';
import { int, modelOptions } from './options';
import { chosenEp } from './gpu';
import { reportError } from './errors';

interface ServeFlags {
  model?: string; tokenizer?: string; bank?: string; host: string; port: number; apiKey?: string; maxQueue: number; threads?: number; ep: ProviderSetting;
}

export function registerServeCommand(program: Command): void {
  modelOptions(program.command('serve')
    .description('serve the model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions)'))
    .option('--bank <dir>', 'IDP prompt bank: every request runs with it, and answers say which prompt was selected')
    .option('--host <host>', 'address to listen on (other than loopback needs --api-key)', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', int('--port'), 8080)
    .option('--api-key <key>', 'require Authorization: Bearer <key> on every request')
    .option('--max-queue <n>', 'requests that may wait behind the running one; more are refused with 429', int('--max-queue'), 8)
    .action(runServe);
}

async function runServe(f: ServeFlags): Promise<void> {
  try {
    const s = await startServer({
      model: f.model ?? defaultModelPath(), tokenizer: f.tokenizer, ep: await chosenEp(f.ep), bank: f.bank, host: f.host, port: f.port, apiKey: f.apiKey, maxQueue: f.maxQueue, threads: f.threads,
      log: (line) => process.stderr.write(`idp serve: ${line}\n`),
    });
    process.stdout.write(`idp serve: ${s.host.id} at ${s.url}${s.host.template ? '' : ' (no chat template: /v1/chat/completions answers 400)'}\n`);
    const stop = () => {
      process.stderr.write('idp serve: stopping\n');
      s.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
