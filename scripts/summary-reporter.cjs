// Mocha's spec reporter, then one plain closing line "N passed, N failed" (CI reads only that line),
// also written to $KUBE_JOIN_SUMMARY_FILE when set, so .ci/run can repeat it as its very last line.
'use strict';
const Mocha = require('mocha');
const { writeFileSync } = require('node:fs');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    runner.on(Mocha.Runner.constants.EVENT_TEST_PASS, () => passed++);
    runner.on(Mocha.Runner.constants.EVENT_TEST_FAIL, () => failed++);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const line = `${passed} passed, ${failed} failed`;
      process.stdout.write(`\n${line}\n`);
      if (process.env.KUBE_JOIN_SUMMARY_FILE) writeFileSync(process.env.KUBE_JOIN_SUMMARY_FILE, `${line}\n`);
    });
  }
}
module.exports = SummaryReporter;
