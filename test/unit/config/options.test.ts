import assert from 'node:assert/strict';
import { envNameOf, resolveOptions, type OptionSpec } from '../../../src/config/options.ts';
import { assertConfigError, TABLE } from '../../support/options.ts';

describe('option engine (resolveOptions)', () => {
  it('applies the defaults, durations in milliseconds, and leaves options without one undefined', () => {
    assert.deepEqual(resolveOptions(TABLE, {}), { outDir: '/default', tokenPath: undefined, group: undefined, fraction: 0.5, once: false, renewBefore: 600_000, roles: undefined, format: 'text' });
  });

  it('takes a flag over KUBE_JOIN_<KEY> over the config file over the default, option by option', () => {
    const sources = { flags: { outDir: '/flag' }, env: { KUBE_JOIN_OUT_DIR: '/env', KUBE_JOIN_RENEW_BEFORE: '5m' }, file: { outDir: '/file', renewBefore: '1m', fraction: 0.25 } };
    const v = resolveOptions(TABLE, sources);
    assert.equal(v.outDir, '/flag');
    assert.equal(v.renewBefore, 300_000);
    assert.equal(v.fraction, 0.25);
  });

  it('reads extra environment variables after KUBE_JOIN_<KEY>', () => {
    assert.equal(resolveOptions(TABLE, { env: { KUBERNETES_TOKEN_PATH: '/k8s' } }).tokenPath, '/k8s');
    assert.equal(resolveOptions(TABLE, { env: { KUBERNETES_TOKEN_PATH: '/k8s', KUBE_JOIN_TOKEN_PATH: '/kj' } }).tokenPath, '/kj');
  });

  it('coerces text from the command line and the environment', () => {
    const v = resolveOptions(TABLE, { flags: { group: '1000', roles: ['App,Db', ' Web '] }, env: { KUBE_JOIN_FRACTION: '0.75', KUBE_JOIN_ONCE: '1' } });
    assert.equal(v.group, 1000);
    assert.equal(v.fraction, 0.75);
    assert.equal(v.once, true);
    assert.deepEqual(v.roles, ['App', 'Db', 'Web']);
    assert.deepEqual(['true', '1', 'false', '0', ''].map((b) => resolveOptions(TABLE, { env: { KUBE_JOIN_ONCE: b } }).once), [true, true, false, false, false]);
    assert.deepEqual(resolveOptions(TABLE, { file: { roles: 'App, Db' } }).roles, ['App', 'Db']);
  });

  it('keeps typed values from a config file', () => {
    const v = resolveOptions(TABLE, { file: { group: 7, once: true, roles: ['App'] } });
    assert.deepEqual([v.group, v.once, v.roles], [7, true, ['App']]);
  });

  it('refuses an unknown config file key, listing the known ones', () => {
    assertConfigError(() => resolveOptions(TABLE, { file: { outdir: '/x' } }), 'outdir', `unknown config file key "outdir" (known: ${TABLE.map((o) => o.key).join(', ')})`);
  });

  it('names the source of a bad value: the flag, the environment variable or the config file key', () => {
    assertConfigError(() => resolveOptions(TABLE, { flags: { group: '1.5' } }), 'group', '--group must be an integer (got "1.5")');
    assertConfigError(() => resolveOptions(TABLE, { env: { KUBE_JOIN_FRACTION: 'half' } }), 'fraction', 'KUBE_JOIN_FRACTION must be a number (got "half")');
    assertConfigError(() => resolveOptions(TABLE, { env: { KUBERNETES_TOKEN_PATH: undefined }, file: { tokenPath: 7 } }), 'tokenPath', 'config file key "tokenPath" must be a string (got 7)');
    assertConfigError(() => resolveOptions(TABLE, { file: { once: 'yes' } }), 'once', 'config file key "once" must be true or false (got "yes")');
    assertConfigError(() => resolveOptions(TABLE, { file: { roles: [1] } }), 'roles', 'config file key "roles" must be a list of strings (got [1])');
    assertConfigError(() => resolveOptions(TABLE, { flags: { format: 'xml' } }), 'format', '--format must be one of text, json (got "xml")');
  });

  it('names the environment variable it read, extra ones included', () => {
    assertConfigError(() => resolveOptions([{ key: 'group', flag: 'group', kind: 'int', extraEnv: ['GID'], help: '' }], { env: { GID: 'x' } }), 'group', 'GID must be an integer (got "x")');
    assert.equal(envNameOf('maxAgentsPerServiceAccount'), 'KUBE_JOIN_MAX_AGENTS_PER_SERVICE_ACCOUNT');
  });
});
