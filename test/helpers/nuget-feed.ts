// A local HTTP server that answers like a NuGet v3 feed, for the CUDA provider setup tests (no internet,
// no mocks: the real setup code talks real HTTP to it through IDP_NUGET_INDEX or its `index` option).
//
//   GET /v3/index.json                                   service index: PackageBaseAddress/3.0.0 → /flat/,
//                                                        RegistrationsBaseUrl/3.6.0 → /reg/ (unless noRegistration)
//   GET /flat/ID/index.json                              { versions }
//   GET /flat/ID/VER/ID.VER.nupkg                        the package bytes (Content-Length), optionally corrupted
//                                                        (same length) or trickled out slowly (for cancel tests)
//   GET /reg/ID/VER.json                                 registration leaf: { catalogEntry: URL, packageContent }
//   GET /catalog/ID.VER.json                             catalog leaf: { packageHash (base64 SHA512), 'SHA512', packageSize }
//                                                        (no packageHash with noHash; a wrong one with wrongHash)
//
// The stand-in package is a zip built here (yazl) holding small fake libraries at the paths the real
// Microsoft.ML.OnnxRuntime.Gpu.Linux package has them, plus entries the setup must not extract.

import * as crypto from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as yazl from 'yazl';

export const NATIVE = 'runtimes/linux-x64/native';
export const PROVIDER_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'];

/** A fake x86-64 ELF shared object: a real 64-byte header, then `fill` bytes derived from `tag`. */
export function fakeElf(tag: string, fill = 4096): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);     // \x7fELF
  h[4] = 2; h[5] = 1; h[6] = 1;         // 64-bit, little-endian, version 1
  h.writeUInt16LE(3, 16);             // ET_DYN
  h.writeUInt16LE(62, 18);            // EM_X86_64
  const body = Buffer.alloc(fill);
  for (let i = 0, seed = crypto.createHash('sha256').update(tag).digest(); i < fill; i++) body[i] = seed[i % 32] ^ (i & 0xff);
  return Buffer.concat([h, body]);
}

/** The stand-in .nupkg: its entries (name → bytes) zipped (deflated, as NuGet packs). */
export async function buildNupkg(entries: Record<string, Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) zip.addBuffer(data, name, { mtime: new Date(2026, 0, 1) });
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve());
    zip.outputStream.on('error', reject);
  });
  zip.end();
  await done;
  return Buffer.concat(chunks);
}

/** The entries of a stand-in Gpu.Linux package: the three provider libraries and some that must stay in it. */
export function standInEntries(version: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const f of PROVIDER_FILES) out[`${NATIVE}/${f}`] = fakeElf(`${f}@${version}`, f.includes('cuda') ? 200_000 : 8192);
  out[`${NATIVE}/libonnxruntime.so`] = fakeElf('not-to-be-extracted', 4096);
  out['Microsoft.ML.OnnxRuntime.Gpu.Linux.nuspec'] = Buffer.from('<?xml version="1.0"?><package><metadata><id>Microsoft.ML.OnnxRuntime.Gpu.Linux</id></metadata></package>');
  out['[Content_Types].xml'] = Buffer.from('<?xml version="1.0"?><Types/>');
  return out;
}

export interface FeedOptions {
  /** The service index lists no registration resource. */
  noRegistration?: boolean;
  /** The catalog leaf states no packageHash. */
  noHash?: boolean;
  /** The catalog leaf states the hash of other bytes. */
  wrongHash?: boolean;
  /** Serve the package with one byte flipped (same length). */
  corrupt?: boolean;
  /** Send the package in 64 KiB pieces this many ms apart. */
  trickleMs?: number;
}

export class NugetFeed {
  readonly requests: string[] = [];
  private server?: http.Server;
  private sockets = new Set<import('net').Socket>();
  private packages = new Map<string, Map<string, Buffer>>();   // id (lower) → version (lower) → bytes
  base = '';

  constructor(public opts: FeedOptions = {}) {}

  get index(): string {
    return `${this.base}/v3/index.json`;
  }

  add(id: string, version: string, nupkg: Buffer): void {
    const m = this.packages.get(id.toLowerCase()) ?? new Map<string, Buffer>();
    m.set(version.toLowerCase(), nupkg);
    this.packages.set(id.toLowerCase(), m);
  }

  nupkgRequests(): string[] {
    return this.requests.filter((r) => r.endsWith('.nupkg'));
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private json(res: http.ServerResponse, body: unknown): void {
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length });
    res.end(b);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const p = new URL(req.url ?? '/', this.base).pathname;
    this.requests.push(p);
    const notFound = () => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    };
    let m: RegExpExecArray | null;
    if (p === '/v3/index.json') {
      const resources = [{ '@id': `${this.base}/flat/`, '@type': 'PackageBaseAddress/3.0.0' }];
      if (!this.opts.noRegistration) resources.push({ '@id': `${this.base}/reg/`, '@type': 'RegistrationsBaseUrl/3.6.0' });
      return this.json(res, { version: '3.0.0', resources });
    }
    if ((m = /^\/flat\/([^/]+)\/index\.json$/.exec(p))) {
      const v = this.packages.get(m[1]);
      return v ? this.json(res, { versions: [...v.keys()] }) : notFound();
    }
    if ((m = /^\/flat\/([^/]+)\/([^/]+)\/([^/]+)\.nupkg$/.exec(p))) {
      const bytes = this.packages.get(m[1])?.get(m[2]);
      if (!bytes || m[3] !== `${m[1]}.${m[2]}`) return notFound();
      const body = Buffer.from(bytes);
      if (this.opts.corrupt) body[body.length >> 1] ^= 0xff;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      if (!this.opts.trickleMs) return void res.end(body);
      for (let off = 0; off < body.length && !res.destroyed; off += 65536) {
        res.write(body.subarray(off, off + 65536));
        await new Promise((r) => setTimeout(r, this.opts.trickleMs));
      }
      return void res.end();
    }
    if ((m = /^\/reg\/([^/]+)\/([^/]+)\.json$/.exec(p))) {
      if (!this.packages.get(m[1])?.has(m[2])) return notFound();
      return this.json(res, {
        '@id': `${this.base}${p}`, catalogEntry: `${this.base}/catalog/${m[1]}.${m[2]}.json`, listed: true,
        packageContent: `${this.base}/flat/${m[1]}/${m[2]}/${m[1]}.${m[2]}.nupkg`,
      });
    }
    if ((m = /^\/catalog\/(.+)\.(\d+\.\d+\.\d+[^/]*)\.json$/.exec(p))) {
      const bytes = this.packages.get(m[1])?.get(m[2]);
      if (!bytes) return notFound();
      const hashed = this.opts.wrongHash ? Buffer.concat([bytes, Buffer.from('x')]) : bytes;
      return this.json(res, {
        '@type': ['PackageDetails', 'catalog:Permalink'], id: m[1], version: m[2], packageSize: bytes.length,
        ...(this.opts.noHash ? {} : { packageHash: crypto.createHash('sha512').update(hashed).digest('base64'), packageHashAlgorithm: 'SHA512' }),
      });
    }
    notFound();
  }
}
