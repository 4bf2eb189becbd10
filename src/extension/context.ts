// What every command is a function of: the log, the engine client, the jobs, the lab folder and
// the remembered choices. Built once in activate().

import * as path from 'path';
import * as vscode from 'vscode';
import { EngineClient } from './engine-client';
import { Jobs } from './jobs';
import { Lab } from './lab';
import { modelLoadParams } from './settings';
import type { ModelInfo } from '../protocol/engine-rpc';
import { sameFile } from './paths';
import type { TrustState } from './trust';

export interface Ctx {
  ext: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  /** The engine process that serves generation, inline completion and the inspector (holds the selected model). */
  engine: EngineClient;
  /**
   * A second engine process for the long workflows (compress, training, benchmarks, studies): a job never
   * delays a completion (session.run blocks the process it runs in), and a job that must be killed does not
   * take the loaded model with it. Started on first use.
   */
  work: EngineClient;
  jobs: Jobs;
  /** Fired when the loaded model changes (or is gone after a crash). */
  modelChanged: vscode.EventEmitter<ModelInfo | null>;
}

/** `.idp/` in the first folder of a trusted workspace, else the extension's global storage. */
export function lab(ctx: Ctx): Lab {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder && folder.uri.scheme === 'file' && vscode.workspace.isTrusted) return new Lab(path.join(folder.uri.fsPath, '.idp'));
  return new Lab(ctx.ext.globalStorageUri.fsPath);
}

/** Whether the workspace is trusted, and its lab: what trust.ts decides the engine may use. */
export function trustState(ctx: Ctx): TrustState {
  return { trusted: vscode.workspace.isTrusted, labRoot: lab(ctx).root };
}

/** The model the settings ask for, loaded (only when it is not already). */
export async function ensureModel(ctx: Ctx): Promise<ModelInfo> {
  const want = modelLoadParams();
  const have = ctx.engine.model;
  if (have && sameFile(have.path, want.model) && (have.epSetting ?? have.ep) === (want.ep ?? 'cpu') && (want.threads === undefined || have.threads === want.threads)) return have;
  ctx.log.info(`loading ${want.model} (${want.ep ?? 'cpu'})`);
  const info = await ctx.engine.load({ model: want.model, ep: want.ep, threads: want.threads });
  ctx.log.info(`loaded ${info.architecture} (${info.parameters.toLocaleString('en-US')} parameters, ${info.layers} layers) in ${info.loadMs.toFixed(0)} ms`);
  ctx.modelChanged.fire(info);
  return info;
}

/** The last choices a user made in a command's prompts (global across workspaces). */
export const memory = {
  get<T>(ctx: Ctx, key: string, fallback: T): T {
    return ctx.ext.globalState.get<T>(`idp.remember.${key}`, fallback);
  },
  set(ctx: Ctx, key: string, value: unknown): Thenable<void> {
    return ctx.ext.globalState.update(`idp.remember.${key}`, value);
  },
};
