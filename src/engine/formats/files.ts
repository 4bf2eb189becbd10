// Reading files with typed errors: a file that cannot be opened or read is NOT_FOUND naming it; text
// files may be gzip-compressed (.gz, a FORMAT error when they are not).

import * as fs from 'fs';
import * as zlib from 'zlib';
import { formatError, notFound } from '../errors';

/** `read()` (an fs call on `file`); any failure becomes NOT_FOUND naming `file`. */
export function orNotFound<T>(file: string, read: () => T): T {
  try {
    return read();
  } catch {
    throw notFound(file);
  }
}

/** Open `file` for reading (NOT_FOUND when it cannot be), run `body` with the descriptor and the file size, then close it. */
export function withOpenFile<T>(file: string, body: (fd: number, size: number) => T): T {
  const fd = orNotFound(file, () => fs.openSync(file, 'r'));
  try {
    return body(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

/** A whole text file as UTF-8, gunzipped when its name ends in .gz; a folder is a FORMAT error `is a folder, …`. */
export function readTextFile(file: string, folderHint: string): string {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw formatError(file, `is a folder, ${folderHint}`);
    throw notFound(file);
  }
  if (file.endsWith('.gz')) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw formatError(file, `not a gzip file (${(e as Error).message})`);
    }
  }
  return buf.toString('utf8');
}
