// Debian's Chromium through playwright-core, headless, with nothing reaching outside.

import * as fs from 'fs';
import * as path from 'path';
import { chromium, Browser, Locator, Page } from 'playwright-core';
import { CHROMIUM, RESULTS } from './code-server';
import { waitFor } from '../helpers/wait';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A PNG of what the user sees, kept under test-results/. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Waits until the workbench is up (the status bar is drawn). */
export async function waitForWorkbench(page: Page): Promise<void> {
  await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
  await page.locator('.statusbar').waitFor({ timeout: 60000 });
}

/**
 * Runs a command from the palette by its title (F1, ">" + title, Enter). Retries until the row
 * appears: right after start-up the extension may not have contributed it yet.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 30000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    await page.keyboard.press('Escape');
    await page.locator('.monaco-workbench').focus().catch(() => undefined);
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 10000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 3000 });
      await page.keyboard.press('Enter');
      return;
    } catch (e) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`command "${title}" did not appear in the palette: ${(e as Error).message}`);
    }
  }
}

/** Opens a workspace file by name through Quick Open (Ctrl+P); returns its editor once it is shown. */
export async function openFile(page: Page, name: string): Promise<Locator> {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor({ state: 'visible' });
  await input.fill(name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor();
  await page.keyboard.press('Enter');
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await editor.waitFor();
  return editor;
}

/**
 * The text of every notification (via the notification centre), once one matching `expected` is
 * listed there (the centre fills in after it opens); fails naming what it waited for and what it saw.
 */
export async function notifications(page: Page, expected: RegExp): Promise<string[]> {
  await runCommand(page, 'Notifications: Show Notifications');
  const items = page.locator('.notifications-center .notification-list-item-message');
  let seen: string[] = [];
  return waitFor(`a notification matching ${expected} (seen: ${JSON.stringify(seen)})`, async () => {
    seen = await items.allInnerTexts();
    return seen.some((m) => expected.test(m)) ? seen : undefined;
  }, 10000);
}

/** After a failure: the screen as it was, then the IDP log. */
export async function failureScreenshots(page: Page, title: string): Promise<void> {
  const name = `failed-${title.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`;
  await screenshot(page, name).catch(() => undefined);
  await runCommand(page, 'IDP: Show Log', 5000)
    .then(() => page.locator('.part.panel .monaco-editor .view-line').first().waitFor({ timeout: 5000 })) // the log is drawn
    .then(() => screenshot(page, `${name}-log`)).catch(() => undefined);
}
