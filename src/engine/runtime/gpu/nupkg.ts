// Taking named files out of a .nupkg (a zip) without unpacking the rest: each wanted entry is streamed
// to a staging file the caller names, with its size bounded (yauzl holds every entry to its stated
// uncompressed size), its CRC-32 checked against the archive's (where Node has zlib.crc32) and its
// SHA-256 computed for the install manifest. An entry missing from the archive is a FORMAT error naming
// the package and the entry.

/// <reference path="../../../types/yauzl.d.ts" />
// (yauzl's declarations, named here so that every program that reaches this file has them: the webview's
// type check reaches it through the protocol's types)

import * as crypto from 'crypto';
import * as fs from 'fs';
import { pipeline } from 'stream/promises';
import { Writable } from 'stream';
import * as zlib from 'zlib';
import * as yauzl from 'yauzl';
import { formatError, IdpError } from '../../errors';
import { cancelledError } from './nuget';

/** Each provider library is well under this (libonnxruntime_providers_cuda.so: a few hundred MB). */
export const ENTRY_LIMIT = 2 * 1024 ** 3;

export interface Extracted { entry: string; file: string; size: number; sha256: string }

const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** NuGet percent-encodes some characters of part names; both spellings name the same entry. */
function entryName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Writes each `wanted` entry of the zip at `nupkg` to its `file` (created; all removed again on any
 * failure). `what` names the package in errors (its URL).
 */
export async function extractEntries(nupkg: string, wanted: { entry: string; file: string }[], what: string,
  opts: { signal?: AbortSignal; onEntry?: (entry: string) => void } = {}): Promise<Extracted[]> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(nupkg, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true });
  } catch (e) {
    throw formatError(what, `not a NuGet package (zip): ${(e as Error).message}`);
  }
  const byName = new Map(wanted.map((w) => [w.entry, w]));
  const done: Extracted[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown) => {
        zip.close();
        reject(e);
      };
      zip.on('error', (e: Error) => fail(formatError(what, `damaged zip: ${e.message}`)));
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        const w = byName.get(entryName(entry.fileName));
        if (!w) return zip.readEntry();
        byName.delete(w.entry);
        if (opts.signal?.aborted) return fail(cancelledError(what));
        copyEntry(zip, entry, w, what, opts.signal).then((x) => {
          done.push(x);
          opts.onEntry?.(w.entry);
          zip.readEntry();
        }, fail);
      });
      zip.readEntry();
    });
    if (byName.size) throw formatError(what, `the package has no ${[...byName.keys()].join(', ')}`);
    return done;
  } catch (e) {
    for (const w of wanted) fs.rmSync(w.file, { force: true });
    throw e;
  } finally {
    if (zip.isOpen) zip.close();
  }
}

async function copyEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, w: { entry: string; file: string }, what: string, signal?: AbortSignal): Promise<Extracted> {
  const where = `${what} (${w.entry})`;
  if (entry.isEncrypted() || !entry.canDecodeFileData()) throw formatError(where, 'an encrypted or unsupported compression method');
  if (entry.uncompressedSize > ENTRY_LIMIT) throw formatError(where, `${entry.uncompressedSize} bytes, over the ${ENTRY_LIMIT} allowed`);
  const sha = crypto.createHash('sha256');
  let crc = 0;
  let size = 0;
  const fd = fs.openSync(w.file, 'wx', 0o755);
  try {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (signal?.aborted) return cb(cancelledError(what));
        size += chunk.length;
        sha.update(chunk);
        if (crc32) crc = crc32(chunk, crc);
        try {
          for (let off = 0; off < chunk.length;) off += fs.writeSync(fd, chunk, off);
          cb();
        } catch (e) {
          cb(e as Error);
        }
      },
    });
    await pipeline(await zip.openReadStreamPromise(entry), sink);
    if (crc32 && (crc >>> 0) !== (entry.crc32 >>> 0)) throw formatError(where, 'CRC-32 mismatch: the entry is damaged');
    fs.fsyncSync(fd);
  } catch (e) {
    if (e instanceof IdpError) throw e;
    throw formatError(where, `cannot extract: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
  return { entry: w.entry, file: w.file, size, sha256: sha.digest('hex') };
}
