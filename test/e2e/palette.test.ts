// Browser end-to-end: a person at the keyboard in a real VS Code (code-server + Chromium). The
// command palette drives the workflows; what they show is read from the page and photographed.

import { strict as assert } from 'assert';
import * as path from 'path';
import { notifications, runCommand, screenshot } from '../vscode/browser';
import { openSession, Session } from './session';

describe('browser: command palette workflows', function () {
  this.timeout(180000);
  let s: Session;

  before(async function () {
    s = await openSession(this, { 'story.txt': 'Once upon a time\n', 'not-a-model.bin': 'plain text, not a model\n' });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && s) await screenshot(s.page, `failed-${this.currentTest.title.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`);
  });
  after(() => s?.close());

  it('IDP: Generate from Prompt… asks for a prompt and shows the model text in the IDP Lab log', async () => {
    const { page } = s;
    await runCommand(page, 'IDP: Generate from Prompt…');
    const input = page.locator('.quick-input-widget input.input');
    await page.waitForFunction(`!document.querySelector('.quick-input-widget input.input')?.value.startsWith('>')`);
    assert.equal(await input.inputValue(), 'Once upon a time', 'a sensible default prompt');
    await input.fill('Once upon a time');
    await page.keyboard.press('Enter');
    // the log opens with the prompt and its continuation
    const output = page.locator('.part.panel .monaco-editor .view-lines');
    await output.filter({ hasText: /Once upon a time,? there was/ }).waitFor({ timeout: 60000 });
    await screenshot(page, 'palette-generate');
    const text = await output.innerText();
    assert.match(text, /generated \(\d+ tokens/);
    // the progress notification is gone
    await page.locator('.notification-toast .monaco-progress-container.active').waitFor({ state: 'detached', timeout: 10000 });
  });

  it('IDP: Select Model… → Browse… with a file that is not a model says what is wrong and leaves no progress behind', async () => {
    const { page } = s;
    await runCommand(page, 'IDP: Select Model…');
    const rows = page.locator('.quick-input-list .monaco-list-row');
    await rows.filter({ hasText: 'Default model' }).waitFor();
    await page.keyboard.type('Browse');
    await rows.filter({ hasText: 'Browse…' }).first().click();
    // the web file dialog is a quick input taking a path
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible' });
    await input.fill(path.join(s.workspace, 'not-a-model.bin'));
    await page.waitForTimeout(500);
    await page.keyboard.press('Enter');
    const toast = page.locator('.notification-toast', { hasText: 'Loading model' });
    await toast.filter({ hasText: 'failed' }).first().waitFor({ timeout: 30000 });
    await screenshot(page, 'palette-bad-model');
    const msgs = await notifications(page);
    const err = msgs.find((m) => /Loading model not-a-model failed/.test(m));
    assert.ok(err, `an error notification, got: ${JSON.stringify(msgs)}`);
    assert.match(err!, /not-a-model\.bin/, 'it names the file');
    assert.equal(await page.locator('.monaco-progress-container.active').count(), 0, 'no progress is left running');
  });

  it('IDP: Show Log opens the IDP Lab output with the engine process in it', async () => {
    const { page } = s;
    await page.keyboard.press('Escape');
    await runCommand(page, 'IDP: Show Log');
    const output = page.locator('.part.panel .monaco-editor .view-lines');
    await output.filter({ hasText: /engine started \(pid \d+/ }).waitFor({ timeout: 30000 });
    await screenshot(page, 'palette-show-log');
  });
});
