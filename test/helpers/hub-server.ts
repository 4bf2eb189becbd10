// A local HTTP server that answers like the Hugging Face Hub, for the Hub tests (no internet, no
// mocks: the real client code talks real HTTP to it through HF_ENDPOINT).
//
//   GET  /api/models/ORG/NAME/revision/REV     {id, sha, siblings: [{rfilename}], gated, private}
//   HEAD /ORG/NAME/resolve/REV/FILE            regular file: 200, ETag "<git blob sha1>", X-Repo-Commit, Content-Length
//   GET  /ORG/NAME/resolve/REV/FILE            … and its bytes (Range honoured)
//        LFS file (*.safetensors, *.gguf, *.bin): 302 to an absolute /cdn/<sha256> URL, with
//        X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit
//   GET  /cdn/SHA256                           the bytes, with Range (206 + Content-Range)
//
// Errors as the Hub gives them: an unknown repository 401 + X-Error-Code RepoNotFound, an unknown
// revision 404 RevisionNotFound, an unknown file 404 EntryNotFound, a gated repository without its
// token 401 GatedRepo. Faults on demand: cut the connection after N bytes of a blob (once, after a short stall), serve a
// blob corrupted (same length). Every request is logged (method, path, Range, Authorization).

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';

export interface HubRequest { method: string; path: string; range?: string; auth?: string }

interface Commit { sha: string; files: Map<string, Buffer> }
interface Repo { commits: Map<string, Commit>; refs: Map<string, string>; token?: string }

export const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Buffer) => crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (f: string) => /\.(safetensors|gguf|bin)$/.test(f);

/** Every file of a folder (top level), as the repository files of a fixture. */
export function folderFiles(dir: string, only?: string[]): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const f of fs.readdirSync(dir).sort()) {
    if (only && !only.includes(f)) continue;
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out[f] = fs.readFileSync(p);
  }
  return out;
}

export class FakeHub {
  readonly requests: HubRequest[] = [];
  private repos = new Map<string, Repo>();
  private blobs = new Map<string, Buffer>();
  private cuts = new Map<string, number>();
  private corrupted = new Set<string>();
  private server?: http.Server;
  private sockets = new Set<import('net').Socket>();
  private seq = 0;
  endpoint = '';

  /** Adds a commit holding `files` to `repo` and points `branch` (default main) at it; returns its sha. */
  commit(repo: string, files: Record<string, Buffer | string>, o: { branch?: string; tags?: string[] } = {}): string {
    const r = this.repos.get(repo) ?? { commits: new Map(), refs: new Map() };
    this.repos.set(repo, r);
    const map = new Map(Object.entries(files).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
    const sha = crypto.createHash('sha1').update(`${repo} ${this.seq++} ${[...map.keys()].join(',')}`).digest('hex');
    r.commits.set(sha, { sha, files: map });
    r.refs.set(o.branch ?? 'main', sha);
    for (const t of o.tags ?? []) r.refs.set(t, sha);
    for (const [f, b] of map) if (isLfs(f)) this.blobs.set(sha256(b), b);
    return sha;
  }

  /** `repo` answers only requests carrying `Authorization: Bearer <token>`. */
  gate(repo: string, token: string): void {
    this.repos.get(repo)!.token = token;
  }

  /** The next GET of the blob with this sha256 sends `bytes` bytes of its body, then drops the connection. */
  cutOnce(sha: string, bytes: number): void {
    this.cuts.set(sha, bytes);
  }

  /** The blob with this sha256 is served with one byte flipped (its ETag unchanged). */
  corrupt(sha: string): void {
    this.corrupted.add(sha);
  }

  /** Serves the blob as it is again. */
  repair(sha: string): void {
    this.corrupted.delete(sha);
  }

  /** Requests since `from` (an index into `requests`), as "METHOD path". */
  since(from: number): string[] {
    return this.requests.slice(from).map((r) => `${r.method} ${r.path}`);
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = decodeURIComponent(url.pathname);
    this.requests.push({ method: req.method ?? 'GET', path: p, range: req.headers.range, auth: req.headers.authorization });
    const fail = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ error: message }));
    };
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(decodeURIComponent(m[1]));
      if (!repo) return fail(401, 'RepoNotFound', 'Repository not found');
      const c = this.revision(repo, decodeURIComponent(m[2]));
      if (!c) return fail(404, 'RevisionNotFound', 'Invalid rev id');
      const body = {
        _id: 'x', id: decodeURIComponent(m[1]), sha: c.sha, private: false, gated: repo.token ? 'manual' : false,
        siblings: [...c.files.keys()].map((rfilename) => ({ rfilename })),
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(body));
    }
    m = /^\/cdn\/([0-9a-f]{64})$/.exec(p);
    if (m) {
      const blob = this.blobs.get(m[1]);
      if (!blob) return fail(404, 'EntryNotFound', 'no such blob');
      return this.send(req, res, this.served(m[1], blob), { etag: `"${m[1]}"` }, m[1]);
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const name = decodeURIComponent(m[1]);
      const repo = this.repos.get(name);
      if (!repo) return fail(401, 'RepoNotFound', 'Repository not found');
      if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return fail(401, 'GatedRepo', 'Access to this model is restricted');
      const c = this.revision(repo, decodeURIComponent(m[2]));
      if (!c) return fail(404, 'RevisionNotFound', 'Invalid rev id');
      const file = m[3].split('/').map(decodeURIComponent).join('/');
      const data = c.files.get(file);
      if (!data) return fail(404, 'EntryNotFound', 'Entry not found');
      if (isLfs(file)) {
        const sha = sha256(data);
        res.writeHead(302, {
          location: `${this.endpoint}/cdn/${sha}`, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(data.length),
          'x-repo-commit': c.sha, etag: `"${sha}"`, 'content-length': '0',
        });
        return void res.end();
      }
      return this.send(req, res, data, { etag: `"${gitSha1(data)}"`, 'x-repo-commit': c.sha });
    }
    fail(404, 'EntryNotFound', 'no route');
  }

  private revision(repo: Repo, rev: string): Commit | undefined {
    return repo.commits.get(repo.refs.get(rev) ?? rev);
  }

  private served(sha: string, blob: Buffer): Buffer {
    if (!this.corrupted.has(sha)) return blob;
    const bad = Buffer.from(blob);
    bad[bad.length >> 1] ^= 0xff;
    return bad;
  }

  /** The bytes (or the Range asked for), cut short when a cut is pending for `sha`. */
  private send(req: http.IncomingMessage, res: http.ServerResponse, data: Buffer, headers: Record<string, string>, sha?: string): void {
    let start = 0;
    let end = data.length - 1;
    let status = 200;
    const range = req.headers.range ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range) : null;
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        return void res.end();
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${data.length}`;
    }
    const body = data.subarray(start, end + 1);
    res.writeHead(status, { ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    const cut = sha !== undefined ? this.cuts.get(sha) : undefined;
    if (cut !== undefined && cut < body.length) {
      this.cuts.delete(sha!);
      // the client reads what was sent before the connection drops (a stall, then a reset)
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 150));
      return;
    }
    res.end(body);
  }
}
