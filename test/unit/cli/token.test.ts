import assert from 'node:assert/strict';
import { expiryWarning, formatRemaining, tokenFileArgument, tokenNameArgument } from '../../../src/cli/token.ts';
import { ConfigError } from '../../../src/common/errors.ts';

const usage = (message: string) => (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CONFIG' && err.message === message;

describe('token command arguments', () => {
  it('takes a token as NAME or token/NAME, like tctl get token/NAME', () => {
    assert.equal(tokenNameArgument('kube-token'), 'kube-token');
    assert.equal(tokenNameArgument('token/kube-token'), 'kube-token');
    assert.throws(() => tokenNameArgument('role/kube-token'), usage('the token must be given as NAME or token/NAME (got "role/kube-token")'));
    assert.throws(() => tokenNameArgument('token/'), usage('the token must be given as NAME or token/NAME (got "token/")'));
  });

  it('takes the token file as FILE or -f FILE, exactly one of them', () => {
    assert.equal(tokenFileArgument('a.yaml', undefined), 'a.yaml');
    assert.equal(tokenFileArgument(undefined, '-'), '-');
    assert.throws(() => tokenFileArgument('a.yaml', 'b.yaml'), usage('token create takes the token file once: give FILE or -f FILE, not both (got "a.yaml" and -f "b.yaml")'));
    assert.throws(() => tokenFileArgument(undefined, undefined), usage('token create needs the token file: give FILE or -f FILE ("-" for standard input)'));
  });
});

describe('token create expiry warning', () => {
  const NOW = Date.UTC(2026, 11, 1, 19, 30, 0);
  it('formats the time left to the minute, to the second under one', () => {
    assert.deepEqual([29 * 60_000 + 59_900, 60 * 60_000, 23 * 3_600_000 + 59 * 60_000 + 10_000, 45_000, 59_400, 90 * 60_000].map(formatRemaining), ['30m', '1h', '23h59m', '45s', '59s', '1h30m']);
  });

  it('warns about a token that expires within 24 hours, with its expiry, and not about a longer one', () => {
    assert.equal(expiryWarning('kube-token', '2026-12-01T20:00:00Z', NOW + 100), 'warning: provision token "kube-token" expires in 30m (2026-12-01T20:00:00Z); agents that have not joined by then cannot join');
    assert.equal(expiryWarning('kube-token', '2026-12-02T19:29:00.000Z', NOW), 'warning: provision token "kube-token" expires in 23h59m (2026-12-02T19:29:00Z); agents that have not joined by then cannot join');
    assert.equal(expiryWarning('kube-token', '2026-12-02T19:30:00Z', NOW), undefined);
    assert.equal(expiryWarning('old', '2026-01-01T00:00:00Z', NOW), 'warning: provision token "old" has already expired (2026-01-01T00:00:00Z); no agent can join with it');
  });
});
