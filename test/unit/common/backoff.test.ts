import assert from 'node:assert/strict';
import { retryDelayMs } from '../../../src/common/backoff.ts';

const policy = { baseMs: 1000, capMs: 120_000 };

describe('retryDelayMs', () => {
  it('draws the first retry from [base/10, base]', () => {
    assert.equal(retryDelayMs(1, 0, policy), 100);
    assert.equal(retryDelayMs(1, 0.999999, policy), 1000);
  });
  it('doubles the ceiling per attempt', () => {
    assert.equal(retryDelayMs(2, 0.999999, policy), 2000);
    assert.equal(retryDelayMs(5, 0.999999, policy), 16_000);
  });
  it('never exceeds the cap, even after many attempts', () => {
    for (const attempt of [8, 20, 100, 10_000]) assert.equal(retryDelayMs(attempt, 0.999999, policy), 120_000);
  });
  it('spreads draws uniformly between floor and ceiling (full jitter)', () => {
    assert.equal(retryDelayMs(3, 0.5, policy), Math.round(100 + (4000 - 100) / 2));
  });
  it('honours Retry-After as a minimum, but not past the cap', () => {
    assert.equal(retryDelayMs(1, 0, policy, 30_000), 30_000);
    assert.equal(retryDelayMs(1, 0, policy, 3_600_000), 120_000);
  });
});
