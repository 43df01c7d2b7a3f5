import assert from 'node:assert/strict';
import { planRetry, stepFor, AGENT_STEPS, TOKEN_READ_STEPS } from '../../../src/agent/retry-policy.ts';
import { AuthIdentityError, AuthUnavailableError, CertWriteError, JoinRejectedError, OnceFailedError, TokenReadError, TlsVerifyError } from '../../../src/agent/errors.ts';
import { PROBLEM_CODES, PROBLEM_DISPOSITIONS } from '../../../src/protocol/index.ts';

const ctx = { attempt: 1, rand: 0.5, backoff: { baseMs: 1000, capMs: 120_000 }, now: 0, deadline: undefined, stopOnExpiry: false };

describe('retry policy: one table, one decision', () => {
  it('decides every problem code and every agent code (the tables are complete)', () => {
    assert.deepEqual(Object.keys(PROBLEM_DISPOSITIONS).sort(), [...PROBLEM_CODES].sort());
    assert.deepEqual(Object.keys(TOKEN_READ_STEPS).sort(), ['empty', 'missing', 'not_a_jwt', 'too_large', 'unreadable']);
    assert.equal(AGENT_STEPS.ERR_AUTH_IDENTITY, 'final');
    assert.equal(AGENT_STEPS.ERR_CERT_EXPIRED, 'exit');
  });

  for (const [what, err, step] of [
    ['a transient rejection (rate_limited)', new JoinRejectedError('rate_limited', 429, 'slow down'), 'retry'],
    ['storage trouble on the auth side', new JoinRejectedError('storage_unavailable', 503, 'x'), 'retry'],
    ['a rejection of the token (service_account_not_allowed)', new JoinRejectedError('service_account_not_allowed', 403, 'x'), 'final'],
    ['a host ID that is not the pod', new JoinRejectedError('host_id_mismatch', 403, 'x'), 'final'],
    ['a token file not mounted yet', new TokenReadError('/t', 'missing'), 'retry'],
    ['an empty token file', new TokenReadError('/t', 'empty'), 'retry'],
    ['a token file that is not a JWT', new TokenReadError('/t', 'not_a_jwt'), 'final'],
    ['an unreachable auth service', new AuthUnavailableError('down'), 'retry'],
    ['a server that is not the auth service', new AuthIdentityError('https://x', 'no'), 'final'],
    ['a server that does not verify', new TlsVerifyError('https://x', 'CERT_HAS_EXPIRED'), 'final'],
    ['a full disk', new CertWriteError('/out', new Error('ENOSPC')), 'retry'],
    ['the end of --once', new OnceFailedError('x', undefined), 'exit'],
    ['an error nobody foresaw', new TypeError('boom'), 'retry'],
  ] as const) {
    it(`${what}: ${step}`, () => assert.equal(stepFor(err), step));
  }

  it('waits the jittered back-off after a retry, at least Retry-After, and the cap after a final error', () => {
    assert.deepEqual(planRetry(new AuthUnavailableError('down'), ctx), { step: 'retry', retry: true, delayMs: 550 });
    // Retry-After 5 s, plus the draw (0.5) within its second.
    assert.deepEqual(planRetry(new JoinRejectedError('rate_limited', 429, 'x', 5000), ctx), { step: 'retry', retry: true, delayMs: 5500 });
    assert.deepEqual(planRetry(new JoinRejectedError('token_expired', 401, 'x'), ctx), { step: 'final', retry: true, delayMs: 120_000 });
  });

  it('spreads agents told the same Retry-After over its second, and never waits past the cap', () => {
    const told = new JoinRejectedError('rate_limited', 429, 'x', 3000);
    assert.deepEqual([0, 0.25, 0.999].map((rand) => planRetry(told, { ...ctx, rand }).delayMs), [3000, 3250, 3999]);
    assert.equal(planRetry(new JoinRejectedError('rate_limited', 429, 'x', 600_000), ctx).delayMs, 120_000);
  });

  it('with --once: gives up on a final error, and on a retry that would start past the deadline', () => {
    assert.equal(planRetry(new JoinRejectedError('token_expired', 401, 'x'), { ...ctx, deadline: 10_000 }).retry, false);
    assert.equal(planRetry(new AuthUnavailableError('down'), { ...ctx, now: 9_000, deadline: 10_000 }).retry, true);
    assert.equal(planRetry(new AuthUnavailableError('down'), { ...ctx, now: 9_500, deadline: 10_000 }).retry, false);
  });

  it('stops with --exit-on-expiry once the held certificate has expired', () => {
    assert.equal(planRetry(new AuthUnavailableError('down'), { ...ctx, stopOnExpiry: true }).retry, false);
  });
});
