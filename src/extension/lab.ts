// The lab folder: where every job's results go. `.idp/` in the (trusted) workspace's first
// folder, else the extension's global storage. Writes are atomic: a file is written beside its
// target and renamed; a run folder is filled under a hidden name and renamed when complete, so
// a cancelled or failed job leaves nothing half-written. Imports no `vscode`.

import * as fs from 'fs';
import * as path from 'path';
import { stagingPath, sweepStaging } from '../engine/formats/atomic-folder';

// staging names carry their owner process (atomic-folder.ts), so a sweep never removes a live write
const tmpName = stagingPath;

/** Writes `data` to `file` atomically (temp file in the same folder, then rename). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tmpName(file);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export const writeJsonAtomic = (file: string, value: unknown) => writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');

/** A run id that sorts by time: 2025-01-31T12-00-00-000Z-generate. */
export function runId(kind: string, when = new Date()): string {
  return `${when.toISOString().replace(/[:.]/g, '-')}-${kind.replace(/[^a-z0-9-]/gi, '_')}`;
}

export interface RunRecord {
  id: string;
  kind: string;
  created: string;
  [k: string]: unknown;
}

/** A run folder being written (Lab.stageRun). Paths inside `dir` move to `final` on commit. */
export interface StagedRun {
  id: string;
  dir: string;
  final: string;
  /** Writes run.json and renames the folder into place; returns the final folder. */
  commit(record: Record<string, unknown>): string;
  /** Removes everything written so far (cancelled or failed job). */
  discard(): void;
}

export class Lab {
  constructor(readonly root: string) {}

  get runsDir(): string {
    return path.join(this.root, 'runs');
  }

  /**
   * Writes a run folder atomically: `files` (name → contents) plus run.json, under a hidden
   * temporary name first. Returns the folder.
   */
  commitRun(kind: string, record: Record<string, unknown>, files: Record<string, string | Uint8Array> = {}): string {
    const id = runId(kind);
    const final = path.join(this.runsDir, id);
    const tmp = tmpName(final);
    fs.mkdirSync(tmp, { recursive: true });
    try {
      for (const [name, data] of Object.entries(files)) {
        if (name.includes('/') || name.includes('\\') || name.startsWith('.') || name === 'run.json') throw new Error(`bad run file name '${name}'`);
        fs.writeFileSync(path.join(tmp, name), data);
      }
      const run: RunRecord = { id, kind, created: new Date().toISOString(), ...record };
      fs.writeFileSync(path.join(tmp, 'run.json'), JSON.stringify(run, null, 2) + '\n');
      fs.renameSync(tmp, final);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return final;
  }

  /**
   * A run folder being filled by a job (a hidden temporary folder beside the runs): the engine
   * writes into `dir`; `commit` adds run.json and renames it into place, `discard` removes it. A
   * crash leaves only the hidden folder, which `sweep` removes.
   */
  stageRun(kind: string): StagedRun {
    const id = runId(kind);
    const final = path.join(this.runsDir, id);
    const dir = tmpName(final);
    fs.mkdirSync(dir, { recursive: true });
    let done = false;
    return {
      id, dir, final,
      commit: (record) => {
        if (done) throw new Error(`run ${id} was already committed or discarded`);
        try {
          const run: RunRecord = { id, kind, created: new Date().toISOString(), ...record };
          fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify(run, null, 2) + '\n');
          fs.renameSync(dir, final);
          done = true;
        } catch (e) {
          fs.rmSync(dir, { recursive: true, force: true });
          done = true;
          throw e;
        }
        return final;
      },
      discard: () => {
        if (done) return;
        done = true;
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  /** Every complete run, newest first (folders without a readable run.json are skipped). */
  listRuns(kind?: string): RunRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.runsDir).filter((n) => !n.startsWith('.'));
    } catch {
      return [];
    }
    const runs: RunRecord[] = [];
    for (const n of names.sort().reverse()) {
      try {
        const r = JSON.parse(fs.readFileSync(path.join(this.runsDir, n, 'run.json'), 'utf8')) as RunRecord;
        if (!kind || r.kind === kind) runs.push(r);
      } catch {
        // not a complete run
      }
    }
    return runs;
  }

  /**
   * Removes leftovers of writes interrupted by a crash: hidden staging entries whose owner process is
   * gone. A job another window (or engine process) is staging right now is left alone.
   */
  sweep(): number {
    return sweepStaging(this.root) + sweepStaging(this.runsDir);
  }
}
