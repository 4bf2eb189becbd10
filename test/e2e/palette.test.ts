// Browser end-to-end: a person at the keyboard in a real VS Code (code-server + Chromium). The
// command palette drives the workflows; what they show is read from the page and photographed.

import { strict as assert } from 'assert';
import * as path from 'path';
import { failureScreenshots, notifications, runCommand, screenshot } from '../vscode/browser';
import { openSession, Session } from './session';
import { waitFor } from '../helpers/wait';

describe('browser: command palette workflows', function () {
  this.timeout(180000);
  let s: Session;

  before(async function () {
    // a short generation keeps the log's lines in view (the panel renders only the lines it shows, and the
    // default model writes code: many short lines)
    s = await openSession(this, { 'story.txt': 'Once upon a time\n', 'not-a-model.bin': 'plain text, not a model\n' }, { 'idp.generate.maxTokens': 16 });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && s) await failureScreenshots(s.page, this.currentTest.title);
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
    // the log opens with the prompt and its continuation (from the embedded default model, a code model)
    const output = page.locator('.part.panel .monaco-editor .view-lines');
    await output.filter({ hasText: /generated\s\(\d+\stokens/ }).waitFor({ timeout: 60000 });
    await screenshot(page, 'palette-generate');
    const text = await output.innerText();
    assert.match(text, /Once\supon\sa\stime\S*\s*\S/);
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
    // the dialog fills in the folder it starts from; then a typed path replaces it
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'not-a-model.bin' }).first().waitFor();
    const target = path.join(s.workspace, 'not-a-model.bin');
    // the dialog may still overwrite the field with its start folder: fill until the path stays
    await waitFor(`the file dialog to hold ${target}`, async () => {
      if ((await input.inputValue()) === target) return true;
      await input.fill(target);
      return false;
    }, 10000, 300);
    await page.keyboard.press('Enter');
    await page.locator('.part.panel .monaco-editor .view-lines').filter({ hasText: /failed:\sLoading\smodel\snot-a-model/ }).waitFor({ timeout: 30000 });
    await screenshot(page, 'palette-bad-model');
    const msgs = await notifications(page, /Loading model not-a-model failed/);
    await screenshot(page, 'palette-bad-model-notifications');
    const err = msgs.find((m) => /Loading model not-a-model failed/.test(m));
    assert.ok(err, `an error notification, got: ${JSON.stringify(msgs)}`);
    assert.match(err!, /not-a-model\.bin/, 'it names the file');
    await waitFor('no progress left running (no .monaco-progress-container.active)', async () => (await page.locator('.monaco-progress-container.active').count()) === 0, 10000, 250);
    await screenshot(page, 'palette-bad-model-later');
  });

  it('IDP: Show Log opens the IDP Lab output with the engine process in it', async () => {
    const { page } = s;
    await page.keyboard.press('Escape');
    await runCommand(page, 'View: Hide Panel');
    await page.locator('.part.panel').waitFor({ state: 'hidden' });
    await runCommand(page, 'IDP: Show Log');
    await page.locator('.part.panel').waitFor({ state: 'visible' });
    const channel = page.locator('.part.panel select.monaco-select-box[aria-label="Switch Output"]').first();
    assert.equal(await channel.evaluate((e: any) => e.options[e.selectedIndex]?.text ?? e.value), 'IDP Lab');
    await page.locator('.part.panel .monaco-editor .view-lines').filter({ hasText: /job\s\d+\sfailed:\sLoading\smodel/ }).waitFor({ timeout: 30000 });
    await screenshot(page, 'palette-show-log');
  });
});
