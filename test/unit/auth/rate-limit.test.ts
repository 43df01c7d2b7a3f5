import assert from 'node:assert/strict';
import { createJoinRateLimiter } from '../../../src/auth/rate-limit.ts';

describe('createJoinRateLimiter', () => {
  let now = 0;
  const make = (maxSources?: number) => createJoinRateLimiter({ perSource: { perSecond: 2, burst: 4 }, global: { perSecond: 5, burst: 6 }, now: () => now, ...(maxSources ? { maxSources } : {}) });
  beforeEach(() => {
    now = 1_000_000;
  });

  it('admits a burst from one source, then says when to come back', () => {
    const limiter = make();
    for (let i = 0; i < 4; i++) assert.deepEqual(limiter.admit('10.0.0.1'), { ok: true });
    assert.deepEqual(limiter.admit('10.0.0.1'), { ok: false, retryAfterMs: 500 });
    now += 500;
    assert.deepEqual(limiter.admit('10.0.0.1'), { ok: true });
  });

  it('keeps one noisy source from using up the others\' share, up to the global cap', () => {
    const limiter = make();
    for (let i = 0; i < 4; i++) limiter.admit('noisy');
    assert.equal(limiter.admit('noisy').ok, false);
    assert.deepEqual(limiter.admit('quiet-1'), { ok: true });
    assert.deepEqual(limiter.admit('quiet-2'), { ok: true });
    // The global bucket (burst 6) is now empty: everyone waits 200 ms (1 / 5 per second).
    assert.deepEqual(limiter.admit('quiet-3'), { ok: false, retryAfterMs: 200 });
  });

  it('does not charge a source for a request the global cap refused', () => {
    const limiter = make();
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f']) limiter.admit(s);
    assert.equal(limiter.admit('g').ok, false);
    now += 200;
    assert.deepEqual(limiter.admit('g'), { ok: true });
  });

  it('bounds the memory of sources', () => {
    const limiter = make(3);
    for (const s of ['a', 'b', 'c', 'd', 'e']) {
      now += 10_000;
      assert.deepEqual(limiter.admit(s), { ok: true });
    }
  });
});
