import assert from 'node:assert/strict';
import { resolveAgentConfig } from '../../../src/agent/config.ts';
import { LEGACY_TOKEN_PATH, PROJECTED_TOKEN_PATH } from '../../../src/agent/options.ts';
import { assertConfigError } from '../../support/options.ts';

const PIN = `sha256:${'ab'.repeat(32)}`;
const minimal = { authAddr: 'auth.example:3025', tokenName: 'kube-token', caPin: PIN };
const resolve = (flags: Record<string, unknown>, env: Record<string, string> = {}, file?: Record<string, unknown>, projectedExists = false) =>
  resolveAgentConfig({ flags, env, ...(file ? { file } : {}) }, { fileExists: (p) => projectedExists && p === PROJECTED_TOKEN_PATH });

describe('resolveAgentConfig', () => {
  it('applies the documented defaults', () => {
    const c = resolve(minimal);
    assert.deepEqual(c.authAddr, { host: 'auth.example', port: 3025 });
    assert.equal(c.outDir, '/var/run/kube-join');
    assert.equal(c.keyAlgorithm, 'ecdsa-p256');
    assert.deepEqual(c.renewal, { fraction: 0.5, jitter: 0.1, renewBeforeMs: 600_000 });
    assert.deepEqual(c.backoff, { baseMs: 1000, capMs: 120_000 });
    assert.deepEqual(c.health, { host: '0.0.0.0', port: 8087 });
    assert.equal(c.clusterName, 'kube-join');
    assert.deepEqual(c.trust, { kind: 'ca-pin', pins: [PIN] });
    assert.equal(c.once, false);
  });

  it('takes flags over environment over config file over defaults', () => {
    const file = { ...minimal, outDir: '/from/file', logLevel: 'warn', renewBefore: '5m' };
    const env = { KUBE_JOIN_OUT_DIR: '/from/env', KUBE_JOIN_LOG_LEVEL: 'debug' };
    const c = resolve({ outDir: '/from/flag' }, env, file);
    assert.equal(c.outDir, '/from/flag');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.renewal.renewBeforeMs, 300_000);
  });

  it('rejects an unknown config file key instead of silently using a default', () => {
    assertConfigError(() => resolve({}, {}, { ...minimal, renewBefor: '5m' }), 'renewBefor', /^unknown config file key "renewBefor"/);
  });

  it('reads the token path from --token-path, then KUBERNETES_TOKEN_PATH, then the projected path, then the legacy one', () => {
    assert.deepEqual(resolve({ ...minimal, tokenPath: '/flag' }, { KUBERNETES_TOKEN_PATH: '/env' }).tokenPaths, ['/flag']);
    assert.deepEqual(resolve(minimal, { KUBERNETES_TOKEN_PATH: '/env' }).tokenPaths, ['/env']);
    assert.deepEqual(resolve(minimal, {}, undefined, true).tokenPaths, [PROJECTED_TOKEN_PATH, LEGACY_TOKEN_PATH]);
    assert.deepEqual(resolve(minimal).tokenPaths, [LEGACY_TOKEN_PATH, PROJECTED_TOKEN_PATH]);
  });

  it('requires a way to verify the auth service', () => {
    assertConfigError(() => resolve({ authAddr: 'a:1', tokenName: 't' }), 'caFile', 'the auth service must be verified: give --ca-file or --ca-pin (--insecure exists for development only)');
    assertConfigError(() => resolve({ ...minimal, insecure: true }), 'caFile', 'give only one of --ca-file, --ca-pin and --insecure');
  });

  it('names the option of each bad value', () => {
    assertConfigError(() => resolve({ ...minimal, authAddr: undefined }), 'authAddr', '--auth-addr (or KUBE_JOIN_AUTH_ADDR) is required');
    assertConfigError(() => resolve({ ...minimal, authAddr: 'no-port' }), 'authAddr', '--auth-addr must be host:port (got "no-port")');
    assertConfigError(() => resolve({ ...minimal, caPin: 'sha256:1234' }), 'caPin', '--ca-pin must be sha256:<64 hex digits> (got "sha256:1234")');
    assertConfigError(() => resolve({ ...minimal, renewFraction: '1.5' }), 'renewFraction', '--renew-fraction must be between 0 and 1, exclusive (got 1.5)');
    assertConfigError(() => resolve(minimal, { KUBE_JOIN_RENEW_BEFORE: 'soon' }), 'renewBefore', 'KUBE_JOIN_RENEW_BEFORE must be a duration like 30s, 10m or 1h (got "soon")');
    assertConfigError(() => resolve({ ...minimal, renewBefore: '90' }), 'renewBefore', '--renew-before must be a duration with a unit, such as 90s (got "90")');
    assertConfigError(() => resolve({}, {}, { ...minimal, ttl: 3600 }), 'ttl', 'config file key "ttl" must be a duration with a unit, such as 3600s (got 3600)');
    assertConfigError(() => resolve({ ...minimal, keyAlgorithm: 'dsa' }), 'keyAlgorithm', '--key-algorithm must be one of ecdsa-p256, rsa-2048, rsa-3072 (got "dsa")');
    assertConfigError(() => resolve({ ...minimal, notifySignal: 'SIGHUP' }), 'notifySignal', '--notify-signal goes with --pid-file or --notify-process');
    assertConfigError(() => resolve({ ...minimal, notifyProcess: 'nginx' }), 'notifySignal', '--notify-signal goes with --pid-file or --notify-process');
    assertConfigError(() => resolve({ ...minimal, notifySignal: 'SIGHUP', notifyProcess: 'nginx', pidFile: '/run/nginx.pid' }), 'notifyProcess', '--pid-file and --notify-process are two ways to find the app: give one');
    assertConfigError(() => resolve({ ...minimal, apps: ['grafana'] }), 'apps', '"apps" entries must be name=uri with a DNS-1123 name (got "grafana")');
    assertConfigError(() => resolve({ ...minimal, retryBase: '10s', retryCap: '1s' }), 'retryCap', '--retry-cap (1000 ms) must not be below --retry-base (10000 ms)');
  });

  it('parses repeated --app and --roles, and booleans from the environment', () => {
    const c = resolve({ ...minimal, apps: ['grafana=http://localhost:3000', 'api=tcp://localhost:8080'], roles: ['App,Db'] }, { KUBE_JOIN_ONCE: 'true', KUBE_JOIN_BUNDLE: '0' });
    assert.deepEqual(c.apps, [{ name: 'grafana', uri: 'http://localhost:3000' }, { name: 'api', uri: 'tcp://localhost:8080' }]);
    assert.deepEqual(c.roles, ['App', 'Db']);
    assert.equal(c.once, true);
    assert.equal(c.writeBundle, false);
  });

  it('turns the health server off with "off"', () => {
    assert.equal(resolve({ ...minimal, healthAddr: 'off' }).health, undefined);
  });
});
