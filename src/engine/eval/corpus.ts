// Text corpora for perplexity and calibration: documents from files.
//   *.jsonl (optionally .gz)  one JSON object per line, its "text" field a document (C4, The Pile …)
//   anything else             the whole file is one document (WikiText-2 raw, plain text, source code)
// Patterns with * ? or ** (a workspace glob, e.g. "src/**/*.ts") expand to the files they match,
// sorted, relative to `cwd`. Every problem names the file (and line).

import * as fs from 'fs';
import * as path from 'path';
import { formatError, inputError, notFound } from '../errors';
import { readTextFile } from '../formats/files';
import { isJsonl, jsonLines } from '../formats/json-lines';

function readText(file: string): string {
  return readTextFile(file, 'not a text file (use a glob such as "dir/**/*.txt")');
}

/** Documents of one file. */
export function readDocuments(file: string): string[] {
  const text = readText(file);
  if (!isJsonl(file)) return [text];
  return jsonLines(file, text).map(({ line, value }) => {
    const t = (value as { text?: unknown } | null)?.text;
    if (typeof t !== 'string') throw formatError(file, `line ${line} has no string "text" field`);
    return t;
  });
}

export const hasGlob = (p: string) => /[*?[]/.test(p);

/**
 * A glob's fixed leading folder (`base`, the only folder its walk reads, recursively; symbolic links
 * inside are not followed) and the pattern below it. Restricted Mode checks `base` (request-paths.ts).
 */
export function splitGlob(p: string, cwd = process.cwd()): { base: string; rest: string } {
  const parts = p.split('/');
  const fixed: string[] = [];
  while (parts.length && !hasGlob(parts[0])) fixed.push(parts.shift()!);
  return { base: path.resolve(cwd, fixed.join('/') || '.'), rest: parts.join('/') };
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += /[.+^${}()|[\]\\]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${re}$`);
}

/** Files a path or glob names (a plain path must exist; a glob that matches nothing is an INPUT error). */
export function expandPaths(patterns: string[], cwd = process.cwd()): string[] {
  const out: string[] = [];
  for (const p of patterns) {
    if (!hasGlob(p)) {
      const abs = path.resolve(cwd, p);
      if (!fs.existsSync(abs)) throw notFound(abs);
      out.push(abs);
      continue;
    }
    const { base, rest } = splitGlob(p, cwd);
    const re = globToRegExp(rest);
    const found: string[] = [];
    const walk = (dir: string, rel: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.name === 'node_modules' || e.name === '.git') continue;
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(dir, e.name), r);
        else if (e.isFile() && re.test(r)) found.push(path.join(dir, e.name));
      }
    };
    walk(base, '');
    if (!found.length) throw inputError(`the pattern "${p}" matches no files (under ${base})`);
    out.push(...found.sort());
  }
  return out;
}

/** Documents of every file (paths or globs), in order. */
export function readCorpus(patterns: string[], cwd?: string): { docs: string[]; files: string[] } {
  const files = expandPaths(patterns, cwd);
  const docs: string[] = [];
  for (const f of files) docs.push(...readDocuments(f));
  return { docs, files };
}

