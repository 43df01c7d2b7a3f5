import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { AuthUnavailableError, CertExpiredError, JoinRejectedError, OnceFailedError, TokenReadError, logFieldsOf } from '../../../src/agent/errors.ts';
import { createLogger } from '../../../src/common/logger.ts';

describe('agent errors: logFieldsOf keeps ERR_* codes in `code` and problem codes in `reason`', () => {
  const rejected = new JoinRejectedError('token_not_found', 401, 'provision token "nope" not found');

  const cases: { title: string; err: unknown; fields: Record<string, unknown> }[] = [
    {
      title: 'a refused join: code ERR_JOIN_REJECTED, reason the problem code the auth service answered',
      err: rejected,
      fields: { code: 'ERR_JOIN_REJECTED', reason: 'token_not_found', error: 'join rejected (401 token_not_found): provision token "nope" not found' },
    },
    {
      title: '--once failing on a refusal: code ERR_ONCE_FAILED, reason from the refusal it wraps',
      err: new OnceFailedError('join failed: join rejected (401 token_not_found): provision token "nope" not found', rejected),
      fields: { code: 'ERR_ONCE_FAILED', reason: 'token_not_found', error: 'join failed: join rejected (401 token_not_found): provision token "nope" not found' },
    },
    {
      title: 'expiry after refusals two causes deep still carries the reason',
      err: new CertExpiredError(new Date('2026-12-01T20:00:00.000Z'), new OnceFailedError('x', new JoinRejectedError('roles_not_allowed', 403, 'Admin'))),
      fields: { code: 'ERR_CERT_EXPIRED', reason: 'roles_not_allowed', error: 'certificate expired at 2026-12-01T20:00:00.000Z and renewal keeps failing' },
    },
    {
      title: 'an unreachable auth service has no reason field at all',
      err: new CertExpiredError(new Date('2026-12-01T20:00:00.000Z'), new AuthUnavailableError('connect ECONNREFUSED 127.0.0.1:3025')),
      fields: { code: 'ERR_CERT_EXPIRED', error: 'certificate expired at 2026-12-01T20:00:00.000Z and renewal keeps failing' },
    },
    {
      title: 'a token file problem: its own `reason` property (missing) is not a problem code and is not logged as one',
      err: new TokenReadError('/var/run/secrets/tokens/kube-join', 'missing'),
      fields: { code: 'ERR_TOKEN_READ', error: 'ServiceAccount token file /var/run/secrets/tokens/kube-join does not exist (is the projected ServiceAccount token volume mounted?)' },
    },
    {
      title: 'an error kube-join did not raise on purpose is ERR_UNEXPECTED',
      err: new TypeError('cannot read properties of undefined'),
      fields: { code: 'ERR_UNEXPECTED', error: 'cannot read properties of undefined' },
    },
    {
      title: 'a thrown string is ERR_UNEXPECTED with the string',
      err: 'boom',
      fields: { code: 'ERR_UNEXPECTED', error: 'boom' },
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const fields = logFieldsOf(c.err);
      assert.deepEqual(fields, c.fields);
      assert.deepEqual(Object.keys(fields), Object.keys(c.fields), 'code, reason, error in this order');
    });
  }

  it('a cause cycle ends the search instead of looping', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    assert.deepEqual(logFieldsOf(b), { code: 'ERR_UNEXPECTED', error: 'b' });
  });

  it('spreads into a log line as code, reason, error, then the call site\'s fields', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    createLogger({ level: 'info', component: 'agent', destination: out }).warn('join attempt failed', { ...logFieldsOf(rejected), attempt: 3, retryInMs: 120000 });
    await new Promise((resolve) => setImmediate(resolve));
    const line = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(line), ['time', 'level', 'msg', 'component', 'code', 'reason', 'error', 'attempt', 'retryInMs']);
    assert.deepEqual({ ...line, time: 'T' }, { time: 'T', level: 'warn', msg: 'join attempt failed', component: 'agent', code: 'ERR_JOIN_REJECTED', reason: 'token_not_found', error: 'join rejected (401 token_not_found): provision token "nope" not found', attempt: 3, retryInMs: 120000 });
  });
});
