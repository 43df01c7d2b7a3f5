import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AUTH_OPTIONS } from '../../../src/auth/options.ts';
import { DEFAULT_STATE_DIR, adminIdentityFiles, stateDirPaths } from '../../../src/protocol/index.ts';

describe('state directory contract (src/protocol/admin.ts)', () => {
  it('names the files both the auth service and the admin commands use', () => {
    assert.deepEqual(stateDirPaths('/s'), { authAddress: join('/s', 'auth.addr'), adminIdentity: join('/s', 'admin') });
    assert.deepEqual(adminIdentityFiles('/s/admin'), { key: '/s/admin/tls.key', cert: '/s/admin/tls.crt', ca: '/s/admin/ca.crt' });
  });

  it('is the auth service\'s default state directory', () => {
    assert.equal(DEFAULT_STATE_DIR, '/var/lib/kube-join');
    assert.equal(AUTH_OPTIONS.find((o) => o.key === 'stateDir')?.default, DEFAULT_STATE_DIR);
  });
});
