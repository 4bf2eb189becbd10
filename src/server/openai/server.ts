// `idp serve`'s server: the model (model-host.ts), the queue (queue.ts) and the routes (routes.ts) behind
// Node's http server. Loopback by default; any other address needs an API key, because whoever can reach
// the port can run the model.

import * as http from 'http';
import type { AddressInfo } from 'net';
import { inputError } from '../../engine/index';
import type { ExecutionProvider } from '../../engine/index';
import { ModelHost } from './model-host';
import { GenerationQueue } from './queue';
import { handler, RouteContext } from './routes';

export interface ServeOptions {
  model: string;
  tokenizer?: string;
  bank?: string;
  host?: string;          // default 127.0.0.1
  port?: number;          // default 8080; 0 picks a free one
  apiKey?: string;
  maxQueue?: number;      // requests waiting behind the running one (default 8)
  threads?: number;
  ep?: ExecutionProvider;
  log?: (line: string) => void;
  onCancelled?: RouteContext['onCancelled'];
}

export interface RunningServer {
  url: string;
  host: ModelHost;
  queue: GenerationQueue;
  close(): Promise<void>;
}

export const isLoopback = (h: string) => h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);

/** Refuses an address other hosts can reach without an API key (before anything is loaded). */
export function checkBinding(host: string, apiKey: string | undefined): void {
  if (!isLoopback(host) && !(apiKey && apiKey.length > 0)) {
    throw inputError(`--host ${host} lets other machines reach the model: give --api-key too (clients then send Authorization: Bearer <key>)`);
  }
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const bind = o.host ?? '127.0.0.1';
  checkBinding(bind, o.apiKey);
  const maxQueue = o.maxQueue ?? 8;
  if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) throw inputError(`--max-queue must be a non-negative integer, got ${maxQueue}`);
  const host = await ModelHost.load({ model: o.model, tokenizer: o.tokenizer, bank: o.bank, threads: o.threads, ep: o.ep });
  const queue = new GenerationQueue(maxQueue);
  const server = http.createServer(handler({ host, queue, apiKey: o.apiKey, log: o.log ?? (() => undefined), onCancelled: o.onCancelled }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL'
      ? inputError(`cannot listen on ${bind}:${o.port ?? 8080}: ${e.code}`) : e));
    server.listen(o.port ?? 8080, bind, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${shown}:${a.port}/v1`,
    host,
    queue,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
