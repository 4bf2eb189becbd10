// Prompt banks in the lab folder (folders holding a bank.json, up to four levels down, hidden ones
// skipped), newest first — what the Inspector offers when no bank is given. Imports no `vscode`.

import * as fs from 'fs';
import * as path from 'path';
import { foldersWith } from './lab-folders';

export interface BankFolder { dir: string; mtimeMs: number; prompts?: number[] }

export function findBanks(root: string, maxDepth = 4): BankFolder[] {
  const out: BankFolder[] = [];
  for (const dir of foldersWith(root, 'bank.json', maxDepth, false)) {
    const file = path.join(dir, 'bank.json');
    try {
      const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { prompts?: Array<{ n?: unknown }> };
      const prompts = Array.isArray(j.prompts) ? j.prompts.map((p) => Number(p?.n)).filter(Number.isFinite) : undefined;
      out.push({ dir, mtimeMs: fs.statSync(file).mtimeMs, prompts });
    } catch {
      // being written, or not a bank
    }
  }
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}
