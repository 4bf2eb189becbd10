// Settings as the extension reads them, with workspace trust applied: in an untrusted workspace
// nothing from settings can point the engine at a file (the manifest declares idp.modelPath
// restricted; this enforces it for user-level values too).

import * as vscode from 'vscode';
import { defaultModelPath } from '../engine/defaults';
import type { ProviderSetting } from '../engine/runtime/gpu/provider-setting';
import type { LoadParams } from '../protocol/engine-rpc';

const cfg = () => vscode.workspace.getConfiguration('idp');

/** The model the engine should run: the setting when trusted and set, else the default model. */
export function modelLoadParams(): LoadParams & { isDefault: boolean } {
  const set = cfg().get<string>('modelPath', '').trim();
  const ep = cfg().get<ProviderSetting>('executionProvider', 'cpu');
  const threads = cfg().get<number>('threads', 0) || undefined;
  if (set && vscode.workspace.isTrusted) return { model: set, ep, threads, isDefault: false };
  return { model: defaultModelPath(), ep, threads, isDefault: true };
}

export async function setModelPath(p: string | undefined): Promise<void> {
  await cfg().update('modelPath', p ?? '', vscode.ConfigurationTarget.Global);
}

export function generateMaxTokens(): number {
  return cfg().get<number>('generate.maxTokens', 128);
}

/** Does this configuration change affect which model the engine runs? */
export const affectsModel = (e: vscode.ConfigurationChangeEvent) =>
  e.affectsConfiguration('idp.modelPath') || e.affectsConfiguration('idp.executionProvider') || e.affectsConfiguration('idp.threads');
