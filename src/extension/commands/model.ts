// IDP: Select Model… — the default model, recent models, models in the Hugging Face cache, a Hub
// model (a suggested small one, or any ORG/NAME[@REV][:QUANT] typed in), or a file/folder picked
// from disk; the model is loaded (as a job) before the setting changes, so a bad pick changes nothing.
// A Hub model not in the cache is downloaded here first, in the job (its progress and cancel), into
// the HF cache the engine then loads it from. Restricted Mode offers only the default model: a Hub
// model is refused there (docs/hub.md: a download is a read of the network the workspace chose).

import * as vscode from 'vscode';
import * as dialogs from '../dialogs';
import { Ctx, ensureModel, memory } from '../context';
import { modelLabel, pushRecent, sameFile } from '../paths';
import { modelLoadParams, setModelPath } from '../settings';
import { defaultModelPath } from '../../engine/defaults';
import { hubReferenceOf, resolveHub } from '../../engine/hub/resolve';
import { parseHubReference } from '../../engine/hub/reference';
import { cachedHubModels, downloadSample, formatBytes, SUGGESTED } from '../hub-models';
import type { ModelInfo } from '../../protocol/engine-rpc';

const RECENT = 'recentModels';

interface ModelPick extends vscode.QuickPickItem { path?: string; browse?: boolean; hub?: boolean }

/** A Hub model: a suggested one, or a reference typed in. */
async function pickHubModel(cached: Set<string>): Promise<string | undefined> {
  const items: ModelPick[] = [
    { label: 'Small models that run on a laptop', kind: vscode.QuickPickItemKind.Separator },
    ...SUGGESTED.map((s) => ({ label: s.id, description: `${s.size}${cached.has(s.id) ? ' · cached' : ''}`, detail: s.note, path: s.id })),
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(edit) Another model…', detail: 'ORG/NAME, ORG/NAME@REVISION, or ORG/NAME:QUANT for a GGUF repository', hub: true },
  ];
  const pick = await dialogs.pick(items, { title: 'IDP: Model from the Hugging Face Hub', placeHolder: 'Downloaded into the Hugging Face cache when not there yet', matchOnDetail: true });
  if (!pick || pick.path) return pick?.path;
  if (!pick.hub) return undefined;
  const typed = await dialogs.input({
    title: 'IDP: Model from the Hugging Face Hub',
    prompt: 'ORG/NAME[@REVISION][:QUANT] — e.g. Qwen/Qwen2.5-0.5B, or bartowski/Llama-3.2-1B-Instruct-GGUF:Q8_0',
    validateInput: (v) => (v.trim() === '' || parseHubReference(v) ? undefined : 'Not a Hub model id: ORG/NAME, ORG/NAME@REVISION or ORG/NAME:QUANT'),
  });
  return typed?.trim() || undefined;
}

async function pickModel(ctx: Ctx): Promise<string | undefined> {
  const current = modelLoadParams();
  const recent = memory.get<string[]>(ctx, RECENT, []).filter((p) => !sameFile(p, defaultModelPath()));
  const mark = (p: string) => (sameFile(p, current.model) ? '$(check) ' : '');
  const items: ModelPick[] = [
    { label: `${mark(defaultModelPath())}Default model`, description: modelLabel(defaultModelPath()).label, detail: 'the embedded default model', path: defaultModelPath() },
  ];
  const cached = vscode.workspace.isTrusted ? await cachedHubModels() : [];
  if (vscode.workspace.isTrusted) {
    if (recent.length) items.push({ label: 'Recent', kind: vscode.QuickPickItemKind.Separator });
    for (const p of recent) items.push({ label: `${mark(p)}${modelLabel(p).label}`, detail: modelLabel(p).detail, path: p });
    const fresh = cached.filter((c) => !recent.includes(c.reference)).slice(0, 12);
    if (fresh.length) items.push({ label: 'In the Hugging Face cache', kind: vscode.QuickPickItemKind.Separator });
    for (const c of fresh) items.push({ label: `${mark(c.reference)}$(database) ${c.reference}`, description: formatBytes(c.size), detail: 'Hugging Face cache: loads without downloading', path: c.reference });
    items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
    items.push({ label: '$(cloud-download) Hugging Face Hub…', detail: 'a suggested small model, or any ORG/NAME (downloaded once, into the Hugging Face cache)', hub: true });
    items.push({ label: '$(folder-opened) Browse…', detail: 'a Hugging Face folder (config.json + *.safetensors), a .gguf file or a llama2.c .bin', browse: true });
  } else {
    items.push({ label: '$(shield) Other models need a trusted workspace', detail: 'In Restricted Mode the engine loads only the default model.' });
  }
  const pick = await dialogs.pick(items, { title: 'IDP: Select Model', placeHolder: 'Model to run', matchOnDetail: true });
  if (!pick) return undefined;
  if (pick.path) return pick.path;
  if (pick.hub) return pickHubModel(new Set(cached.map((c) => c.reference)));
  if (!pick.browse) return undefined;
  const uris = await vscode.window.showOpenDialog({
    canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Load Model',
    title: 'Model: a Hugging Face folder, a .gguf file or a llama2.c .bin',
    defaultUri: recent[0] ? vscode.Uri.file(recent[0]) : undefined,
  });
  return uris?.[0]?.fsPath;
}

/**
 * Loads `arg` (a path or a Hub reference; for automation and tests) or the user's pick. Returns the loaded model's
 * description, or undefined when nothing was chosen or the load failed (the error is shown).
 */
export const selectModel = (ctx: Ctx) => async (arg?: unknown): Promise<ModelInfo | undefined> => {
  if (arg !== undefined && typeof arg !== 'string') {
    void vscode.window.showErrorMessage('IDP: Select Model expects a model path or a Hugging Face Hub id.');
    return undefined;
  }
  const chosen = arg ?? (await pickModel(ctx));
  if (!chosen) return undefined;
  const isDefault = sameFile(chosen, defaultModelPath());
  const ref = hubReferenceOf(chosen);
  if (!isDefault && !vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage(ref
      ? 'IDP: this workspace is not trusted, so models from the Hugging Face Hub (downloads and the Hugging Face cache) are off: only the default model can be loaded. Trust the workspace to use them.'
      : 'IDP: this workspace is not trusted, so only the default model can be loaded. Trust the workspace to load other models.');
    return undefined;
  }
  const previous = vscode.workspace.getConfiguration('idp').get<string>('modelPath', '');
  const outcome = await ctx.jobs.run(`Loading model ${modelLabel(chosen).label}`, async (report, token) => {
    if (ref) {
      // into the HF cache here, with the job's progress and cancel; the engine then finds it there
      const ac = new AbortController();
      const sub = token.onCancellationRequested(() => ac.abort());
      try {
        const hub = await resolveHub(ref, { signal: ac.signal, onProgress: (p) => report(downloadSample(p)) });
        if (hub.downloaded > 0) ctx.log.info(`downloaded ${formatBytes(hub.downloaded)} of ${chosen} into ${hub.snapshot}`);
      } finally {
        sub.dispose();
      }
      report({ message: 'loading' });
    }
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
