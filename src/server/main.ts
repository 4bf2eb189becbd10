// The engine process: `node dist/server.js` speaks JSON-RPC (vscode-jsonrpc) on stdin/stdout and
// hosts the engine directly (it is its own process, so a long native call blocks nobody else).
// stdout carries protocol messages only: everything else (console output, diagnostics) goes to
// stderr, which the client shows in its log. The process exits when its client goes away (however it went).

import { createMessageConnection, StreamMessageReader, StreamMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import { dieWithCaller, isIdpError } from '../engine/index';
import { EngineService, CAPABILITIES } from './engine-service';
import { registerWorkflows } from './workflows';
import { Confinement } from './confinement';
import { ENGINE_ERROR, GenerateProgressType, Methods, PROTOCOL_VERSION, WireError } from '../protocol/engine-rpc';

// nothing but protocol messages may reach stdout
const toStderr = (...a: unknown[]) => process.stderr.write(a.map(String).join(' ') + '\n');
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

/** Engine errors cross the wire with their code and file; anything else as an internal error. */
export function toResponseError(e: unknown): ResponseError<WireError> {
  if (isIdpError(e)) {
    const message = e.file ? e.message.slice(e.file.length + 2) : e.message;
    return new ResponseError(ENGINE_ERROR, e.message, { code: e.code, message, file: e.file });
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof Error && e.stack) process.stderr.write(`internal error: ${e.stack}\n`);
  return new ResponseError(ENGINE_ERROR, `internal error: ${msg}`, { message: `internal error: ${msg}` });
}

function main(): void {
  const started = Date.now();
  const service = new EngineService();
  const confinement = new Confinement();
  const conn = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
  /** Every request that names paths runs inside the client's declared folders (confinement.ts); errors cross typed. */
  const guard = <T>(method: string, params: unknown, run: () => Promise<T>): Promise<T> =>
    confinement.run(method, params, { loadedModel: service.modelPath }, run).catch((e: unknown) => { throw toResponseError(e); });

  conn.onRequest(Methods.initialize, (p) => {
    try {
      confinement.declare(p);
    } catch (e) {
      throw toResponseError(e);
    }
    if (confinement.confined) process.stderr.write(`confined to the declared folders: ${JSON.stringify(p)}\n`);
    return { protocolVersion: PROTOCOL_VERSION, pid: process.pid, node: process.version, capabilities: CAPABILITIES };
  });
  conn.onRequest(Methods.load, (p) => guard(Methods.load.method, p, () => service.load(p)));
  conn.onRequest(Methods.info, () => service.info());
  conn.onRequest(Methods.health, () => ({
    pid: process.pid, uptimeMs: Date.now() - started, rssBytes: process.memoryUsage.rss(), model: service.modelPath,
  }));
  conn.onRequest(Methods.generate, (p, token) => {
    const progressToken = p?.progressToken;
    const onProgress = typeof progressToken === 'string'
      ? (v: Parameters<NonNullable<Parameters<EngineService['generate']>[2]>>[0]) => void conn.sendProgress(GenerateProgressType, progressToken, v)
      : undefined;
    return guard(Methods.generate.method, p, () => service.generate(p, token, onProgress));
  });
  conn.onRequest(Methods.inspect, (p) => guard(Methods.inspect.method, p, () => service.inspect(p)));
  registerWorkflows(conn, service.workflows, guard);
  conn.onRequest(Methods.shutdown, () => {
    setImmediate(() => process.exit(0));
  });
  // the client is gone: nothing left to serve
  conn.onClose(() => process.exit(0));
  // stdin is the pipe from the client: its end (or our re-parenting, if the client was killed) means the
  // client is gone, and a job it started must neither go on nor write its output (process/caller.ts)
  dieWithCaller(process.stdin, 0);
  conn.listen();
}

if (require.main === module) main();
