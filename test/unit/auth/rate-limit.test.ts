import assert from 'node:assert/strict';
import { createJoinRateLimiter, joinKindOf } from '../../../src/auth/rate-limit.ts';

describe('createJoinRateLimiter', () => {
  let now = 0;
  let draws: number[] = [];
  const make = (options: { maxSources?: number; spreadMs?: number; reserve?: number } = {}) =>
    createJoinRateLimiter({
      perSource: { perSecond: 2, burst: 4 },
      global: { perSecond: 5, burst: 6 },
      renewalReserve: options.reserve ?? 0,
      retryAfterSpreadMs: options.spreadMs ?? 0,
      now: () => now,
      random: () => draws.shift() ?? 0,
      ...(options.maxSources ? { maxSources: options.maxSources } : {}),
    });
  beforeEach(() => {
    now = 1_000_000;
    draws = [];
  });

  it('admits a burst from one source, then says when to come back', () => {
    const limiter = make();
    for (let i = 0; i < 4; i++) assert.deepEqual(limiter.admit('10.0.0.1', 'join'), { ok: true });
    assert.deepEqual(limiter.admit('10.0.0.1', 'join'), { ok: false, retryAfterMs: 500 });
    now += 500;
    assert.deepEqual(limiter.admit('10.0.0.1', 'join'), { ok: true });
  });

  it('keeps one noisy source from using up the others\' share, up to the global cap', () => {
    const limiter = make();
    for (let i = 0; i < 4; i++) limiter.admit('noisy', 'join');
    assert.equal(limiter.admit('noisy', 'join').ok, false);
    assert.deepEqual(limiter.admit('quiet-1', 'join'), { ok: true });
    assert.deepEqual(limiter.admit('quiet-2', 'join'), { ok: true });
    // The global bucket (burst 6) is now empty: everyone waits 200 ms (1 / 5 per second).
    assert.deepEqual(limiter.admit('quiet-3', 'join'), { ok: false, retryAfterMs: 200 });
  });

  it('does not charge a source for a request the global cap refused', () => {
    const limiter = make();
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f']) limiter.admit(s, 'join');
    assert.equal(limiter.admit('g', 'join').ok, false);
    now += 200;
    assert.deepEqual(limiter.admit('g', 'join'), { ok: true });
  });

  it('spreads the Retry-After of the refused over the window with the injected draws', () => {
    const limiter = make({ spreadMs: 10_000 });
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f']) limiter.admit(s, 'join');
    draws = [0, 0.5, 0.9999];
    // Each waits 200 ms for a token, plus its draw of the 10 s window.
    assert.deepEqual(['g', 'h', 'i'].map((s) => limiter.admit(s, 'join')), [
      { ok: false, retryAfterMs: 200 },
      { ok: false, retryAfterMs: 5200 },
      { ok: false, retryAfterMs: 10_199 },
    ]);
  });

  it('refuses early renewals first: the reserve is kept for first joins and renewals close to expiry', () => {
    // Reserve 0.5 of the burst of 6: an early renewal needs 1 + 3 tokens left, the others 1.
    const limiter = make({ reserve: 0.5 });
    assert.deepEqual(['r1', 'r2', 'r3'].map((s) => limiter.admit(s, 'renewal-early').ok), [true, true, true]);
    // 3 tokens left: not enough for an early renewal (it would wait for 1 more: 200 ms)...
    assert.deepEqual(limiter.admit('r4', 'renewal-early'), { ok: false, retryAfterMs: 200 });
    // ...while a first join and a due renewal still get theirs, down to the last token.
    assert.deepEqual(['j1', 'd1', 'j2'].map((s) => limiter.admit(s, s.startsWith('j') ? 'join' : 'renewal-due').ok), [true, true, true]);
    assert.equal(limiter.admit('j3', 'join').ok, false);
    // The empty bucket puts an early renewal 4 tokens (800 ms) away, a first join 1 (200 ms).
    assert.deepEqual(limiter.admit('r5', 'renewal-early'), { ok: false, retryAfterMs: 800 });
    assert.deepEqual(limiter.admit('j4', 'join'), { ok: false, retryAfterMs: 200 });
  });

  it('keeps a full bucket open to an early renewal, however small the burst', () => {
    const limiter = createJoinRateLimiter({ perSource: { perSecond: 2, burst: 4 }, global: { perSecond: 5, burst: 1 }, renewalReserve: 0.5, retryAfterSpreadMs: 0, now: () => now, random: () => 0 });
    assert.deepEqual(limiter.admit('r1', 'renewal-early'), { ok: true });
    assert.deepEqual(limiter.admit('r2', 'renewal-early'), { ok: false, retryAfterMs: 200 });
    now += 200;
    assert.deepEqual(limiter.admit('r2', 'renewal-early'), { ok: true });
  });

  it('bounds the memory of sources', () => {
    const limiter = make({ maxSources: 3 });
    for (const s of ['a', 'b', 'c', 'd', 'e']) {
      now += 10_000;
      assert.deepEqual(limiter.admit(s, 'join'), { ok: true });
    }
  });
});

describe('joinKindOf', () => {
  const hour = 3_600_000;
  it('is a first join without a certificate, an early renewal with more than a third of its life left, else due', () => {
    assert.equal(joinKindOf(undefined, 0), 'join');
    assert.equal(joinKindOf({ notBefore: 0, notAfter: hour }, hour / 2), 'renewal-early');
    assert.equal(joinKindOf({ notBefore: 0, notAfter: hour }, (2 * hour) / 3 - 1), 'renewal-early');
    assert.equal(joinKindOf({ notBefore: 0, notAfter: hour }, (2 * hour) / 3 + 1), 'renewal-due');
    assert.equal(joinKindOf({ notBefore: 0, notAfter: hour }, hour + 1), 'renewal-due');
  });
});
