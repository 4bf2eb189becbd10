// IDP: Start Local Server / Stop Local Server — `idp serve` (src/server/openai/) on the selected model and,
// when it is for that model, the active IDP bank, as a child process of the extension host bound to
// loopback, so the tools the user already has (anything that speaks the OpenAI API) can use them. A status
// bar item shows the address (click: stop); the server stops with the window. The workspace-trust rule of
// every engine request applies to what it may load (Restricted Mode: the default model and the lab only).

import * as cp from 'child_process';
import * as path from 'path';
import * as vscode from 'vscode';
import { Ctx, trustState } from '../context';
import { readAllowed } from '../trust';
import { defaultModelPath } from '../../engine/defaults';
import { activeBank } from './active-bank';
import { CALLER_FD_ENV } from '../../engine/process/caller';
import { modelArg } from '../paths';

export interface LocalServerArgs { model?: string; bank?: string | null; port?: number }
/** url: the API's base URL (…/v1), what OpenAI clients take as base_url. */
export interface LocalServer { url: string; model: string; bank?: string }

let running: { proc: cp.ChildProcess; server: LocalServer; item: vscode.StatusBarItem } | undefined;

/** Stops the server if one runs (the window closing calls it too). */
export async function stopServer(): Promise<boolean> {
  const r = running;
  if (!r) return false;
  running = undefined;
  r.item.dispose();
  if (r.proc.exitCode === null && r.proc.signalCode === null) {
    const exited = new Promise<void>((resolve) => r.proc.once('exit', () => resolve()));
    r.proc.kill('SIGTERM');
    const timer = setTimeout(() => r.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  return true;
}

export const startLocalServer = (ctx: Ctx) => async (arg?: LocalServerArgs): Promise<LocalServer | undefined> => {
  const given = arg !== undefined;
  if (running) {
    if (!given) void vscode.window.showInformationMessage(`IDP: the local server is already running at ${running.server.url}`);
    return running.server;
  }
  const model = modelArg(arg?.model ?? ctx.engine.model?.path ?? defaultModelPath());
  const active = activeBank(ctx);
  const bank = arg?.bank === null ? undefined : arg?.bank ?? (active && modelArg(active.model) === model ? active.bank : undefined);
  const t = trustState(ctx);
  for (const p of [model, bank]) {
    if (p && !readAllowed(t, p)) {
      const msg = `IDP: the local server may not load ${p} in Restricted Mode (trust the workspace, or use the default model and the lab's runs).`;
      if (given) throw new Error(msg);
      void vscode.window.showErrorMessage(msg);
      return undefined;
    }
  }
  const cli = ctx.ext.asAbsolutePath(path.join('dist', 'cli.js'));
  const args = [cli, 'serve', '--model', model, '--host', '127.0.0.1', '--port', String(arg?.port ?? 0), ...(bank ? ['--bank', bank] : [])];
  // fd 3: a pipe only this host writes to; the server exits when it closes, even if the host is killed (caller.ts)
  const proc = cp.spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'], windowsHide: true,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', IDP_HUGE_PAGES: '0', [CALLER_FD_ENV]: '3' },
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => { for (const line of s.split('\n')) if (line.trim()) ctx.log.info(`[serve] ${line}`); });
  const url = await new Promise<string | undefined>((resolve) => {
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (s: string) => {
      out += s;
      const m = /at (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.once('exit', () => resolve(undefined));
  });
  if (!url) {
    const msg = 'IDP: the local server did not start (see the log).';
    if (given) throw new Error(msg);
    void vscode.window.showErrorMessage(msg, 'Show Log').then((b) => { if (b) ctx.log.show(true); });
    return undefined;
  }
  const server: LocalServer = { url, model, ...(bank ? { bank } : {}) };
  const item = vscode.window.createStatusBarItem('idp.localServer', vscode.StatusBarAlignment.Right, 99);
  item.name = 'IDP Local Server';
  item.text = `$(broadcast) ${url.replace(/^http:\/\//, '').replace(/\/v1$/, '')}`;
  item.tooltip = `IDP: OpenAI-compatible API at ${url} (${path.basename(model)}${bank ? ' with its IDP bank' : ''}). Click to stop.`;
  item.command = 'idp.stopLocalServer';
  item.show();
  running = { proc, server, item };
  proc.once('exit', (code, signal) => {
    if (running?.proc !== proc) return;
    running.item.dispose();
    running = undefined;
    ctx.log.warn(`the local server stopped (${signal ?? `exit ${code}`})`);
  });
  ctx.log.info(`local server: ${url} serving ${model}${bank ? ` with the bank ${bank}` : ''}`);
  if (!given) void vscode.window.showInformationMessage(`IDP: OpenAI-compatible API at ${url}`, 'Copy Address').then((b) => { if (b) void vscode.env.clipboard.writeText(url); });
  return server;
};

export const stopLocalServer = (ctx: Ctx) => async (): Promise<boolean> => {
  const stopped = await stopServer();
  if (stopped) ctx.log.info('local server stopped');
  return stopped;
};
