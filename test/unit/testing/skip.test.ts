// test/helpers/skip.ts through real mocha and the real reporter (scripts/test-reporter.js): a small
// suite that skips every way the tests do runs in a child process, once as a developer machine and
// once with CI=true, and the output must carry each reason and the exit code and counts must differ
// exactly where a prerequisite is missing.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT, tmpDir } from '../../helpers/data';
import { onCi } from '../../helpers/skip';

const HELPERS = path.join(REPO_ROOT, 'out', 'test', 'helpers');

function fixture(dir: string): string {
  const f = path.join(dir, 'skips.test.js');
  fs.writeFileSync(f, `
const { skipBecause, skipUnless, requirePrereq } = require(${JSON.stringify(path.join(HELPERS, 'skip.js'))});
const { dataPath } = require(${JSON.stringify(path.join(HELPERS, 'data.js'))});
describe('fixture', function () {
  it('machine-dependent', function () { skipBecause(this, 'no CUDA GPU here'); });
  it('condition holds', function () { skipUnless(this, true, 'never shown'); });
  it('prerequisite present', function () { requirePrereq(this, undefined); });
  it('prerequisite missing', function () { requirePrereq(this, 'no code-server at /nowhere'); });
  it('staged data missing', function () { dataPath(this, 'models', 'absent.gguf'); });
  it('bare mocha skip', function () { this.skip(); });
  describe('a suite whose before-all needs a device', function () {
    before(function () { requirePrereq(this, 'no Vulkan device'); });
    it('first', () => undefined);
    it('second', () => undefined);
  });
});
`);
  return f;
}

function run(file: string, dataDir: string, ci: string | undefined) {
  const env: NodeJS.ProcessEnv = { ...process.env, IDP_DATA: dataDir };
  delete env.IDP_STAGE_COUNTS; // the child prints its own counts line instead of writing our stage's file
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'),
    '--reporter', path.join(REPO_ROOT, 'scripts', 'test-reporter.js'), '--no-color', file], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** The line after the one holding `title`, trimmed. */
function lineAfter(out: string, title: string): string {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => l.includes(title));
  assert.ok(i >= 0, `no line with ${title} in:\n${out}`);
  return (lines[i + 1] ?? '').trim();
}

describe('test helpers: skips say why, and CI fails on a missing prerequisite', function () {
  this.timeout(90000);
  let dir: string;
  let file: string;

  before(() => {
    dir = tmpDir('idp-skip-');
    fs.writeFileSync(path.join(dir, 'README.md'), 'an empty data folder\n');
    file = fixture(dir);
  });

  it('off CI: every skip is reported with its reason under the skipped test', () => {
    const r = run(file, dir, undefined);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /\n2 passed, 0 failed, 6 skipped\n/, r.out);
    assert.equal(lineAfter(r.out, '- machine-dependent'), 'skipped: no CUDA GPU here');
    assert.equal(lineAfter(r.out, '- prerequisite missing'), 'skipped: no code-server at /nowhere');
    assert.match(lineAfter(r.out, '- staged data missing'), /^skipped: staged data missing: .*absent\.gguf \(set IDP_DATA/);
    assert.equal(lineAfter(r.out, '- bare mocha skip'), 'skipped: no reason given (skip through test/helpers/skip.ts)');
    // a skip from a before-all hook: each of the suite's tests carries the suite's reason
    assert.equal(lineAfter(r.out, '- first'), 'skipped: no Vulkan device');
    assert.equal(lineAfter(r.out, '- second'), 'skipped: no Vulkan device');
    assert.doesNotMatch(r.out, /never shown/);
  });

  it('with CI=true: missing prerequisites fail, naming what is missing; machine-dependent skips still skip', () => {
    const r = run(file, dir, 'true');
    assert.equal(r.status, 3, r.out); // mocha exits with the number of failures
    // the two passing tests, the CUDA-style and the bare skip; the hook's failure leaves its suite's tests unrun
    assert.match(r.out, /\n2 passed, 3 failed, 2 skipped\n/, r.out);
    assert.match(r.out, /MissingPrerequisiteError: prerequisite missing on CI \(CI=true\): no code-server at \/nowhere/);
    assert.match(r.out, /MissingPrerequisiteError: prerequisite missing on CI \(CI=true\): staged data missing: .*absent\.gguf/);
    assert.match(r.out, /"before all" hook .*\n.*MissingPrerequisiteError: .*no Vulkan device/);
    assert.equal(lineAfter(r.out, '- machine-dependent'), 'skipped: no CUDA GPU here');
  });

  it('CI counts as on unless it is empty, "false" or "0"', () => {
    for (const v of ['true', '1', 'yes', 'TRUE']) assert.equal(onCi({ CI: v }), true, v);
    for (const v of [undefined, '', 'false', 'False', '0']) assert.equal(onCi({ CI: v }), false, String(v));
  });
});
