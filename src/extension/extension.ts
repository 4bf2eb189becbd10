// VS Code glue only: commands are functions of a context; the engine runs in a worker thread
// (a child process with JSON-RPC arrives with the extension issue).

import * as vscode from 'vscode';
import { RemoteLM } from '../engine/runtime/worker-host';
import { defaultModelPath } from '../engine/defaults';

interface Ctx {
  log: vscode.OutputChannel;
  lm?: RemoteLM;
  modelPath?: string;
}

function configuredModel(): string {
  const p = vscode.workspace.getConfiguration('idp').get<string>('modelPath', '');
  return p && vscode.workspace.isTrusted ? p : defaultModelPath();
}

async function engine(ctx: Ctx): Promise<RemoteLM> {
  const model = configuredModel();
  if (ctx.lm && ctx.modelPath === model) return ctx.lm;
  await ctx.lm?.close();
  ctx.lm = undefined;
  ctx.log.appendLine(`loading ${model}`);
  const ep = vscode.workspace.getConfiguration('idp').get<'cpu' | 'webgpu' | 'cuda'>('executionProvider', 'cpu');
  ctx.lm = await RemoteLM.start(model, { ep });
  ctx.modelPath = model;
  ctx.log.appendLine(`loaded: ${JSON.stringify(ctx.lm.info)}`);
  return ctx.lm;
}

const selectModel = (ctx: Ctx) => async () => {
  const pick = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, title: 'Model: HF folder, .gguf or llama2.c .bin' });
  if (!pick?.[0]) return;
  await vscode.workspace.getConfiguration('idp').update('modelPath', pick[0].fsPath, vscode.ConfigurationTarget.Global);
  try {
    await engine(ctx);
  } catch (e) {
    vscode.window.showErrorMessage(`IDP: ${(e as Error).message}`);
  }
};

const generateCmd = (ctx: Ctx) => async () => {
  const prompt = await vscode.window.showInputBox({ prompt: 'Prompt (empty: from BOS)', value: '' });
  if (prompt === undefined) return;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'IDP: generating', cancellable: true }, async (_p, token) => {
    try {
      const lm = await engine(ctx);
      const run = lm.generate({ prompt, options: { maxTokens: 128 } }, () => undefined);
      token.onCancellationRequested(() => lm.cancel());
      const r = await run;
      ctx.log.appendLine(`${prompt}${r.rows[0].text}`);
      ctx.log.appendLine(`[${r.timings.decode_tokens_per_s.toFixed(0)} tok/s]`);
      ctx.log.show(true);
    } catch (e) {
      vscode.window.showErrorMessage(`IDP: ${(e as Error).message}`);
    }
  });
};

export function activate(context: vscode.ExtensionContext): void {
  const ctx: Ctx = { log: vscode.window.createOutputChannel('IDP Lab') };
  context.subscriptions.push(
    ctx.log,
    vscode.commands.registerCommand('idp.selectModel', selectModel(ctx)),
    vscode.commands.registerCommand('idp.generate', generateCmd(ctx)),
    vscode.commands.registerCommand('idp.showLog', () => ctx.log.show()),
    { dispose: () => void ctx.lm?.close() },
  );
}

export function deactivate(): void {}
