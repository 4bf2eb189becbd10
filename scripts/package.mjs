// Builds a platform-specific .vsix: the bundles in dist/ plus onnxruntime-node's native files for
// one platform only (all of them would be ~300 MB). `node scripts/package.mjs [linux-x64|darwin-arm64|win32-x64|…]`
// (default: this machine's). Writes idp-lab-<target>.vsix; offline (vsce needs no network).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const target = process.argv[2] ?? `${process.platform}-${process.arch}`;
const [plat, arch] = target.split('-');
const binRoot = 'node_modules/onnxruntime-node/bin/napi-v6';
if (!fs.existsSync(path.join(binRoot, plat, arch))) {
  console.error(`package: onnxruntime-node has no binaries for ${target} (${binRoot}/${plat}/${arch})`);
  process.exit(2);
}
// vsce keeps a file that any "!" pattern matches, whatever follows: so the blanket
// "!node_modules/onnxruntime-node/**" of .vscodeignore becomes a list without other platforms.
const ortWhole = '!node_modules/onnxruntime-node/**';
const base = fs.readFileSync('.vscodeignore', 'utf8');
if (!base.split('\n').includes(ortWhole)) {
  console.error(`package: .vscodeignore should have the line ${ortWhole}`);
  process.exit(2);
}
const ortOne = ['package.json', 'README.md', 'LICENSE', 'dist/**', 'lib/**', `bin/napi-v6/${plat}/${arch}/**`].map((f) => `!node_modules/onnxruntime-node/${f}`);
const ignore = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'idp-vsce-')), '.vscodeignore');
fs.writeFileSync(ignore, base.split('\n').flatMap((l) => (l === ortWhole ? ortOne : [l])).join('\n'));
const out = `idp-lab-${target}.vsix`;
const r = spawnSync(process.execPath, ['node_modules/@vscode/vsce/vsce', 'package', '--target', target, '--ignoreFile', ignore,
  '--allow-missing-repository', '--skip-license', '-o', out], { stdio: 'inherit' });
fs.rmSync(path.dirname(ignore), { recursive: true, force: true });
if (r.status === 0) console.log(`package: ${out} (${(fs.statSync(out).size / 1e6).toFixed(1)} MB)`);
process.exit(r.status ?? 1);
