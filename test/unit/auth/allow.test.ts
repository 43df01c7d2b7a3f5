import assert from 'node:assert/strict';
import { grantRoles, isServiceAccountAllowed, parseServiceAccountUsername } from '../../../src/auth/allow.ts';
import { parseProvisionToken } from '../../../src/auth/tokens.ts';

const token = parseProvisionToken(
  `kind: token
version: v2
metadata: { name: t }
spec:
  roles: [App, Db]
  join_method: kubernetes
  kubernetes:
    allow:
      - service_account: "teleport-agent:teleport-app-service"
      - service_account: "apps:web"
`,
  0,
);

describe('isServiceAccountAllowed', () => {
  it('allows a ServiceAccount named exactly by a rule', () => {
    assert.equal(isServiceAccountAllowed(token, 'teleport-agent', 'teleport-app-service'), true);
    assert.equal(isServiceAccountAllowed(token, 'apps', 'web'), true);
  });
  it('refuses the same name in another namespace, and near misses', () => {
    assert.equal(isServiceAccountAllowed(token, 'default', 'teleport-app-service'), false);
    assert.equal(isServiceAccountAllowed(token, 'apps', 'web2'), false);
    assert.equal(isServiceAccountAllowed(token, 'app', 's:web'), false);
  });
});

describe('grantRoles', () => {
  it('grants all the token roles when none are requested', () => {
    assert.deepEqual(grantRoles(token, undefined), { granted: ['App', 'Db'] });
    assert.deepEqual(grantRoles(token, []), { granted: ['App', 'Db'] });
  });
  it('grants a subset', () => {
    assert.deepEqual(grantRoles(token, ['Db']), { granted: ['Db'] });
  });
  it('matches role names case-insensitively and grants them in the token\'s (canonical) spelling', () => {
    assert.deepEqual(grantRoles(token, ['app', 'DB', 'App']), { granted: ['App', 'Db'] });
    assert.deepEqual(grantRoles(token, ['app', 'node']), { denied: ['node'] });
  });
  it('names every role that is not on the token (escalation)', () => {
    assert.deepEqual(grantRoles(token, ['App', 'Admin', 'Node']), { denied: ['Admin', 'Node'] });
  });
});

describe('parseServiceAccountUsername', () => {
  it('splits system:serviceaccount:NS:NAME', () => {
    assert.deepEqual(parseServiceAccountUsername('system:serviceaccount:ns:sa'), { namespace: 'ns', serviceAccount: 'sa' });
  });
  it('refuses users that are not ServiceAccounts', () => {
    assert.equal(parseServiceAccountUsername('system:admin'), undefined);
    assert.equal(parseServiceAccountUsername('system:serviceaccount:ns'), undefined);
  });
});
