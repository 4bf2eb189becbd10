// `idp generate`'s inputs other than a prompt, as a user runs them: --ids (token ids as they are) and
// --fim-suffix / --fim-template (a completion at a cursor), checked by the ids the job laid the input out as
// (--json's `input`) against a layout written here from the tokenizer and the model's FIM tokens.

import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { DEFAULT_MODEL_DIR } from '../../helpers/default-model';
import { loadModel } from '../../../src/engine/models/load';
import type { LoadedModel } from '../../../src/engine/models/config';
import { findFimTokens } from '../../../src/engine/fim';

const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const idp = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000 });

interface Out { text: string; ids: number[]; input: number[]; finish: string }
function json(r: ReturnType<typeof idp>): Out {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Out;
}

describe('cli: idp generate --ids / --fim-suffix (the embedded default model)', () => {
  let m: LoadedModel;
  before(async () => { m = await loadModel(DEFAULT_MODEL_DIR); });

  const prefix = 'def add(a, b):\n    ';
  const suffix = '\n\nprint(add(1, 2))\n';

  it('--ids runs the ids as they are (no BOS added), and the same ids as a prompt give the same continuation', () => {
    const tok = m.tokenizer!;
    const ids = tok.encode('import os\nimport sys\n');
    const out = json(idp('generate', '--ids', ids.join(','), '--max-tokens', '8', '--json'));
    assert.deepEqual(out.input, ids);
    assert.ok(out.ids.length > 0 && out.ids.length <= 8);
    const withBos = json(idp('generate', '--ids', [m.config.bosTokenId!, ...ids].join(', '), '--max-tokens', '8', '--json'));
    const prompt = json(idp('generate', '--prompt', 'import os\nimport sys\n', '--max-tokens', '8', '--json'));
    assert.deepEqual(prompt.input, [m.config.bosTokenId!, ...ids]);
    assert.deepEqual(withBos.ids, prompt.ids);
  });

  it('--fim-suffix lays out BOS, prefix, suffix, middle with the vocabulary\'s FIM tokens (auto and qwen alike)', () => {
    const tok = m.tokenizer!;
    const fim = findFimTokens(tok)!;
    assert.ok(fim, 'the default model has FIM tokens');
    const want = [m.config.bosTokenId!, fim.prefix, ...tok.encode(prefix), fim.suffix, ...tok.encode(suffix), fim.middle!];
    const auto = json(idp('generate', '--prompt', prefix, '--fim-suffix', suffix, '--max-tokens', '8', '--json'));
    assert.deepEqual(auto.input, want);
    const qwen = json(idp('generate', '--prompt', prefix, '--fim-suffix', suffix, '--fim-template', 'qwen', '--max-tokens', '8', '--json'));
    assert.deepEqual(qwen.input, want);
    assert.deepEqual(qwen.ids, auto.ids);
  });

  it('--fim-template none completes the prefix alone; a format the vocabulary lacks and misused flags exit 2', () => {
    const none = json(idp('generate', '--prompt', prefix, '--fim-suffix', suffix, '--fim-template', 'none', '--max-tokens', '4', '--json'));
    assert.deepEqual(none.input, [m.config.bosTokenId!, ...m.tokenizer!.encode(prefix)]);
    for (const [args, re] of [
      [['--prompt', prefix, '--fim-suffix', suffix, '--fim-template', 'codellama'], /codellama/],
      [['--prompt', prefix, '--fim-template', 'gibberish'], /--fim-template must be auto, none or one of/],
      [['--fim-template', 'qwen'], /--fim-template needs --fim-suffix/],
      [['--ids', '1,x'], /--ids must be comma-separated token ids/],
      [['--ids', '1,2', '--prompt', 'hi'], /--ids takes the place of --prompt/],
    ] as [string[], RegExp][]) {
      const r = idp('generate', ...args, '--max-tokens', '1');
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
  });
});
