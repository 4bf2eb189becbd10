// Path helpers shared by the commands (no `vscode`).

import * as path from 'path';
import * as os from 'os';

export const sameFile = (a: string, b: string) => path.resolve(a) === path.resolve(b);

/** A short label for a model path: the file or folder name, with a ~ for the home folder in the detail. */
export function modelLabel(p: string): { label: string; detail: string } {
  const abs = path.resolve(p);
  const base = path.basename(abs).replace(/\.(gguf|bin)$/i, '');
  const home = os.homedir();
  return { label: base, detail: abs.startsWith(home + path.sep) ? `~${abs.slice(home.length)}` : abs };
}

/** Adds `p` to the front of a most-recently-used list (deduplicated, at most `max`). */
export function pushRecent(list: readonly string[], p: string, max = 6): string[] {
  return [p, ...list.filter((x) => !sameFile(x, p))].slice(0, max);
}
