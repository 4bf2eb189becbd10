// The Hugging Face cache, laid out exactly as huggingface_hub writes it, so that what transformers or
// `huggingface-cli download` put there is used as it is, and what IDP Lab adds is used by them:
//
//   <cache>/models--ORG--NAME/
//     refs/<revision>                  the commit a branch or tag pointed to when last resolved (text, no newline)
//     blobs/<etag>                     file contents, named by the Hub's ETag: the sha256 of an LFS file,
//                                      the git blob sha1 of a regular one
//     blobs/<etag>.incomplete          a download in progress (resumed from its length)
//     snapshots/<commit>/<file>        relative symbolic link to ../../blobs/<etag> (a copy where links fail)
//     .no_exist/<commit>/<file>        empty: the file is known not to exist at that commit
//   <cache>/.locks/models--ORG--NAME/  huggingface_hub's lock files; IDP Lab's own download locks go here too
//
// Names that come from the network (etags, file names from a listing or a safetensors index) are
// checked before they become paths: a name that would leave its folder is refused.

import * as fs from 'fs';
import * as path from 'path';
import { formatError } from '../errors';
import { COMMIT, validRevision } from './reference';

/** `models--ORG--NAME`. */
export const repoFolderName = (repo: string) => `models--${repo.split('/').join('--')}`;

/** A file name inside a repository: relative, `/`-separated, no `.`/`..`/empty segments. */
export function validRepoFile(f: string): boolean {
  if (f.length === 0 || f.length > 1024 || f.startsWith('/') || f.includes('\\') || f.includes('\0')) return false;
  return f.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** An ETag usable as a blob name (quotes and a weak `W/` prefix already removed). */
export const validEtag = (e: string) => /^[A-Za-z0-9][A-Za-z0-9_.+=-]{0,127}$/.test(e) && !/\.(incomplete|lock)$/.test(e);

export class RepoCache {
  readonly folder: string;

  constructor(readonly cacheDir: string, readonly repo: string) {
    this.folder = path.join(cacheDir, repoFolderName(repo));
  }

  get blobs(): string {
    return path.join(this.folder, 'blobs');
  }

  /** The folder huggingface_hub locks downloads of this repository in. */
  get locks(): string {
    return path.join(this.cacheDir, '.locks', repoFolderName(this.repo));
  }

  snapshot(commit: string): string {
    return path.join(this.folder, 'snapshots', commit);
  }

  snapshotFile(commit: string, file: string): string {
    return path.join(this.snapshot(commit), ...file.split('/'));
  }

  blob(etag: string): string {
    return path.join(this.blobs, etag);
  }

  /** The commit `revision` stands for in the cache: itself when it is a commit, else refs/<revision>. */
  commitFor(revision: string): string | undefined {
    if (COMMIT.test(revision)) return revision;
    if (!validRevision(revision)) return undefined;
    const file = path.join(this.folder, 'refs', ...revision.split('/'));
    let text: string;
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(128);   // a ref holds 40 hex digits
        text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8').trim();
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return undefined;
    }
    return COMMIT.test(text) ? text : undefined;
  }

  /** Is `file` in the snapshot of `commit` (its link resolving to a file)? */
  has(commit: string, file: string): boolean {
    try {
      return fs.statSync(this.snapshotFile(commit, file)).isFile();
    } catch {
      return false;
    }
  }

  /** Is `file` recorded as absent at `commit` (.no_exist)? */
  knownMissing(commit: string, file: string): boolean {
    return fs.existsSync(path.join(this.folder, '.no_exist', commit, ...file.split('/')));
  }

  /** The files of a snapshot (top level and below), as repository paths, whose links resolve. */
  snapshotFiles(commit: string): string[] {
    const root = this.snapshot(commit);
    const out: string[] = [];
    const walk = (dir: string, rel: string, depth: number) => {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        return;
      }
      for (const n of names.sort()) {
        const p = path.join(dir, n);
        const r = rel ? `${rel}/${n}` : n;
        let st: fs.Stats;
        try {
          st = fs.statSync(p);
        } catch {
          continue;   // a dangling link: not there
        }
        if (st.isFile()) out.push(r);
        else if (st.isDirectory() && depth < 4) walk(p, r, depth + 1);
      }
    };
    walk(root, '', 0);
    return out;
  }

  /** Records `revision` → `commit` (refs/<revision>), written atomically; a commit needs no ref. */
  writeRef(revision: string, commit: string): void {
    if (revision === commit || !validRevision(revision)) return;
    const file = path.join(this.folder, 'refs', ...revision.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, commit);
    fs.renameSync(tmp, file);
  }

  /** Records that `file` does not exist at `commit` (an empty .no_exist entry, as huggingface_hub does). */
  markMissing(commit: string, file: string): void {
    const p = path.join(this.folder, '.no_exist', commit, ...file.split('/'));
    try {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, '');
    } catch {
      // a hint only: without it, the next resolution asks the Hub again
    }
  }

  /**
   * Points snapshots/<commit>/<file> at blobs/<etag> with a relative link (replacing a stale one in
   * one rename); where the file system refuses links, the blob is copied there instead.
   */
  link(commit: string, file: string, etag: string): string {
    const pointer = this.snapshotFile(commit, file);
    const blob = this.blob(etag);
    if (!fs.existsSync(blob)) throw formatError(blob, `blob of ${this.repo}/${file} is missing`);
    fs.mkdirSync(path.dirname(pointer), { recursive: true });
    const tmp = `${pointer}.${process.pid}.link`;
    fs.rmSync(tmp, { force: true });
    try {
      fs.symlinkSync(path.relative(path.dirname(pointer), blob), tmp);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
      fs.copyFileSync(blob, tmp);
    }
    fs.renameSync(tmp, pointer);
    return pointer;
  }
}
