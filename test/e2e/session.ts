// One browser session on a real code-server with the extension under development, for e2e suites.

import * as fs from 'fs';
import type { Browser, Page } from 'playwright-core';
import { CodeServer, extensionEnv, makeWorkspace, REPO, startCodeServer, whyNoVsCode, workbenchUrl } from '../vscode/code-server';
import { launchBrowser, waitForWorkbench } from '../vscode/browser';
import { requirePrereq } from '../helpers/skip';

export interface Session { cs: CodeServer; browser: Browser; page: Page; workspace: string; close(): Promise<void> }

/** Starts a session, or skips the calling suite (saying why) when no VS Code can run here; on CI that fails. */
export async function openSession(ctx: Mocha.Context, files: Record<string, string>, settings: Record<string, unknown> = {}, installed?: { extensionsDir: string }): Promise<Session> {
  requirePrereq(ctx, whyNoVsCode()); // code-server + Chromium: CI installs them (scripts/vscode-test/setup.sh)
  const workspace = makeWorkspace(files);
  fs.mkdirSync(`${workspace}/.vscode`, { recursive: true });
  fs.writeFileSync(`${workspace}/.vscode/settings.json`, JSON.stringify(settings, null, 2));
  const cs = await startCodeServer({ extensionsDir: installed?.extensionsDir });
  const browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // the extension under development (this tree), or the one installed into extensionsDir
  await page.goto(installed ? `${cs.base}/?folder=${encodeURIComponent(workspace)}` : workbenchUrl(cs, workspace, { extensionPath: REPO, env: extensionEnv() }));
  await waitForWorkbench(page);
  return {
    cs, browser, page, workspace,
    async close() {
      await browser.close().catch(() => undefined);
      await cs.stop();
      fs.rmSync(workspace, { recursive: true, force: true });
    },
  };
}
