// Writing a folder atomically: fill a temporary folder beside it (`.tmp-NAME-XXXXXX`), then rename it
// into place. Temporary folders left by a process that died mid-write are removed after an hour.

import * as fs from 'fs';
import * as path from 'path';

/** Temporary folders of `base` in `parent` older than an hour (left by a process that died mid-write). */
function removeStaleTemps(parent: string, base: string): void {
  for (const e of fs.readdirSync(parent)) {
    if (!e.startsWith(`.tmp-${base}-`)) continue;
    const p = path.join(parent, e);
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > 3600_000) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another process may be removing it too
    }
  }
}

/** Create a fresh temporary folder beside `folder` (its parent is created; stale temporaries removed). */
export function tempFolderBeside(folder: string): string {
  const parent = path.dirname(folder);
  fs.mkdirSync(parent, { recursive: true });
  removeStaleTemps(parent, path.basename(folder));
  return fs.mkdtempSync(path.join(parent, `.tmp-${path.basename(folder)}-`));
}
