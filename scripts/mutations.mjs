// Break-it check (docs/testing.md): applies each deliberate mutation below to a copy of the build
// (out/) and runs the unit tests that should catch it; every one must make a test fail. First the
// same tests run on an unmutated copy and must pass, so a failure is the mutation's doing.
// Usage, after `npm run build`: node scripts/mutations.mjs [NAME ...]   (exit 1 if any survives)
//
// The copy is a folder with out/ copied and every other entry of the repository linked, so paths the
// tests compute from their own location (the CLI, the engine process, models/default) stay inside
// it. Staged data is found as the tests find it (IDP_DATA, else ../shared/data of this repository).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Each: the compiled file, an exact text in it (found exactly once), what replaces it, the tests that must fail. */
export const MUTATIONS = [
  {
    name: 'non-atomic write',
    what: 'writeFileAtomic writes the target in place (no temporary file and rename)',
    file: 'src/extension/lab.js',
    find: 'fs.writeFileSync(tmp, data);',
    replace: 'fs.writeFileSync(file, data); return;',
    tests: ['test/unit/extension/glue.test.js'],
  },
  {
    name: 'usage errors exit 1',
    what: "the CLI leaves commander's exit code 1 for a bad option value (the README says 2)",
    file: 'src/cli/main.js',
    find: 'process.exit(e.exitCode === 0 ? 0 : errors_1.EXIT.INPUT)',
    replace: 'process.exit(e.exitCode)',
    tests: ['test/unit/cli/cli.test.js'],
  },
  {
    name: 'file errors exit 1',
    what: 'a bad or missing file exits 1 instead of 3',
    file: 'src/cli/errors.js',
    find: 'FILE: 3',
    replace: 'FILE: 1',
    tests: ['test/unit/cli/cli.test.js'],
  },
  {
    name: 'mid-line completes past the line',
    what: 'the completer ignores text after the cursor on its line (no single-line stop)',
    file: 'src/extension/completion/completer.js',
    find: 'const singleLine = ctx.midLine || o.maxLines <= 1;',
    replace: 'const singleLine = o.maxLines <= 1;',
    tests: ['test/unit/extension/completion.test.js'],
  },
  {
    name: 'wrong FIM template',
    what: 'the FIM prompt in SPM order (suffix before prefix) instead of PSM',
    file: 'src/engine/fim/layout.js',
    find: '? [...head, ...repo, fim.prefix, ...preKept, fim.suffix, ...suf, ...mid]',
    replace: '? [...head, ...repo, fim.suffix, ...suf, fim.prefix, ...preKept, ...mid]',
    tests: ['test/unit/defaultmodel/default-model.test.js'],
  },
  {
    name: 'similarity returns 1',
    what: 'the Fig. 5 cosine similarity is 1 for any two models',
    file: 'src/engine/study/similarity.js',
    find: 'return aa === 0 || bb === 0 ? (aa === bb ? 1 : 0) : ab / Math.sqrt(aa * bb);',
    replace: 'return 1;',
    tests: ['test/unit/study/study.test.js'],
  },
  {
    name: 'BOS dropped',
    what: 'prompts are encoded without the BOS token the model expects (llama2.c starts from BOS)',
    file: 'src/engine/runtime/generate.js',
    find: 'const all = bos !== undefined ? [bos, ...ids] : ids;',
    replace: 'const all = ids;',
    tests: ['test/unit/cli/cli.test.js'],
  },
  {
    name: 'one GPT-2 merge lost',
    what: "the GPT-2 tokenizer built from encoder.json + merges drops its 1000th merge",
    file: 'src/engine/tokenizers/hf.js',
    find: 'byteLevelBpeJson(vocab, merges, added)',
    replace: 'byteLevelBpeJson(vocab, merges.filter((_, i) => i !== 999), added)',
    tests: ['test/unit/tokenizers/gpt2-reference.test.js'],
  },
  {
    name: 'asymmetric zero may be 0',
    what: "the quantization grid keeps a zero point of 0 that the v1 GPTQ layout cannot store (no zero ≥ 1 rule)",
    file: 'src/engine/compress/quant-grid.js',
    find: 'if (z < (spec.minZero ?? 1)) {',
    replace: 'if (z < (spec.minZero ?? 0)) {',
    tests: ['test/unit/compress/gptq-algo.test.js'],
  },
];

function copyBuild(dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(REPO)) {
    if (name === 'out' || name === '.git') continue;
    fs.symlinkSync(path.join(REPO, name), path.join(dir, name));
  }
  fs.cpSync(path.join(REPO, 'out'), path.join(dir, 'out'), { recursive: true });
}

/** Runs mocha on `tests` inside the copy; returns the exit status and the titles of failing tests. */
function runTests(dir, tests, env) {
  const r = spawnSync(process.execPath, [path.join(REPO, 'node_modules/mocha/bin/mocha.js'), '--reporter', 'spec', '--timeout', '120000',
    ...tests.map((t) => path.join(dir, 'out', t))], { cwd: dir, encoding: 'utf8', env });
  const out = `${r.stdout}\n${r.stderr}`;
  // the spec reporter lists failures as "  1) suite\n       title:" after the summary
  const failed = [...out.matchAll(/^\s+\d+\) (.+)\n\s+(.+):$/gm)].map((m) => `${m[1].trim()} › ${m[2].trim()}`);
  return { status: r.status, failed, out };
}

const wanted = process.argv.slice(2);
const chosen = MUTATIONS.filter((m) => !wanted.length || wanted.includes(m.name));
if (!fs.existsSync(path.join(REPO, 'out'))) {
  console.error('no out/: run npm run build first');
  process.exit(2);
}
const env = { ...process.env, IDP_DATA: process.env.IDP_DATA ?? path.resolve(REPO, '..', 'shared', 'data') };
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-mutations-'));
let survived = 0;
try {
  const tests = [...new Set(chosen.flatMap((m) => m.tests))];
  const clean = path.join(root, 'clean');
  copyBuild(clean);
  const base = runTests(clean, tests, env);
  if (base.status !== 0) {
    console.error(`the tests fail without any mutation (${base.failed.join('; ') || `exit ${base.status}`}): fix them first\n${base.out.slice(-4000)}`);
    process.exit(2);
  }
  console.log(`unmutated: ${tests.join(', ')} pass`);
  for (const [i, m] of chosen.entries()) {
    const dir = path.join(root, `m${i}`);
    copyBuild(dir);
    const file = path.join(dir, 'out', m.file);
    const src = fs.readFileSync(file, 'utf8');
    const at = src.split(m.find).length - 1;
    if (at !== 1) {
      console.log(`✗ ${m.name}: the text to mutate occurs ${at} times in out/${m.file} (the code moved: update scripts/mutations.mjs)`);
      survived++;
      continue;
    }
    fs.writeFileSync(file, src.replace(m.find, m.replace));
    const r = runTests(dir, m.tests, env);
    if (r.status === 0) {
      console.log(`✗ ${m.name} SURVIVED (${m.what}): ${m.tests.join(', ')} still pass`);
      survived++;
    } else {
      console.log(`✓ ${m.name} (${m.what}) caught by: ${r.failed.join('; ') || `exit ${r.status}`}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
console.log(`${chosen.length - survived} of ${chosen.length} mutations caught, ${survived} survived`);
process.exit(survived ? 1 : 0);
