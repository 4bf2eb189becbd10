// The layering rules of eslint.config.mjs fire: deliberate bad imports, linted as if they were files of the
// repository, are errors naming the rule's reason; the same files' allowed imports pass. (The whole tree
// passing is `npm run lint`, a stage of `npm test`.)

import { strict as assert } from 'assert';
import * as path from 'path';
import { ESLint } from 'eslint';

const REPO = path.resolve(__dirname, '..', '..', '..', '..');

describe('lint: the layering rules', function () {
  this.timeout(60000);
  const eslint = new ESLint({ cwd: REPO });

  /** The messages of `no-restricted-imports` for `code` as the file `file` (repository-relative). */
  async function restricted(file: string, code: string): Promise<string[]> {
    const [r] = await eslint.lintText(code, { filePath: path.join(REPO, file) });
    assert.equal(r.fatalErrorCount, 0, JSON.stringify(r.messages));
    return r.messages.filter((m) => /no-restricted-imports$/.test(m.ruleId ?? '')).map((m) => m.message);
  }
  const refused = async (file: string, code: string, reason: RegExp) => {
    const m = await restricted(file, code);
    assert.equal(m.length, 1, `${file}: ${code} → ${JSON.stringify(m)}`);
    assert.match(m[0], reason);
  };
  const allowed = async (file: string, code: string) => assert.deepEqual(await restricted(file, code), [], `${file}: ${code}`);

  it('the engine imports no front end and no vscode', async () => {
    await refused('src/engine/models/bad.ts', "import { activate } from '../../extension/extension';\nexport const x = activate;\n", /the engine imports no front end/);
    await refused('src/engine/jobs/bad.ts', "import { cli } from '../../cli/main';\nexport const x = cli;\n", /the engine imports no front end/);
    await refused('src/engine/study/bad.ts', "import { Workflows } from '../../server/workflows';\nexport const x = Workflows;\n", /the engine imports no front end/);
    await refused('src/engine/runtime/bad.ts', "import * as vscode from 'vscode';\nexport const x = vscode;\n", /only src\/extension runs inside VS Code/);
    await refused('src/engine/errors-bad.ts', "import { x } from '../extension/paths';\nexport const y = x;\n", /the engine imports no front end/);
  });

  it('engine areas import only the layers below: no cycles between areas', async () => {
    // models sits below compress: the GPTQ runtime loading it needs lives in models/quant
    await refused('src/engine/models/bad.ts', "import { compressModel } from '../compress/compress';\nexport const x = compressModel;\n", /only the layers below/);
    await refused('src/engine/eval/bad.ts', "import { IdpLM } from '../idp/runner';\nexport type X = IdpLM;\n", /only the layers below/);
    await refused('src/engine/formats/bad.ts', "import type { ModelConfig } from '../models/config';\nexport type X = ModelConfig;\n", /only the layers below/);
    await refused('src/engine/compress/bad.ts', "import { runTraining } from '../train/trainer';\nexport const x = runTraining;\n", /only the layers below/);   // peers
    await refused('src/engine/models/quant/bad.ts', "import { runBench } from '../../index';\nexport const x = runBench;\n", /src\/engine\/index\.ts is for the front ends/);
    await allowed('src/engine/compress/bad.ts', "import { loadModel } from '../models/load';\nimport { Rng } from '../rng';\nexport const x = [loadModel, Rng];\n");
    await allowed('src/engine/models/quant/bad.ts', "import { loadModel } from '../load';\nimport { transposeInto } from '../../formats/transpose';\nexport const x = [loadModel, transposeInto];\n");
  });

  it('the contracts load no engine code; the CLI and the engine process go through src/engine/index.ts', async () => {
    await allowed('src/protocol/bad.ts', "import type { BenchOptions } from '../engine/index';\nexport type X = BenchOptions;\n");
    await refused('src/protocol/bad.ts', "import { runBench } from '../engine/index';\nexport const x = runBench;\n", /name engine types \(import type\)/);
    await refused('src/cli/bad.ts', "import { loadModel } from '../engine/models/load';\nexport const x = loadModel;\n", /through src\/engine\/index\.ts/);
    await allowed('src/cli/bad.ts', "import { loadModel } from '../engine/index';\nexport const x = loadModel;\n");
    await refused('src/server/bad.ts', "import { int } from '../cli/options';\nexport const x = int;\n", /imports no other front end/);
  });

  it('what the extension host loads never imports the engine\'s entry or its jobs', async () => {
    await refused('src/extension/bad.ts', "import { runBench } from '../engine/index';\nexport const x = runBench;\n", /never loads the engine/);
    await refused('src/server/request-paths.ts', "import { runBench } from '../engine/jobs/bench';\nexport const x = runBench;\n", /never loads the engine/);
    await refused('webview/benchmarks/bad.ts', "import { runStudyJob } from '../../src/engine/index';\nexport const x = runStudyJob;\n", /never loads the engine/);
    await allowed('src/extension/bad.ts', "import { inputError } from '../engine/errors';\nexport const x = inputError;\n");
  });
});
