// VS Code glue only. The engine runs in a child process (dist/server.js, JSON-RPC over stdio);
// every command is a function of one context (Ctx), as rust-analyzer's client does it. Nothing here
// waits synchronously on the engine.

import { startLocalServer, stopLocalServer, stopServer } from './commands/local-server';
import * as vscode from 'vscode';
import { EngineClient } from './engine-client';
import { Jobs } from './jobs';
import { Ctx, lab, trustState } from './context';
import { engineAccess, EngineRole } from './trust';
import { StatusBar } from './status-bar';
import { affectsModel } from './settings';
import { selectModel, showModelInfo } from './commands/model';
import { generateCmd } from './commands/generate';
import { compressCmd } from './commands/compress';
import { trainBankCmd } from './commands/bank';
import { trainBaselineCmd } from './commands/baseline';
import { runBenchmarkCmd } from './commands/bench';
import { runStudyCmd } from './commands/study';
import { activeBank, onActiveBankChanged } from './commands/active-bank';
import { cancelJob, reportCrash, restartEngine, showLog } from './commands/engine';
import { enableCuda } from './commands/gpu';
import type { ModelInfo } from '../protocol/engine-rpc';
import { completionEnabled, IdpInlineCompletionProvider, toggleInlineCompletion } from './completion/provider';
import type { Completer } from './completion/completer';
import { registerViews, ViewsApi } from './views/register';
import { openDialog, OpenDialog } from './dialogs';

/** What activate() returns: for automation and the integration tests. */
export interface IdpApi {
  engine: EngineClient;
  /** The job engine (workflows). */
  work: EngineClient;
  status: StatusBar;
  jobs: Jobs;
  completer: Completer;
  labRoot(): string;
  views: ViewsApi;
  /** The QuickPick or InputBox open now, and whether the workbench has shown it (see dialogs.ts). */
  openDialog(): OpenDialog | undefined;
  /** Calls of the inline completion provider: declined (off for the language) or answered. */
  inline: { readonly served: { declined: number; answered: number } };
}

export function activate(ext: vscode.ExtensionContext): IdpApi {
  const log = vscode.window.createOutputChannel('IDP Lab', { log: true });
  const modelChanged = new vscode.EventEmitter<ModelInfo | null>();
  const status = new StatusBar();
  let ctx: Ctx | undefined;
  // the folders each engine may use, as the workspace's trust is when it starts (trust.ts)
  const access = (role: EngineRole) => () => (ctx ? engineAccess(trustState(ctx), role) : { writable: [], readable: [] });
  const engine = new EngineClient({
    serverScript: ext.asAbsolutePath('dist/server.js'),
    access: access('editor'),
    log: (line) => log.info(line),
    onCrash: (reason, restarting) => {
      status.setEngineDown();
      if (ctx) reportCrash(ctx, reason, restarting);
    },
    onRestarted: (info) => {
      modelChanged.fire(info);
      log.info('the engine is back');
    },
  });
  const work = new EngineClient({
    serverScript: ext.asAbsolutePath('dist/server.js'),
    access: access('jobs'),
    log: (line) => log.info(`[jobs] ${line}`),
    onCrash: (reason, restarting) => {
      log.error(`job engine: ${reason}`);
      void vscode.window.showWarningMessage(`IDP: the job engine stopped (${reason})${restarting ? '; it is started again for the next job' : ''}.`, 'Show Log')
        .then((b) => { if (b) log.show(true); });
    },
    onRestarted: () => log.info('the job engine is back'),
  });
  ctx = { ext, log, engine, work, jobs: new Jobs(log), modelChanged };
  const c = ctx;
  const inline = new IdpInlineCompletionProvider(c, status);
  status.setCompletion(completionEnabled());
  status.setBank(activeBank(c));
  ext.subscriptions.push(onActiveBankChanged((b) => status.setBank(b)));
  modelChanged.event((m) => {
    status.setModel(m);
    inline.completer.reset();
  });

  const commands: Record<string, (...args: any[]) => unknown> = {
    'idp.selectModel': selectModel(c),
    'idp.showModelInfo': showModelInfo(c),
    'idp.generate': generateCmd(c),
    'idp.compress': compressCmd(c),
    'idp.trainBank': trainBankCmd(c),
    'idp.trainBaseline': trainBaselineCmd(c),
    'idp.runBenchmark': runBenchmarkCmd(c),
    'idp.runStudy': runStudyCmd(c),
    'idp.cancelJob': cancelJob(c),
    'idp.restartEngine': restartEngine(c),
    'idp.showLog': showLog(c),
    'idp.toggleInlineCompletion': toggleInlineCompletion(c, status),
    'idp.startLocalServer': startLocalServer(c),
    'idp.stopLocalServer': stopLocalServer(c),
    'idp.enableCuda': enableCuda(c),
  };
  for (const [id, fn] of Object.entries(commands)) ext.subscriptions.push(vscode.commands.registerCommand(id, fn));

  ext.subscriptions.push(
    log, status, modelChanged, c.jobs,
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, inline),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (affectsModel(e)) log.info('model settings changed: the model is loaded again on next use');
      if (e.affectsConfiguration('idp.inlineCompletion')) status.setCompletion(completionEnabled());
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      log.info('workspace trusted: settings may now choose the model');
      // the engines declared Restricted Mode's folders at start-up: start them again with the trusted ones
      engine.reconfigure('the workspace was trusted');
      work.reconfigure('the workspace was trusted');
    }),
    // the lab is in the first folder: the job engine's writable folder moves with it
    vscode.workspace.onDidChangeWorkspaceFolders(() => work.reconfigure('the workspace folders changed')),
    { dispose: () => { void engine.dispose(); void work.dispose(); } },
  );
  const views = registerViews(c);
  const swept = lab(c).sweep();
  if (swept) log.info(`removed ${swept} leftover temporary file(s) from the lab folder`);
  log.info(`IDP Lab activated (${vscode.env.appName} ${vscode.version}, ${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'} UI, node ${process.version})`);
  return { engine, work, status, jobs: c.jobs, completer: inline.completer, labRoot: () => lab(c).root, views, openDialog, inline };
}

export function deactivate(): Promise<unknown> {
  return stopServer();   // the local server stops with the window
}
