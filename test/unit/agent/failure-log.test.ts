import assert from 'node:assert/strict';
import { createFailureLog, FAILURE_SUMMARY_INTERVAL_MS } from '../../../src/agent/failure-log.ts';

describe('failure log', () => {
  const T0 = Date.UTC(2026, 11, 1, 12);

  it('logs a reason when it first appears, then once per interval while it lasts, with the count and start', () => {
    const log = createFailureLog();
    assert.deepEqual(log.record('ERR_TOKEN_READ:missing', T0), { kind: 'first' });
    assert.deepEqual(log.record('ERR_TOKEN_READ:missing', T0 + 1_000), { kind: 'quiet' });
    assert.deepEqual(log.record('ERR_TOKEN_READ:missing', T0 + FAILURE_SUMMARY_INTERVAL_MS - 1), { kind: 'quiet' });
    assert.deepEqual(log.record('ERR_TOKEN_READ:missing', T0 + FAILURE_SUMMARY_INTERVAL_MS), { kind: 'summary', failures: 4, since: T0 });
    assert.deepEqual(log.record('ERR_TOKEN_READ:missing', T0 + FAILURE_SUMMARY_INTERVAL_MS + 1), { kind: 'quiet' });
    assert.deepEqual(log.record('ERR_TOKEN_READ:missing', T0 + 2 * FAILURE_SUMMARY_INTERVAL_MS), { kind: 'summary', failures: 6, since: T0 });
  });

  it('treats a new reason as a first appearance, and starts over after a success', () => {
    const log = createFailureLog(10);
    assert.equal(log.record('a', T0).kind, 'first');
    assert.equal(log.record('b', T0 + 1).kind, 'first');
    assert.equal(log.record('b', T0 + 2).kind, 'quiet');
    log.reset();
    assert.equal(log.record('b', T0 + 3).kind, 'first');
  });

  it('keeps a ten-minute outage with a 1 s back-off to a handful of lines', () => {
    const log = createFailureLog();
    let logged = 0;
    for (let t = 0; t <= 600_000; t += 1_000) if (log.record('ERR_AUTH_UNAVAILABLE:refused', T0 + t).kind !== 'quiet') logged++;
    assert.equal(logged, 11);
  });
});
