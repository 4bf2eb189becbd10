// Runs every test stage in order and exits non-zero if any fails.
// Stage 1: engine + CLI unit/integration tests (mocha, Node, real onnxruntime-node).
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const mocha = ['node_modules/mocha/bin/mocha.js', '--reporter', 'scripts/test-reporter.js', '--timeout', '120000',
  ...(args.length ? args : ['out/test/unit/**/*.test.js'])];
const r = spawnSync(process.execPath, mocha, { stdio: 'inherit' });
process.exit(r.status ?? 1);
