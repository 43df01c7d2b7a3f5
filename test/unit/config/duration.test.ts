import assert from 'node:assert/strict';
import { parseDurationMs } from '../../../src/config/duration.ts';
import { parseDurationOption, resolveOptions } from '../../../src/config/options.ts';
import { AGENT_OPTIONS } from '../../../src/agent/options.ts';
import { AUTH_OPTIONS } from '../../../src/auth/options.ts';
import { assertConfigError, TABLE } from '../../support/options.ts';

describe('durations need a unit', () => {
  it('parseDurationMs: a number from code is milliseconds; text is refused without a unit', () => {
    assert.equal(parseDurationMs(90, 'x'), 90);
    assert.throws(() => parseDurationMs('90', 'x'), { name: 'DurationUnitError', suggestion: '90s' });
  });

  it('reads 250ms, 90s, 10m, 1h30m and 1d', () => {
    assert.deepEqual(['250ms', '90s', '10m', '1h30m', '1d', '1.5s', '0'].map((d) => parseDurationOption(d, 'k', '--k')), [250, 90_000, 600_000, 5_400_000, 86_400_000, 1500, 0]);
  });

  it('refuses a bare number from a flag, the environment or the config file, suggesting seconds', () => {
    assertConfigError(() => resolveOptions(TABLE, { flags: { renewBefore: '90' } }), 'renewBefore', '--renew-before must be a duration with a unit, such as 90s (got "90")');
    assertConfigError(() => resolveOptions(TABLE, { env: { KUBE_JOIN_RENEW_BEFORE: '1.5' } }), 'renewBefore', 'KUBE_JOIN_RENEW_BEFORE must be a duration with a unit, such as 1.5s (got "1.5")');
    assertConfigError(() => resolveOptions(TABLE, { file: { renewBefore: 90 } }), 'renewBefore', 'config file key "renewBefore" must be a duration with a unit, such as 90s (got 90)');
  });

  it('refuses what is no duration at all', () => {
    for (const bad of ['soon', '10 m', '-5s', '5x', '']) assertConfigError(() => resolveOptions(TABLE, { flags: { renewBefore: bad } }), 'renewBefore', `--renew-before must be a duration like 30s, 10m or 1h (got ${JSON.stringify(bad)})`);
    assertConfigError(() => resolveOptions(TABLE, { file: { renewBefore: ['1s'] } }), 'renewBefore', 'config file key "renewBefore" must be a duration like 30s, 10m or 1h (got ["1s"])');
  });

  it('holds for every duration option of the agent and the auth service; numbers stay numbers elsewhere', () => {
    const durations = [...AGENT_OPTIONS, ...AUTH_OPTIONS].filter((o) => o.kind === 'duration');
    assert.ok(durations.length >= 12, `${durations.length} duration options`);
    for (const spec of durations) assertConfigError(() => resolveOptions([spec], { flags: { [spec.key]: '90' } }), spec.key, `--${spec.flag} must be a duration with a unit, such as 90s (got "90")`);
    assert.equal(resolveOptions(AUTH_OPTIONS, { flags: { maxConcurrentReviews: '8' } }).maxConcurrentReviews, 8);
    assert.equal(resolveOptions(AGENT_OPTIONS, { flags: { renewFraction: '0.4' } }).renewFraction, 0.4);
  });
});
