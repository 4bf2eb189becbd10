// Helpers for tests that run inside the real extension host.

import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { IdpApi } from '../../../src/extension/extension';

export const EXT_ID = 'idp-lab.idp-lab';

export async function api(): Promise<IdpApi> {
  const ext = vscode.extensions.getExtension<IdpApi>(EXT_ID);
  if (!ext) throw new Error(`extension ${EXT_ID} is not installed in this host`);
  return ext.isActive ? ext.exports : ext.activate();
}

export function stories(): string {
  const data = process.env.IDP_DATA;
  if (!data) throw new Error('IDP_DATA is not set in the extension host environment');
  return path.join(data, 'models', 'stories260K', 'stories260K.gguf');
}

export function reference(): { generated_ids: number[]; generated_text: string } {
  return JSON.parse(fs.readFileSync(path.join(path.dirname(stories()), 'reference_greedy.json'), 'utf8'));
}

export { waitFor } from '../../helpers/wait';

export function runDirs(root: string): string[] {
  try {
    return fs.readdirSync(path.join(root, 'runs')).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}

/** Hidden staging folders of jobs under `<root>/runs` (a finished or failed job leaves none). */
export function stagingDirs(root: string): string[] {
  try {
    return fs.readdirSync(path.join(root, 'runs')).filter((n) => n.startsWith('.'));
  } catch {
    return [];
  }
}

export async function resetSettings(): Promise<void> {
  const c = vscode.workspace.getConfiguration('idp');
  for (const k of ['modelPath', 'executionProvider', 'threads']) await c.update(k, undefined, vscode.ConfigurationTarget.Global);
}
