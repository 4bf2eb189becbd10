// Where the staged data lives (../shared/data by default; IDP_DATA overrides).
// Tests that need it call `dataPath(ctx, ...)`: when the file is absent the test is skipped and
// says why, instead of failing on a machine that was never given the data. CI always has it, so
// there a missing file fails (test/helpers/skip.ts: requirePrereq).

import * as fs from 'fs';
import * as path from 'path';
import { requirePrereq } from './skip';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export function dataDir(): string {
  return path.resolve(process.env.IDP_DATA ?? path.join(REPO_ROOT, '..', 'shared', 'data'));
}

export function hasData(): boolean {
  return fs.existsSync(path.join(dataDir(), 'README.md'));
}

/** Absolute path under the data folder; skips the calling test (with the reason) if it is absent, fails on CI. */
export function dataPath(ctx: Mocha.Context, ...parts: string[]): string {
  const p = path.join(dataDir(), ...parts);
  requirePrereq(ctx, fs.existsSync(p) ? undefined : `staged data missing: ${p} (set IDP_DATA to the staged data, see README)`);
  return p;
}

export const STORIES = ['models', 'stories260K'];

const tmpDirs: string[] = [];

/** A fresh temporary folder, removed at process exit (one exit listener for all of them). */
export function tmpDir(prefix = 'idp-test-'): string {
  const os = require('os') as typeof import('os');
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (tmpDirs.length === 0) process.on('exit', () => { for (const t of tmpDirs) fs.rmSync(t, { recursive: true, force: true }); });
  tmpDirs.push(d);
  return d;
}
