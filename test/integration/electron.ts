// The same extension-host tests in desktop VS Code through @vscode/test-electron (downloads a VS Code
// build: for machines with internet; CI here uses code-server, see run.ts).  npm run test:electron

import * as path from 'path';
import { runTests } from '@vscode/test-electron';
import { extensionEnv, makeWorkspace, REPO } from '../vscode/code-server';
import { WORKSPACE_FILES } from './workspace';

async function main(): Promise<void> {
  const workspace = makeWorkspace(WORKSPACE_FILES);
  await runTests({
    extensionDevelopmentPath: REPO,
    extensionTestsPath: path.join(REPO, 'out', 'test', 'integration', 'index'),
    extensionTestsEnv: extensionEnv({ IDP_TEST_WORKSPACE: workspace }),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
  });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
