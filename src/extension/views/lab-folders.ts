// Folders of the lab that hold a given marker file (bank.json, study.json): a bounded walk that skips
// hidden folders and node_modules and tolerates folders that vanish or cannot be read. Imports no `vscode`.

import * as fs from 'fs';
import * as path from 'path';

/**
 * Every folder under `root` (itself included, at most `maxDepth` levels down) that holds `marker`.
 * `descend: false` stops below a match (a bank's own folders hold no other banks).
 */
export function foldersWith(root: string, marker: string, maxDepth: number, descend = true): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;   // gone, or not readable
    }
    if (entries.some((e) => e.isFile() && e.name === marker)) {
      out.push(dir);
      if (!descend) return;
    }
    if (depth >= maxDepth) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') walk(path.join(dir, e.name), depth + 1);
  };
  walk(root, 0);
  return out;
}
