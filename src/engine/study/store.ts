// The study folder's finished parts, each saved atomically with the settings key that produced it, so an
// interrupted study run again reuses exactly what is still valid (a changed setting changes the key).
//
//   <out>/study.json, table.md, charts/       the report (rewritten at the end of every run)
//   <out>/state/<part>.json                   { key, value }: data, rows' bench/heldout/latency, similarity
//   <out>/state/<part>.i32                    token blocks (Int32, little-endian) of the sampled corpora
//   <out>/compressed/                         the compressed model (compressModel writes it atomically)
//   <out>/train/                              bank runs, prefix and LoRA runs (reused by their own keys)
//   <out>/rows/<id>/bench.json (+ .md, .samples.jsonl)   each row's benchmark report

import * as fs from 'fs';
import * as path from 'path';
import { formatError } from '../errors';
import { assertCallerAlive } from '../process/caller';

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  assertCallerAlive(file);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

export const writeJsonAtomic = (file: string, value: unknown): void => writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);

export class StudyStore {
  constructor(readonly dir: string) {}

  private part(name: string, ext: string): string {
    return path.join(this.dir, 'state', `${name}.${ext}`);
  }

  /** A part saved with this key, or undefined (absent, other key, or unreadable: then it is redone). */
  get<T>(name: string, key: string): T | undefined {
    const f = this.part(name, 'json');
    if (!fs.existsSync(f)) return undefined;
    try {
      const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { key?: string; value?: T };
      return j.key === key ? j.value : undefined;
    } catch {
      return undefined;
    }
  }

  put<T>(name: string, key: string, value: T): T {
    writeJsonAtomic(this.part(name, 'json'), { key, value });
    return value;
  }

  /** Int32 ids saved with this key (a JSON sidecar holds the key), or undefined. */
  getIds(name: string, key: string): Int32Array | undefined {
    const f = this.part(name, 'i32');
    if (this.get<number>(`${name}.ids`, key) === undefined || !fs.existsSync(f)) return undefined;
    const b = fs.readFileSync(f);
    if (b.byteLength % 4) throw formatError(f, `${b.byteLength} bytes is not a whole number of int32 ids`);
    return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }

  putIds(name: string, key: string, ids: Int32Array): void {
    writeFileAtomic(this.part(name, 'i32'), new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
    this.put(`${name}.ids`, key, ids.length);
  }
}
