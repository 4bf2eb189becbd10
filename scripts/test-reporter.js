// Mocha reporter: the usual spec output, then this stage's counts — written to $IDP_STAGE_COUNTS
// for scripts/test.mjs, which prints the one closing line "N passed, N failed, N skipped" that CI
// reads (a stage's own summary uses other words, so only the total matches that pattern).
'use strict';
const fs = require('fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class IdpReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      const counts = { passed: s.passes, failed: s.failures, skipped: s.pending };
      if (process.env.IDP_STAGE_COUNTS) fs.writeFileSync(process.env.IDP_STAGE_COUNTS, JSON.stringify(counts));
      else process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = IdpReporter;
