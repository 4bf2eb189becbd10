// The default model's corpus: source that ships in npm packages this project installs (its
// dependencies and dev dependencies, versions pinned by package-lock.json), so anyone with the
// repository can rebuild it after `npm ci` — no download, no staged data.
//
// Recipe (CORPUS_RECIPE): per package, an exact version and the files taken (globs relative to the
// package folder; nested node_modules are never entered). Files are read in package order, then path
// order (JS string order), CRLF → LF. A file is left out (and listed with the reason) when it is
// empty, binary (NUL bytes), not UTF-8, minified or generated (mean line length over 200 characters,
// or over 5 % of the text on lines longer than 1,000) or contains one of the tokenizer's special-token strings.
//
// Split: files are cut at line boundaries into parts of about PART_CHARS characters; a part is held
// out when FNV-1a("<package>/<path>#<part>") mod 20 = 0 (about 5 %), so the held-out set is code
// from the same packages the model never saw, spread across them, and does not move when other
// files change.

import * as fs from 'fs';
import * as path from 'path';
import { expandPaths } from '../../src/engine/eval/corpus';
import { inputError, notFound } from '../../src/engine/errors';

export interface PackageSource {
  name: string;
  version: string;
  include: string[];
  what: string;
}

export const CORPUS_RECIPE: PackageSource[] = [
  { name: 'typescript', version: '5.9.3', include: ['lib/lib.*.d.ts', 'lib/typescript.d.ts'], what: 'the standard library (ES5–ESNext, DOM, workers) and compiler API declarations' },
  { name: 'typescript', version: '5.9.3', include: ['lib/typescript.js'], what: 'the TypeScript compiler and language service (readable JS)' },
  { name: '@types/node', version: '20.19.43', include: ['*.d.ts', 'assert/*.d.ts', 'dns/*.d.ts', 'fs/*.d.ts', 'readline/*.d.ts', 'stream/*.d.ts', 'timers/*.d.ts', 'web-globals/*.d.ts', 'compatibility/*.d.ts'], what: 'Node.js API declarations' },
  { name: '@types/vscode', version: '1.95.0', include: ['index.d.ts'], what: 'VS Code extension API declarations' },
  { name: '@types/mocha', version: '10.0.10', include: ['index.d.ts'], what: 'mocha declarations' },
  { name: 'playwright-core', version: '1.65.1', include: ['types/types.d.ts'], what: 'Playwright API declarations' },
  { name: 'onnxruntime-common', version: '1.30.0', include: ['lib/*.ts'], what: 'onnxruntime-common TypeScript sources' },
  { name: 'vscode-jsonrpc', version: '10.0.0', include: ['lib/**/*.js', 'lib/**/*.d.ts'], what: 'JSON-RPC library (compiled JS + declarations)' },
  { name: 'mocha', version: '11.8.0', include: ['lib/**/*.js'], what: 'mocha sources (JS)' },
  { name: 'commander', version: '14.0.3', include: ['lib/*.js', 'typings/index.d.ts'], what: 'commander sources and declarations' },
  { name: 'protobufjs', version: '6.11.6', include: ['src/**/*.js', 'index.d.ts'], what: 'protobuf.js sources and declarations' },
  { name: 'esbuild', version: '0.28.2', include: ['lib/main.js', 'lib/main.d.ts'], what: 'esbuild JS API' },
  { name: '@huggingface/tokenizers', version: '0.2.0', include: ['dist/tokenizers.mjs', 'types/**/*.d.ts'], what: 'tokenizers library (ES module + declarations)' },
];

export const PART_CHARS = 65_536;
export const HELD_OUT_MOD = 20;

export interface CorpusPart {
  /** "<package>/<path>#<k>" */
  id: string;
  pkg: string;
  text: string;
  heldOut: boolean;
}

export interface PackageStats {
  name: string;
  version: string;
  installed: string;
  what: string;
  files: number;
  chars: number;
  trainChars: number;
  heldOutChars: number;
}

export interface Corpus {
  parts: CorpusPart[];
  packages: PackageStats[];
  skipped: Array<{ file: string; why: string }>;
}

/** 32-bit FNV-1a over UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Why a file's text is left out, or undefined. */
export function whyLeftOut(text: string, specialTokens: string[]): string | undefined {
  if (text.trim().length === 0) return 'empty';
  if (text.includes('\u0000')) return 'binary (NUL bytes)';
  let bad = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0xfffd) bad++;
  if (bad > 8 && bad > text.length / 1000) return 'not UTF-8';
  // minified or generated: long lines carry much of the text
  let lines = 0;
  let inLong = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    if (end - start > 1000) inLong += end - start;
    lines++;
    if (nl < 0) break;
    start = nl + 1;
  }
  const mean = text.length / lines;
  if (mean > 200 || inLong > 0.05 * text.length) {
    return `minified or generated (mean line ${Math.round(mean)} characters, ${Math.round((100 * inLong) / text.length)} % of the text on lines over 1,000)`;
  }
  const sp = specialTokens.find((t) => text.includes(t));
  if (sp) return `contains the special token ${sp}`;
  return undefined;
}

/** Cut text at line boundaries into pieces of about `size` characters (each ends with a newline except the last). */
export function splitLines(text: string, size: number): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    if (text.length - start <= size) { out.push(text.slice(start)); break; }
    let end = text.indexOf('\n', start + size);
    end = end < 0 ? text.length : end + 1;
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

export interface CorpusOptions {
  /** node_modules folder holding the packages. */
  nodeModules: string;
  /** Special-token strings that must not occur in the text. */
  specialTokens: string[];
  /** Accept installed versions other than the recipe's (the card then records the versions used). */
  allowDrift?: boolean;
  /** Only these packages (tests); default: the whole recipe. */
  only?: (p: PackageSource) => boolean;
}

export function installedVersion(nodeModules: string, name: string): string {
  const pj = path.join(nodeModules, name, 'package.json');
  if (!fs.existsSync(pj)) throw notFound(pj, `package ${name} is not installed (run npm ci)`);
  return String((JSON.parse(fs.readFileSync(pj, 'utf8')) as { version?: unknown }).version);
}

/** Enumerate, read, filter and split the recipe's files. */
export function buildCorpus(o: CorpusOptions): Corpus {
  const parts: CorpusPart[] = [];
  const skipped: Corpus['skipped'] = [];
  const packages: PackageStats[] = [];
  for (const src of CORPUS_RECIPE.filter(o.only ?? (() => true))) {
    const installed = installedVersion(o.nodeModules, src.name);
    if (installed !== src.version && !o.allowDrift) {
      throw inputError(`the corpus recipe pins ${src.name}@${src.version} but ${installed} is installed: run npm ci, ` +
        'update CORPUS_RECIPE in scripts/default-model/corpus.ts, or pass --allow-drift', path.join(o.nodeModules, src.name, 'package.json'));
    }
    const root = path.join(o.nodeModules, src.name);
    const stats: PackageStats = { name: src.name, version: src.version, installed, what: src.what, files: 0, chars: 0, trainChars: 0, heldOutChars: 0 };
    for (const file of expandPaths(src.include, root)) {
      const rel = path.relative(root, file).split(path.sep).join('/');
      const text = fs.readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
      const why = whyLeftOut(text, o.specialTokens);
      if (why) { skipped.push({ file: `${src.name}/${rel}`, why }); continue; }
      stats.files++;
      stats.chars += text.length;
      splitLines(text, PART_CHARS).forEach((t, k) => {
        const id = `${src.name}/${rel}#${k}`;
        const heldOut = fnv1a(id) % HELD_OUT_MOD === 0;
        parts.push({ id, pkg: src.name, text: t, heldOut });
        if (heldOut) stats.heldOutChars += t.length; else stats.trainChars += t.length;
      });
    }
    packages.push(stats);
  }
  return { parts, packages, skipped };
}
