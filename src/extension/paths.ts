// Path helpers shared by the commands (no `vscode`).

import * as path from 'path';
import * as os from 'os';
import { hubReferenceOf } from '../engine/hub/resolve';
import { formatHubReference } from '../engine/hub/reference';

export const sameFile = (a: string, b: string) => path.resolve(a) === path.resolve(b);

/** A model as the engine is sent it: an absolute path, or a Hugging Face Hub reference as it is (not a local path). */
export const modelArg = (p: string): string => (hubReferenceOf(p) ? p.trim() : path.resolve(p));

/**
 * A short label for a model path: the file or folder name, with a ~ for the home folder in the detail;
 * for a Hugging Face Hub reference, its NAME[@REV][:QUANT], the whole reference in the detail.
 */
export function modelLabel(p: string): { label: string; detail: string } {
  const ref = hubReferenceOf(p);
  if (ref) return { label: formatHubReference({ ...ref, repo: ref.repo.slice(ref.repo.indexOf('/') + 1) }), detail: `Hugging Face Hub: ${formatHubReference(ref)}` };
  const abs = path.resolve(p);
  const base = path.basename(abs).replace(/\.(gguf|bin)$/i, '');
  const home = os.homedir();
  return { label: base, detail: abs.startsWith(home + path.sep) ? `~${abs.slice(home.length)}` : abs };
}

/** Adds `p` to the front of a most-recently-used list (deduplicated, at most `max`). */
export function pushRecent(list: readonly string[], p: string, max = 6): string[] {
  return [p, ...list.filter((x) => !sameFile(x, p))].slice(0, max);
}
