// Browser end-to-end: ghost text from the model while typing in a real VS Code, accepted with Tab.

import { strict as assert } from 'assert';
import { failureScreenshots, openFile, screenshot } from '../vscode/browser';
import { openSession, Session } from './session';

describe('browser: inline completion', function () {
  this.timeout(180000);
  let s: Session;

  before(async function () {
    s = await openSession(this, { 'story.txt': 'Once upon a time, there was a little girl named Lily.\n' }, { 'idp.inlineCompletion.enable': true, 'idp.inlineCompletion.maxLines': 1 });   // one line of ghost text: read back in order
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && s) await failureScreenshots(s.page, this.currentTest.title);
  });
  after(() => s?.close());

  it('typing shows the model\'s ghost text and the status bar its latency; Tab accepts it', async () => {
    const { page } = s;
    // the extension is active once its status bar item is there (typing earlier would find no provider)
    await page.locator('.statusbar-item', { hasText: /no model|stories260K|default/ }).first().waitFor({ timeout: 60000 });
    const editor = await openFile(page, 'story.txt');
    await editor.locator('.view-lines').click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type(' She', { delay: 60 });
    const ghost = page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text');
    await ghost.first().waitFor({ timeout: 30000 });
    const proposed = (await ghost.allInnerTexts()).join('').replace(/\u00a0/g, ' ');
    assert.ok(proposed.trim().length > 0, 'ghost text has content');
    await page.locator('.statusbar-item', { hasText: /tok\/s/ }).first().waitFor({ timeout: 10000 });
    await screenshot(page, 'inline-completion-ghost-text');
    await page.keyboard.press('Tab');
    const lines = (await editor.locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');
    assert.ok(lines.includes(` She${proposed.split('\n')[0]}`), `accepted: ${JSON.stringify(lines)} should contain ${JSON.stringify(proposed)}`);
    await screenshot(page, 'inline-completion-accepted');
  });
});
