// Output folders the user never meant to lose: `--out .`, a folder above the working one, the home
// folder, a folder of someone's own files, a file. The real CLI (dist/cli.js, as installed) must refuse
// each with a typed error and exit code 2 — and leave every file where it was. Also what --overwrite may
// still do: replace a folder IDP Lab wrote (with the marker, or an older one recognised by its files).

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { loadModel } from '../../../src/engine/models/load';
import { MARKER } from '../../../src/engine/formats/output-folder';

const CLI = path.resolve(__dirname, '..', '..', '..', '..', 'dist', 'cli.js');
const root = tmpDir('idp-out-folders-');
const COMPRESS = ['compress', '--method', 'rtn', '--bits', '4', '--group-size', '64'];   // the embedded default model, seconds
const TRAIN = ['train', '--method', 'prompt', '--prompt-tokens', '2', '--data', 'model', '--tokens', '64', '--seqlen', '16', '--batch', '2', '--sample-tokens', '128'];
const BANK = ['bank', 'train', '--prompts', '2,3', '--data', 'model', '--tokens', '32', '--seqlen', '16', '--batch', '2', '--sample-tokens', '128'];

function idp(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120000, cwd, env });
}

/** Every path under `dir` with its size (files) — what "nothing deleted, nothing added" compares. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) { out.push(`${path.relative(dir, p)}/`); walk(p); } else out.push(`${path.relative(dir, p)} ${fs.statSync(p).size}`);
    }
  };
  walk(dir);
  return out.sort();
}

/** A folder of someone's own things: notes.txt and sub/data.bin (plus `extra` files). */
function userFolder(dir: string, extra: Record<string, string> = {}): string {
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'my notes\n');
  fs.writeFileSync(path.join(dir, 'sub', 'data.bin'), Buffer.alloc(1000, 7));
  for (const [n, t] of Object.entries(extra)) fs.writeFileSync(path.join(dir, n), t);
  return dir;
}

let refused = 0;

function assertRefused(r: ReturnType<typeof idp>, target: string, why: RegExp): void {
  assert.equal(r.status, 2, `exit ${r.status}: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^idp: ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'), r.stderr);
  assert.match(r.stderr, why);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/, 'a typed error, no stack trace');
  assert.doesNotMatch(r.stderr, /\[layer\]|sampling|step \d/, 'refused before any compute');
  refused++;
}

describe('reliability: output folders IDP Lab may not write', function () {
  this.timeout(300000);
  after(() => console.log(`      (${refused} refused targets, nothing deleted)`));

  it('--out . --overwrite in a folder with other files: refused, nothing deleted (also when it looks like an IDP output)', () => {
    for (const extra of [{}, { 'idp-compress.json': '{}' }] as Array<Record<string, string>>) {
      const cwd = userFolder(fs.mkdtempSync(path.join(root, 'cwd-')), extra);
      const before = snapshot(cwd);
      assertRefused(idp([...COMPRESS, '--out', '.', '--overwrite'], cwd), cwd, /working folder/);
      assert.deepEqual(snapshot(cwd), before);
    }
  });

  it('a folder above the working one, and / : refused, nothing deleted', () => {
    const top = userFolder(fs.mkdtempSync(path.join(root, 'above-')), { 'idp-compress.json': '{}' });
    const cwd = path.join(top, 'a', 'b');
    fs.mkdirSync(cwd, { recursive: true });
    const before = snapshot(top);
    assertRefused(idp([...COMPRESS, '--out', '../..', '--overwrite'], cwd), top, /holds the working folder/);
    assertRefused(idp([...COMPRESS, '--out', top, '--overwrite'], cwd), top, /holds the working folder/);
    assertRefused(idp([...COMPRESS, '--out', '/', '--overwrite'], cwd), '/', /root of the file system/);
    assert.deepEqual(snapshot(top), before);
  });

  it('the home folder: refused, nothing deleted', () => {
    const home = userFolder(fs.mkdtempSync(path.join(root, 'home-')), { 'result.json': '{}' });
    const cwd = fs.mkdtempSync(path.join(root, 'elsewhere-'));
    const before = snapshot(home);
    assertRefused(idp([...COMPRESS, '--out', home, '--overwrite'], cwd, { ...process.env, HOME: home, USERPROFILE: home }), home, /home folder/);
    assert.deepEqual(snapshot(home), before);
  });

  it('a folder of the user\'s own files (notes.txt, sub/): compress --overwrite, train and bank train refuse it', () => {
    const dir = userFolder(path.join(root, 'mine'));
    const before = snapshot(dir);
    assertRefused(idp([...COMPRESS, '--out', dir, '--overwrite'], root), dir, /IDP Lab did not write/);
    assertRefused(idp([...COMPRESS, '--out', dir], root), dir, /not empty/);
    assertRefused(idp([...TRAIN, '--out', dir], root), dir, /IDP Lab did not write/);
    assertRefused(idp([...BANK, '--out', dir], root), dir, /IDP Lab did not write/);
    assert.deepEqual(snapshot(dir), before);
  });

  it('a file where the folder should be: refused, the file kept', () => {
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'keep me\n');
    assertRefused(idp([...COMPRESS, '--out', file, '--overwrite'], root), file, /not a folder/);
    assertRefused(idp([...TRAIN, '--out', file], root), file, /not a folder/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep me\n');
  });

  it('--overwrite replaces a folder IDP Lab wrote (marked, or an older one without the marker), and the result loads', async () => {
    const out = path.join(root, 'ours');
    assert.equal(idp([...COMPRESS, '--out', out], root).status, 0);
    assert.ok(fs.existsSync(path.join(out, MARKER)), 'the output carries the marker');
    fs.rmSync(path.join(out, MARKER));   // as written before the marker existed: idp-compress.json identifies it
    fs.writeFileSync(path.join(out, 'stale.txt'), 'from the previous run');
    const r = idp([...COMPRESS, '--out', out, '--overwrite'], root);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!fs.existsSync(path.join(out, 'stale.txt')), 'replaced as a whole');
    assert.deepEqual(fs.readdirSync(root).filter((n) => n.endsWith('.tmp') || n.endsWith('.idp-lock')), [], 'no staging or lock left');
    const m = await loadModel(out);
    assert.equal(m.config.numLayers, 4);
  });

  it('train resumes in its own folder and refuses another kind of IDP output', () => {
    const run = path.join(root, 'run');
    assert.equal(idp([...TRAIN, '--out', run], root).status, 0);
    const again = idp([...TRAIN, '--out', run], root);
    assert.equal(again.status, 0, again.stderr);
    const compressed = path.join(root, 'compressed');
    assert.equal(idp([...COMPRESS, '--out', compressed], root).status, 0);
    const before = snapshot(compressed);
    assertRefused(idp([...TRAIN, '--out', compressed], root), compressed, /IDP Lab compress output, not a train one/);
    assert.deepEqual(snapshot(compressed), before);
  });
});
