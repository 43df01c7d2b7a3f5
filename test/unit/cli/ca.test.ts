import assert from 'node:assert/strict';
import { formatCaStatus, rotateRequestOf } from '../../../src/cli/ca.ts';
import { ConfigError } from '../../../src/common/errors.ts';

describe('kube-join ca rotate: the request', () => {
  it('is one phase step, or a manual rotation with its grace in seconds', () => {
    assert.deepEqual(rotateRequestOf({ phase: 'init', manual: false, graceMs: 300_000 }), { phase: 'init' });
    assert.deepEqual(rotateRequestOf({ manual: true, graceMs: 90_500 }), { manual: true, graceSeconds: 91 });
    assert.deepEqual(rotateRequestOf({ manual: false, auto: true, graceMs: 6 * 3_600_000 }), { auto: true, graceSeconds: 21_600 });
  });

  const refused: [string, Parameters<typeof rotateRequestOf>[0], string][] = [
    ['both --phase and --manual', { phase: 'init', manual: true, graceMs: 0 }, 'ca rotate takes one of --phase PHASE, --manual and --auto'],
    ['both --manual and --auto', { manual: true, auto: true, graceMs: 0 }, 'ca rotate takes one of --phase PHASE, --manual and --auto'],
    ['none of them', { manual: false, graceMs: 0 }, 'ca rotate needs --phase (standby, init, update-clients, update-servers), --manual or --auto'],
    ['--auto with no time to step', { manual: false, auto: true, graceMs: 0 }, '--grace must be at least 1s with --auto'],
  ];
  for (const [what, values, message] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => rotateRequestOf(values), (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CONFIG' && err.message === message);
    });
  }
});

describe('kube-join ca: the text', () => {
  it('says the phase, the signing and serving pins, and one row per CA with its time in the bundle', () => {
    const text = formatCaStatus({
      clusterName: 'c',
      phase: 'standby',
      mode: 'phased',
      changedAt: '2026-12-01T20:00:00Z',
      signing: 'sha256:bb',
      serving: 'sha256:bb',
      bundlePins: ['sha256:bb', 'sha256:aa'],
      agents: { live: 20, joinedSinceChange: 18 },
      cas: [
        { role: 'current', subject: 'CN=b', pin: 'sha256:bb', notBefore: '2026-12-01T19:00:00Z', notAfter: '2036-12-01T19:00:00Z', inBundle: true },
        { role: 'previous', subject: 'CN=a', pin: 'sha256:aa', notBefore: '2026-01-01T00:00:00Z', notAfter: '2036-01-01T00:00:00Z', inBundle: true, retireAt: '2026-12-01T21:00:00Z' },
      ],
    });
    assert.equal(text, [
      'Cluster:        c',
      'Rotation:       standby (phased, since 2026-12-01T20:00:00Z)',
      'Signing CA:     sha256:bb',
      'Serving CA:     sha256:bb',
      'CA pins:        sha256:bb sha256:aa',
      'Agents:         18 of 20 live agents joined since this phase began',
      '',
      'Role     Subject Pin (--ca-pin) Not After (UTC)      In Bundle',
      '-------- ------- -------------- -------------------- --------------------------',
      'current  CN=b    sha256:bb      2036-12-01T19:00:00Z yes',
      'previous CN=a    sha256:aa      2036-01-01T00:00:00Z until 2026-12-01T21:00:00Z',
      '',
    ].join('\n'));
  });
});
