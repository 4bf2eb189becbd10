// Finding a webview's content in the workbench page (each webview is an iframe.webview holding
// iframe#active-frame), and giving the keyboard back to the workbench.

import type { Frame, FrameLocator, Page } from 'playwright-core';
import { waitFor } from '../helpers/wait';

/** The content frame of the webview whose title (panel tab / view) is `title`. */
export async function webviewFrame(page: Page, hasText: string | RegExp): Promise<FrameLocator> {
  // every webview is an iframe.webview holding iframe#active-frame; find the one showing `hasText`
  return waitFor(`a webview showing ${hasText}`, async () => {
    const n = await page.locator('iframe.webview.ready').count();
    for (let i = 0; i < n; i++) {
      const f = page.frameLocator('iframe.webview.ready').nth(i).frameLocator('iframe#active-frame');
      if (await f.locator('body', { hasText }).count().catch(() => 0)) return f;
    }
    return undefined;
  }, 60000, 250);
}

/** The content frame (a Playwright Frame, for evaluate) of the webview `view` (inspector | benchmarks). */
export async function contentFrame(page: Page, view: string): Promise<Frame> {
  return waitFor(`the ${view} webview frame (main#app[data-view="${view}"])`, async () => {
    for (const fr of page.frames()) {
      if (await fr.locator(`main#app[data-view="${view}"]`).count().catch(() => 0)) return fr;
    }
    return undefined;
  }, 30000, 250);
}

/** Gives the keyboard back to the workbench (out of a webview's frame) by clicking into the editor. */
export async function focusEditor(page: Page): Promise<void> {
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click({ position: { x: 5, y: 5 } });
}
