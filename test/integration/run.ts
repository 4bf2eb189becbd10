// Driver for the extension-host tests: starts code-server and Chromium, opens a fresh workspace
// with this repository as the extension under development and out/test/integration/index as
// the tests (smoke-test-driver payload), relays the host's test output, and exits with the
// tests' exit code. Counts go to $IDP_STAGE_COUNTS for scripts/test.mjs.
//
//   node out/test/integration/run.js            (IDP_TEST_GREP=pattern to run some; IDP_TEST_SESSIONS=untrusted for one session)

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as util from 'util';
import { extensionEnv, makeWorkspace, REPO, startCodeServer, whyNoVsCode, workbenchUrl } from '../vscode/code-server';
import { launchBrowser, screenshot } from '../vscode/browser';
import { WORKSPACE_FILES } from './workspace';
import { onCi } from '../helpers/skip';

const NOISE = [/ENOTFOUND/, /^\[AccountPolicyGate\]/, /^Creating a socket/, /^Resolv(ing|ed) connection token/, /^\[reconnection-grace-time\]/,
  /^Updating additional builtin extensions cache/, /^\[Service Worker\]/, /^\[AgentHost/];
const TIMEOUT_MS = Number(process.env.IDP_INTEGRATION_TIMEOUT_MS ?? 15 * 60_000);

function writeStageCounts(c: { passed: number; failed: number; skipped: number }): void {
  if (process.env.IDP_STAGE_COUNTS) fs.writeFileSync(process.env.IDP_STAGE_COUNTS, JSON.stringify(c));
}

interface Counts { passed: number; failed: number; skipped: number }

/**
 * One code-server session: a fresh workspace, the tests of `suite` in its extension host. `untrusted`
 * keeps workspace trust on, so the workspace opens in Restricted Mode.
 */
async function session(suite: 'suite' | 'untrusted'): Promise<{ code: number; counts: Counts }> {
  const countsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'idp-counts-')), 'counts.json');
  const workspace = makeWorkspace(WORKSPACE_FILES);
  // a Hugging Face cache of this session's own (never the user's), and an endpoint nobody listens on:
  // no host test reaches huggingface.co; suite/hub-model.test.ts points HF_ENDPOINT at its local server
  const hfCache = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-hf-cache-'));
  const hf = { HF_HUB_CACHE: hfCache, HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_OFFLINE: '' };
  const cs = await startCodeServer({ workspaceTrust: suite === 'untrusted' });
  const browser = await launchBrowser();
  let code: number;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const exit = new Promise<number>((resolve) => {
      void page.exposeFunction('codeAutomationExit', (c: number) => resolve(c));
    });
    await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
      const text = util.format(...(Array.isArray(args) ? args : [args]));
      // the workbench's own chatter (offline gallery look-ups, connection set-up) is not ours
      if (NOISE.some((re) => re.test(text))) return;
      process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    });
    page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    const url = workbenchUrl(cs, workspace, {
      extensionPath: REPO,
      testsPath: path.join(REPO, 'out', 'test', 'integration', 'index'),
      env: extensionEnv({ IDP_TEST_COUNTS: countsFile, IDP_TEST_GREP: process.env.IDP_TEST_GREP ?? '', IDP_TEST_WORKSPACE: workspace, IDP_TEST_SUITE: suite, ...hf }),
    });
    await page.goto(url);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<number>((resolve) => { timer = setTimeout(() => resolve(-1), TIMEOUT_MS); });
    code = await Promise.race([exit, timeout]);
    clearTimeout(timer);
    if (code === -1) {
      await screenshot(page, `integration-timeout-${suite}`).catch(() => undefined);
      console.error(`extension-host tests (${suite}) did not finish within ${TIMEOUT_MS / 1000} s; code-server said:\n${cs.output.slice(-60).join('\n')}`);
      code = 1;
    }
  } finally {
    await browser.close().catch(() => undefined);
    await cs.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(hfCache, { recursive: true, force: true });
  }
  let counts: Counts = { passed: 0, failed: code === 0 ? 0 : 1, skipped: 0 };
  try {
    counts = JSON.parse(fs.readFileSync(countsFile, 'utf8'));
  } catch {
    console.error(`the extension-host tests (${suite}) reported no counts (did the host start? see above)`);
    if (code === 0) code = 1;
  }
  return { code, counts };
}

async function main(): Promise<number> {
  const why = whyNoVsCode();
  if (why) {
    if (onCi()) { console.error(`extension-host tests cannot run on CI: ${why}`); writeStageCounts({ passed: 0, failed: 1, skipped: 0 }); return 1; }
    console.log(`extension-host tests skipped: ${why}`);
    writeStageCounts({ passed: 0, failed: 0, skipped: 1 });
    return 0;
  }
  // a trusted workspace (every flow), then one in Restricted Mode (workspace trust)
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  let code = 0;
  // IDP_TEST_SESSIONS=untrusted (or suite) runs one session only
  const only = (process.env.IDP_TEST_SESSIONS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const suite of (['suite', 'untrusted'] as const).filter((s) => !only.length || only.includes(s))) {
    const r = await session(suite);
    for (const k of ['passed', 'failed', 'skipped'] as const) total[k] += r.counts[k];
    if (r.code !== 0) code = r.code;
  }
  writeStageCounts(total);
  return code;
}

main().then((c) => process.exit(c), (e) => {
  console.error(e instanceof Error ? e.stack : e);
  writeStageCounts({ passed: 0, failed: 1, skipped: 0 });
  process.exit(1);
});
