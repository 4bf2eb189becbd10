// The package as users get it: `npm run package` builds a .vsix that installs into code-server
// (its own CLI) and works there without this source tree — the palette generates model text.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { failureScreenshots, runCommand, screenshot } from '../vscode/browser';
import { installVsix, REPO, whyNoVsCode } from '../vscode/code-server';
import { openSession, Session } from './session';

describe('browser: the packaged extension (.vsix)', function () {
  this.timeout(300000);
  let s: Session | undefined;
  let extensionsDir: string;

  before(async function () {
    if (whyNoVsCode() && !process.env.CI) this.skip(); // openSession says why
    const target = `${process.platform}-${process.arch}`;
    const r = spawnSync(process.execPath, ['scripts/package.mjs', target], { cwd: REPO, encoding: 'utf8', timeout: 240000 });
    assert.equal(r.status, 0, `packaging failed:\n${r.stdout}\n${r.stderr}`);
    const vsix = path.join(REPO, `idp-lab-${target}.vsix`);
    extensionsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-exts-'));
    installVsix(vsix, extensionsDir);
    fs.rmSync(vsix, { force: true });
    const installed = fs.readdirSync(extensionsDir).filter((d) => d.startsWith('idp-lab.idp-lab-'));
    assert.equal(installed.length, 1, `installed: ${fs.readdirSync(extensionsDir)}`);
    assert.ok(fs.existsSync(path.join(extensionsDir, installed[0], 'dist', 'server.js')));
    s = await openSession(this, { 'story.txt': 'Once upon a time\n' }, {}, { extensionsDir });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && s) await failureScreenshots(s.page, this.currentTest.title);
  });
  after(async () => {
    await s?.close();
    if (extensionsDir) fs.rmSync(extensionsDir, { recursive: true, force: true });
  });

  it('installs into code-server and generates model text from the palette', async () => {
    const { page } = s!;
    await runCommand(page, 'IDP: Generate from Prompt…');
    await page.waitForFunction(`!document.querySelector('.quick-input-widget input.input')?.value.startsWith('>')`);
    await page.keyboard.press('Enter');
    await page.locator('.part.panel .monaco-editor .view-lines').filter({ hasText: /Once\supon\sa\stime,?\sthere\swas/ }).waitFor({ timeout: 60000 });
    await screenshot(page, 'vsix-generate');
  });
});
