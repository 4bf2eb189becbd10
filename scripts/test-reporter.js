// Mocha reporter: the usual spec output, then this stage's counts — written to $IDP_STAGE_COUNTS
// for scripts/test.mjs, which prints the one closing line "N passed, N failed, N skipped" that CI
// reads (a stage's own summary uses other words, so only the total matches that pattern).
'use strict';
const fs = require('fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PENDING, EVENT_SUITE_BEGIN, EVENT_SUITE_END } = Mocha.Runner.constants;
// the reason a test skipped (test/helpers/skip.ts keeps it on the test or its suite); the tests run
// from out/, so the compiled helper is there whenever this reporter is
const { skipReason } = require('../out/test/helpers/skip.js');

class IdpReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    // printed under Spec's "- title" line; a skip that bypassed the helper is called out as such
    let depth = 0; // Spec's own indent counter is private: keep one in step with it
    runner.on(EVENT_SUITE_BEGIN, () => depth++);
    runner.on(EVENT_SUITE_END, () => depth--);
    runner.on(EVENT_TEST_PENDING, (test) => {
      const why = skipReason(test) ?? 'no reason given (skip through test/helpers/skip.ts)';
      process.stdout.write(`${'  '.repeat(Math.max(depth - 1, 0))}    skipped: ${why}\n`);
    });
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      const counts = { passed: s.passes, failed: s.failures, skipped: s.pending };
      if (process.env.IDP_STAGE_COUNTS) fs.writeFileSync(process.env.IDP_STAGE_COUNTS, JSON.stringify(counts));
      else process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = IdpReporter;
