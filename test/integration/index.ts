// Runs inside the real extension host (code-server's, loaded through the smoke-test driver's
// extensionTestsPath): mocha over every compiled suite/*.test.js (untrusted/*.test.js with IDP_TEST_SUITE=untrusted). The driver (run.ts) reads the
// counts from the file named by IDP_TEST_COUNTS, because the host's stdout is not ours.

import * as fs from 'fs';
import * as path from 'path';
import Mocha = require('mocha');
import { skipReason } from '../helpers/skip';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 120000, reporter: 'spec', grep: process.env.IDP_TEST_GREP || undefined });
  // suite/ (a trusted workspace) by default; untrusted/ when the driver opens the workspace in Restricted Mode
  const dir = path.join(__dirname, process.env.IDP_TEST_SUITE === 'untrusted' ? 'untrusted' : 'suite');
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(dir, f));
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const s = runner.stats!;
      const counts = { passed: s.passes, failed: s.failures, skipped: s.pending };
      if (process.env.IDP_TEST_COUNTS) fs.writeFileSync(process.env.IDP_TEST_COUNTS, JSON.stringify(counts));
      if (failures > 0) reject(new Error(`${failures} extension-host test(s) failed`));
      else resolve();
    });
    // every skip says why (test/helpers/skip.ts); the spec reporter shows only the title
    runner.on(Mocha.Runner.constants.EVENT_TEST_PENDING, (test) => {
      console.log(`      skipped: ${skipReason(test) ?? 'no reason given (skip through test/helpers/skip.ts)'}`);
    });
  });
}
