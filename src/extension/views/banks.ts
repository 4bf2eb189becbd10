// Prompt banks in the lab folder (folders holding a bank.json, up to four levels down, hidden ones
// skipped), newest first — what the Inspector offers when no bank is given. Imports no `vscode`.

import * as fs from 'fs';
import * as path from 'path';

export interface BankFolder { dir: string; mtimeMs: number; prompts?: number[] }

export function findBanks(root: string, maxDepth = 4): BankFolder[] {
  const out: BankFolder[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const bank = entries.find((e) => e.isFile() && e.name === 'bank.json');
    if (bank) {
      const file = path.join(dir, bank.name);
      try {
        const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { prompts?: Array<{ n?: unknown }> };
        const prompts = Array.isArray(j.prompts) ? j.prompts.map((p) => Number(p?.n)).filter(Number.isFinite) : undefined;
        out.push({ dir, mtimeMs: fs.statSync(file).mtimeMs, prompts });
      } catch {
        // being written, or not a bank
      }
      return; // a bank's own folders (checkpoints of its prompts) hold no other banks
    }
    if (depth >= maxDepth) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') walk(path.join(dir, e.name), depth + 1);
  };
  walk(root, 0);
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}
