// Runs every test stage in order and exits non-zero if any fails; the last line sums them all:
// "N passed, N failed, N skipped" (each stage prints its own summary in other words).
//   0. lint: ESLint over the tree (eslint.config.mjs: correctness and the layering rules); one check
//   1. unit: engine, CLI, engine process (mocha, Node, real onnxruntime-node)
//   2. extension host: integration tests inside a real VS Code (code-server) extension host
//   3. browser: end-to-end tests in Chromium against code-server (playwright-core)
// Stages 2-3 need the cached code-server + Chromium (scripts/vscode-test/setup.sh, run here when
// missing). IDP_TEST_STAGES=unit,host,browser picks stages. Arguments: run only those mocha files.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const args = process.argv.slice(2);
const mocha = (files) => ['node_modules/mocha/bin/mocha.js', '--reporter', 'scripts/test-reporter.js', '--timeout', '120000', ...files];
const stages = args.length
  ? [{ key: 'unit', name: 'selected tests', argv: mocha(args) }]
  : [
    { key: 'lint', name: 'lint', argv: ['node_modules/eslint/bin/eslint.js', '.'], exitOnly: true },
    { key: 'unit', name: 'unit', argv: mocha(['out/test/unit/**/*.test.js']) },
    { key: 'host', name: 'extension host', vscode: true, argv: ['out/test/integration/run.js'] },
    { key: 'browser', name: 'browser', vscode: true, argv: mocha(['--timeout', '180000', 'out/test/e2e/*.test.js']) },
  ];
const wanted = (process.env.IDP_TEST_STAGES ?? '').split(',').map((s) => s.trim()).filter(Boolean);

const total = { passed: 0, failed: 0, skipped: 0 };
let ok = true;
let setupDone = false;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-stages-'));
for (const st of stages) {
  if (wanted.length && !wanted.includes(st.key)) continue;
  if (st.vscode && !setupDone) {
    setupDone = true;
    // idempotent and quick once cached; a failure is reported by the stages themselves
    const s = spawnSync('bash', ['scripts/vscode-test/setup.sh'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (s.status !== 0) console.error('VS Code test setup failed: the extension-host and browser stages will say what is missing');
  }
  const countsFile = path.join(tmp, `${st.key}.json`);
  const t0 = Date.now();
  console.log(`\n=== stage: ${st.name}`);
  const r = spawnSync(process.execPath, st.argv, { stdio: 'inherit', env: { ...process.env, IDP_STAGE_COUNTS: countsFile } });
  let c = { passed: 0, failed: 0, skipped: 0 };
  if (st.exitOnly) fs.writeFileSync(countsFile, JSON.stringify(r.status === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 }));
  try {
    c = JSON.parse(fs.readFileSync(countsFile, 'utf8'));
  } catch {
    c.failed = 1; // the stage died before counting
    console.error(`stage ${st.name} reported no counts (exit ${r.status ?? r.signal})`);
  }
  if (r.status !== 0 && c.failed === 0) c.failed = 1;
  if (r.status !== 0) ok = false;
  for (const k of Object.keys(total)) total[k] += c[k];
  console.log(`=== stage ${st.name}: ${c.passed} ok / ${c.failed} not ok / ${c.skipped} pending in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(ok && total.failed === 0 ? 0 : 1);
