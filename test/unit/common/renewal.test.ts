import assert from 'node:assert/strict';
import { renewAt, isExpired } from '../../../src/common/renewal.ts';

const H = 3_600_000;
const M = 60_000;
const policy = { fraction: 0.5, jitter: 0.1, renewBeforeMs: 10 * M };

describe('renewAt', () => {
  const oneHour = { notBefore: 0, notAfter: H };

  it('renews at half the lifetime when the draw is in the middle', () => {
    assert.equal(renewAt(oneHour, 0.5, policy), 30 * M);
  });
  it('moves the point by at most ±10% of itself at the extremes of the draw', () => {
    assert.equal(renewAt(oneHour, 0, policy), 27 * M);
    assert.equal(renewAt(oneHour, 1, policy), 33 * M);
  });
  it('uses the actual lifetime, not a nominal one', () => {
    assert.equal(renewAt({ notBefore: 1000, notAfter: 1000 + 2 * H }, 0.5, { ...policy, renewBeforeMs: 0 }), 1000 + H);
  });
  it('lets the absolute floor win when it is earlier than the fraction', () => {
    assert.equal(renewAt(oneHour, 0.5, { ...policy, fraction: 0.95, jitter: 0 }), 50 * M);
  });
  it('ignores a floor longer than the lifetime (it cannot be honoured) and keeps the fraction', () => {
    assert.equal(renewAt({ notBefore: 0, notAfter: 30_000 }, 0.5, policy), 15_000);
  });
  it('never schedules outside the certificate lifetime, whatever the jitter', () => {
    for (const rand of [0, 0.25, 0.5, 0.75, 0.999]) {
      const at = renewAt(oneHour, rand, { fraction: 0.9, jitter: 0.5, renewBeforeMs: 0 });
      assert.ok(at >= 0 && at <= H, `rand ${rand} gave ${at}`);
    }
  });
});

describe('isExpired', () => {
  it('is true from notAfter on', () => {
    assert.equal(isExpired({ notBefore: 0, notAfter: 10 }, 9), false);
    assert.equal(isExpired({ notBefore: 0, notAfter: 10 }, 10), true);
  });
});
