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

export async function waitFor<T>(what: string, poll: () => T | undefined | false | Promise<T | undefined | false>, ms = 30000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await poll();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
