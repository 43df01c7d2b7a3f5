import assert from 'node:assert/strict';
import { ADMIN_LISTING_OPTIONS, ADMIN_OPTIONS, resolveAdminConfig } from '../../../src/cli/admin-options.ts';
import { ConfigError } from '../../../src/common/errors.ts';
import { AUTH_OPTIONS } from '../../../src/auth/options.ts';
import { resolveAuthConfig } from '../../../src/auth/config.ts';
import { DEFAULT_STATE_DIR } from '../../../src/protocol/index.ts';

describe('admin command options (resolveAdminConfig)', () => {
  it('finds the address file and the admin identity in the default state directory, the one the auth service writes', () => {
    const c = resolveAdminConfig({ flags: {}, env: {} });
    assert.deepEqual(c, { stateDir: '/var/lib/kube-join', authAddr: undefined, addressFile: '/var/lib/kube-join/auth.addr', identityDir: '/var/lib/kube-join/admin', format: 'text' });
    assert.equal(AUTH_OPTIONS.find((o) => o.key === 'stateDir')?.default, DEFAULT_STATE_DIR);
    assert.equal(resolveAuthConfig({ flags: {}, env: {} }).stateDir, DEFAULT_STATE_DIR);
  });

  it('takes flags over KUBE_JOIN_STATE_DIR, KUBE_JOIN_AUTH_ADDR and KUBE_JOIN_IDENTITY, and those over the defaults', () => {
    const env = { KUBE_JOIN_STATE_DIR: '/env/state', KUBE_JOIN_AUTH_ADDR: 'env.example:1', KUBE_JOIN_IDENTITY: '/env/admin' };
    assert.deepEqual(resolveAdminConfig({ flags: {}, env }), { stateDir: '/env/state', authAddr: 'env.example:1', addressFile: '/env/state/auth.addr', identityDir: '/env/admin', format: 'text' });
    const flags = { stateDir: '/flag/state', authAddr: 'flag.example:2', identity: '/flag/admin' };
    assert.deepEqual(resolveAdminConfig({ flags, env }), { stateDir: '/flag/state', authAddr: 'flag.example:2', addressFile: '/flag/state/auth.addr', identityDir: '/flag/admin', format: 'text' });
    assert.equal(resolveAdminConfig({ flags: { stateDir: '/flag/state' }, env: { KUBE_JOIN_STATE_DIR: '/env/state' } }).identityDir, '/flag/state/admin', 'the identity follows the state directory');
  });

  it('refuses an address that is not host:port before any connection', () => {
    assert.throws(() => resolveAdminConfig({ flags: { authAddr: 'auth.example' }, env: {} }), (err: unknown) => err instanceof ConfigError && err.option === 'authAddr' && err.message === '--auth-addr must be host:port (got "auth.example")');
  });

  it('takes --format only on listing commands, with its choices named by the source that gave a bad one', () => {
    assert.equal(resolveAdminConfig({ flags: { format: 'json' }, env: {} }, ADMIN_LISTING_OPTIONS).format, 'json');
    assert.equal(resolveAdminConfig({ flags: {}, env: { KUBE_JOIN_FORMAT: 'yaml' } }, ADMIN_LISTING_OPTIONS).format, 'yaml');
    assert.throws(() => resolveAdminConfig({ flags: {}, env: { KUBE_JOIN_FORMAT: 'xml' } }, ADMIN_LISTING_OPTIONS), { code: 'ERR_CONFIG', message: 'KUBE_JOIN_FORMAT must be one of text, json, yaml (got "xml")' });
    assert.throws(() => resolveAdminConfig({ flags: {}, env: {}, file: { format: 'json' } }, ADMIN_OPTIONS), { code: 'ERR_CONFIG', message: /^unknown config file key "format"/ });
  });
});
