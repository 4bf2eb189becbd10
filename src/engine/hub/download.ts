// One blob into the cache: blobs/<etag>.incomplete, appended to (and resumed with an HTTP Range from
// its length when a download was cut, in this run or an earlier one), checked, then renamed to
// blobs/<etag> — so a file under its final name is always whole and verified, as with huggingface_hub.
//
// Checked: the size (X-Linked-Size / Content-Length; more bytes than that stop the download at once)
// and the content against the ETag: a 64-hex ETag is the sha256 of an LFS file, a 40-hex one the git
// blob sha1 (sha1 of "blob <size>\0" + content) of a regular file; another ETag is not a digest and
// only the size is checked. A mismatch removes the partial file and fails with a FORMAT error naming
// the file: nothing that looks complete is left.
//
// A connection cut mid-body is resumed at once, up to RETRIES times in a row without progress; a
// cancel (AbortSignal) keeps the partial file for the next run. Two IDP Lab processes fetching the
// same blob take turns through a lock under <cache>/.locks (formats/output-lock.ts); the second waits
// and then finds the blob there.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { formatError, isIdpError, runtimeError } from '../errors';
import { lockOutput, OutputLock } from '../formats/output-lock';
import type { RepoCache } from './cache-layout';
import { cancelled, chunksOf, FileMeta, hubError, hubFetch, isAbort, Net } from './http';

const RETRIES = 3;

interface Digest {
  update(b: Uint8Array): void;
  /** The expected digest and the one computed, or undefined where the ETag is no digest. */
  result(): { algo: string; want: string; got: string } | undefined;
}

function digestFor(etag: string, size: number | undefined): Digest {
  const sha256 = /^[0-9a-f]{64}$/.test(etag);
  const gitSha1 = /^[0-9a-f]{40}$/.test(etag) && size !== undefined;
  if (!sha256 && !gitSha1) return { update: () => undefined, result: () => undefined };
  const h = crypto.createHash(sha256 ? 'sha256' : 'sha1');
  if (gitSha1) h.update(`blob ${size}\0`);
  return { update: (b) => h.update(b), result: () => ({ algo: sha256 ? 'sha256' : 'git blob sha1', want: etag, got: h.digest('hex') }) };
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

/** The download lock of `etag`, waiting while another live process holds it; undefined once the blob is there. */
async function lockBlob(c: RepoCache, etag: string, net: Net, what: string): Promise<OutputLock | undefined> {
  for (;;) {
    if (fs.existsSync(c.blob(etag))) return undefined;
    try {
      return lockOutput(path.join(c.locks, etag));
    } catch (e) {
      if (!(isIdpError(e) && e.code === 'INPUT')) throw e;
    }
    if (net.signal?.aborted) throw cancelled(what);
    await sleep(500, net.signal);
  }
}

async function hashFile(file: string, d: Digest): Promise<void> {
  for await (const chunk of fs.createReadStream(file)) d.update(chunk as Buffer);
}

/**
 * Puts the blob `meta` describes into the cache (nothing to do when it is there). `onBytes` is told of
 * every byte written (also those of a partial file resumed); `pointer` names the file in errors.
 */
export async function downloadBlob(net: Net, c: RepoCache, meta: FileMeta, pointer: string, onBytes: (n: number) => void): Promise<void> {
  const blob = c.blob(meta.etag);
  fs.mkdirSync(c.blobs, { recursive: true });
  const lock = await lockBlob(c, meta.etag, net, pointer);
  if (!lock) return;
  try {
    if (fs.existsSync(blob)) return;
    const part = `${blob}.incomplete`;
    let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    if (meta.size !== undefined && have > meta.size) {
      fs.rmSync(part, { force: true });
      have = 0;
    }
    let digest = digestFor(meta.etag, meta.size);
    if (have > 0) {
      await hashFile(part, digest);
      onBytes(have);
    }
    let failures = 0;
    for (;;) {
      if (meta.size !== undefined && have === meta.size) break;
      const headers: Record<string, string> = { 'accept-encoding': 'identity' };
      if (have > 0) headers.range = `bytes=${have}-`;
      const res = await hubFetch(net, meta.url, { headers }, pointer);
      if (res.status === 416 && meta.size === have) break;
      if (!res.ok) throw hubError(res, net, pointer, c.repo);
      if (have > 0 && (res.status !== 206 || !rangeStartsAt(res.headers.get('content-range'), have))) {
        // the server sent the whole file (or another range): start over
        await res.body?.cancel().catch(() => undefined);
        fs.rmSync(part, { force: true });
        onBytes(-have);
        have = 0;
        digest = digestFor(meta.etag, meta.size);
        continue;
      }
      const fh = await fs.promises.open(part, 'a');
      const before = have;
      try {
        for await (const chunk of chunksOf(res, net.signal)) {
          if (meta.size !== undefined && have + chunk.byteLength > meta.size) {
            await fh.close().catch(() => undefined);
            fs.rmSync(part, { force: true });
            throw formatError(pointer, `the download is larger than the ${meta.size} bytes the Hub announced: removed, nothing was cached`);
          }
          await fh.write(chunk);
          digest.update(chunk);
          have += chunk.byteLength;
          onBytes(chunk.byteLength);
        }
        if (meta.size === undefined || have === meta.size) break;
        throw new Error(`the connection closed after ${have} of ${meta.size} bytes`);
      } catch (e) {
        if (isIdpError(e)) throw e;
        if (isAbort(e, net.signal)) throw cancelled(pointer);
        failures = have > before ? 1 : failures + 1;
        if (failures > RETRIES) {
          throw runtimeError(`${pointer}: the download was interrupted after ${have}${meta.size !== undefined ? ` of ${meta.size}` : ''} bytes ` +
            `(${(e as Error).message}); run again to resume it`);
        }
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    const check = digest.result();
    if (check && check.got !== check.want) {
      fs.rmSync(part, { force: true });
      throw formatError(pointer, `the downloaded file does not match its ${check.algo} (expected ${check.want}, got ${check.got}): ` +
        'it was removed and nothing was cached; run again to retry (if it happens again, something between you and the Hub alters the file)');
    }
    fs.renameSync(part, blob);
  } finally {
    lock.release();
  }
}

/** Does a Content-Range header (`bytes START-END/TOTAL`) start at `at`? */
function rangeStartsAt(h: string | null, at: number): boolean {
  const m = h ? /^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/.exec(h.trim()) : null;
  return !!m && Number(m[1]) === at;
}
