// IDP: Select Model… — the default model, recent models, or a file/folder picked from disk; the
// model is loaded (as a job) before the setting changes, so a bad pick changes nothing.

import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, ensureModel, memory } from '../context';
import { modelLabel, pushRecent, sameFile } from '../paths';
import { modelLoadParams, setModelPath } from '../settings';
import { defaultModelPath } from '../../engine/defaults';
import type { ModelInfo } from '../../server/protocol';

const RECENT = 'recentModels';

interface ModelPick extends vscode.QuickPickItem { path?: string; browse?: boolean }

async function pickModel(ctx: Ctx): Promise<string | undefined> {
  const current = modelLoadParams();
  const recent = memory.get<string[]>(ctx, RECENT, []).filter((p) => !sameFile(p, defaultModelPath()));
  const mark = (p: string) => (sameFile(p, current.model) ? '$(check) ' : '');
  const items: ModelPick[] = [
    { label: `${mark(defaultModelPath())}Default model`, description: modelLabel(defaultModelPath()).label, detail: 'the embedded default model', path: defaultModelPath() },
  ];
  if (vscode.workspace.isTrusted) {
    if (recent.length) items.push({ label: 'Recent', kind: vscode.QuickPickItemKind.Separator });
    for (const p of recent) items.push({ label: `${mark(p)}${modelLabel(p).label}`, detail: modelLabel(p).detail, path: p });
    items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
    items.push({ label: '$(folder-opened) Browse…', detail: 'a Hugging Face folder (config.json + *.safetensors), a .gguf file or a llama2.c .bin', browse: true });
  } else {
    items.push({ label: '$(shield) Other models need a trusted workspace', detail: 'In Restricted Mode the engine loads only the default model.' });
  }
  const pick = await dialogs.pick(items, { title: 'IDP: Select Model', placeHolder: 'Model to run', matchOnDetail: true });
  if (!pick) return undefined;
  if (pick.path) return pick.path;
  if (!pick.browse) return undefined;
  const uris = await vscode.window.showOpenDialog({
    canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Load Model',
    title: 'Model: a Hugging Face folder, a .gguf file or a llama2.c .bin',
    defaultUri: recent[0] ? vscode.Uri.file(recent[0]) : undefined,
  });
  return uris?.[0]?.fsPath;
}

/**
 * Loads `arg` (a path; for automation and tests) or the user's pick. Returns the loaded model's
 * description, or undefined when nothing was chosen or the load failed (the error is shown).
 */
export const selectModel = (ctx: Ctx) => async (arg?: unknown): Promise<ModelInfo | undefined> => {
  if (arg !== undefined && typeof arg !== 'string') {
    void vscode.window.showErrorMessage('IDP: Select Model expects a model path.');
    return undefined;
  }
  const chosen = arg ?? (await pickModel(ctx));
  if (!chosen) return undefined;
  const isDefault = sameFile(chosen, defaultModelPath());
  if (!isDefault && !vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('IDP: this workspace is not trusted, so only the default model can be loaded. Trust the workspace to load other models.');
    return undefined;
  }
  const previous = vscode.workspace.getConfiguration('idp').get<string>('modelPath', '');
  const outcome = await ctx.jobs.run(`Loading model ${modelLabel(chosen).label}`, async () => {
    const { ep, threads } = modelLoadParams();
    const info = await ctx.engine.load({ model: chosen, ep, threads });
    // the setting changes only once the model has loaded
    await setModelPath(isDefault ? undefined : chosen);
    return info;
  });
  if (!outcome.ok) {
    if (previous !== vscode.workspace.getConfiguration('idp').get<string>('modelPath', '')) await setModelPath(previous || undefined);
    return undefined;
  }
  if (!isDefault) await memory.set(ctx, RECENT, pushRecent(memory.get<string[]>(ctx, RECENT, []), chosen));
  const info = outcome.value;
  ctx.log.info(`model: ${info.path} — ${info.architecture}, ${info.parameters.toLocaleString('en-US')} parameters, ${info.ep}`);
  ctx.modelChanged.fire(info);
  void vscode.window.showInformationMessage(`IDP: loaded ${modelLabel(info.path).label} (${info.architecture}, ${info.parameters.toLocaleString('en-US')} parameters).`);
  return info;
};

/** IDP: Show Model Info — what the engine has loaded (loading the configured model if needed). */
export const showModelInfo = (ctx: Ctx) => async (): Promise<ModelInfo | undefined> => {
  const r = await ctx.jobs.run('Loading model', () => ensureModel(ctx));
  if (!r.ok) return undefined;
  const i = r.value;
  ctx.log.info(JSON.stringify(i, null, 2));
  void vscode.window.showInformationMessage(
    `IDP: ${modelLabel(i.path).label} — ${i.architecture}, ${i.parameters.toLocaleString('en-US')} parameters, ${i.layers} layers, context ${i.contextLength}, ${i.ep}.`);
  return i;
};
