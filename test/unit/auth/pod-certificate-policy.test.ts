import assert from 'node:assert/strict';
import { beginRefreshAt, decidePodCertificate, type PcrPolicyInput } from '../../../src/auth/pod-certificate/policy.ts';
import { parseProvisionToken } from '../../../src/auth/tokens.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const HOUR = 3600_000;

const tokenYaml = (type: string, expires = '2026-12-31T00:00:00Z') => `kind: token
version: v2
metadata: { name: pods, expires: "${expires}" }
spec:
  roles: [App, Db]
  join_method: kubernetes
  kubernetes:
    type: ${type}
    allow:
      - service_account: "apps:web"
`;
const TOKEN = parseProvisionToken(tokenYaml('pod_certificate'), NOW);

function input(over: Partial<PcrPolicyInput> = {}, pcr: Partial<PcrPolicyInput['pcr']> = {}): PcrPolicyInput {
  return {
    pcr: { namespace: 'apps', podName: 'web-1', podUid: 'uid-1', serviceAccount: 'web', nodeName: 'node-a', maxExpirationSeconds: 86400, userAnnotations: { 'kube-join.io/token-name': 'pods' }, ...pcr },
    key: { ok: true },
    token: TOKEN,
    pod: { uid: 'uid-1', nodeName: 'node-a' },
    refresh: false,
    now: NOW,
    certTtlMs: HOUR,
    maxCertTtlMs: 24 * HOUR,
    backdateMs: 60_000,
    ...over,
  };
}

describe('decidePodCertificate', () => {
  it('issues every role of the token, for the cert TTL, when the request asks for none', () => {
    assert.deepEqual(decidePodCertificate(input()), { outcome: 'issue', tokenName: 'pods', roles: ['App', 'Db'], apps: [], ttlMs: HOUR });
  });

  it('narrows to the requested roles (any case), and records the apps named in kube-join.io/apps', () => {
    const d = decidePodCertificate(input({}, { userAnnotations: { 'kube-join.io/token-name': 'pods', 'kube-join.io/roles': 'app', 'kube-join.io/apps': 'grafana=http://localhost:3000, api=https://api' } }));
    assert.deepEqual(d, { outcome: 'issue', tokenName: 'pods', roles: ['App'], apps: [{ name: 'grafana', uri: 'http://localhost:3000' }, { name: 'api', uri: 'https://api' }], ttlMs: HOUR });
  });

  const refusals: [string, PcrPolicyInput, string, string, string][] = [
    ['an unsupported key type, before anything else', input({ key: { ok: false, reason: 'UnsupportedKeyType', message: 'key type ED25519 is not issued' }, token: undefined }), 'Denied', 'UnsupportedKeyType', 'key type ED25519 is not issued'],
    ['a bad proof of possession', input({ key: { ok: false, reason: 'InvalidProofOfPossession', message: 'bad proof' } }), 'Denied', 'InvalidProofOfPossession', 'bad proof'],
    ['an unknown userAnnotations key', input({}, { userAnnotations: { 'kube-join.io/token-name': 'pods', 'example.com/x': '1' } }), 'Denied', 'InvalidUnverifiedUserAnnotations', 'unknown userAnnotations key example.com/x: kube-join reads only kube-join.io/token-name, kube-join.io/roles, kube-join.io/apps'],
    ['no token named', input({}, { userAnnotations: {} }), 'Denied', 'InvalidUnverifiedUserAnnotations', 'set userAnnotations "kube-join.io/token-name: <provision token name>" in the podCertificate volume of pod apps/web-1'],
    ['a role name that is no role', input({}, { userAnnotations: { 'kube-join.io/token-name': 'pods', 'kube-join.io/roles': 'App,Admin' } }), 'Denied', 'InvalidUnverifiedUserAnnotations', 'kube-join.io/roles: Admin is not a role (known: App, Db, Kube, Node, WindowsDesktop, Bot, Discovery)'],
    ['a malformed app', input({}, { userAnnotations: { 'kube-join.io/token-name': 'pods', 'kube-join.io/apps': 'Grafana' } }), 'Denied', 'InvalidUnverifiedUserAnnotations', 'kube-join.io/apps: entries must be name=uri with a DNS-1123 name, comma-separated (got "Grafana")'],
    ['a token that does not exist', input({ token: undefined }), 'Denied', 'TokenNotFound', 'provision token "pods" (kube-join.io/token-name) does not exist on the auth service'],
    ['a token for agents', input({ token: parseProvisionToken(tokenYaml('in_cluster'), NOW) }), 'Denied', 'JoinMethodMismatch', 'provision token "pods" is of type in_cluster, for agents; podCertificate requests need a token of type pod_certificate'],
    ['an expired token, for a pod with no certificate through it yet', input({ token: parseProvisionToken(tokenYaml('pod_certificate', '2026-12-01T11:00:00Z'), NOW) }), 'Denied', 'TokenExpired', 'provision token "pods" expired at 2026-12-01T11:00:00.000Z; pod apps/web-1 has no certificate through it yet'],
    ['a pod that is gone', input({ pod: undefined }), 'Denied', 'PodNotFound', 'pod apps/web-1 no longer exists'],
    ['a later pod of the same name', input({ pod: { uid: 'uid-2', nodeName: 'node-a' } }), 'Denied', 'PodMismatch', 'pod apps/web-1 now has UID uid-2, not uid-1: the request is for an earlier pod of that name'],
    ['a pod on another node', input({ pod: { uid: 'uid-1', nodeName: 'node-b' } }), 'Denied', 'PodMismatch', 'pod apps/web-1 runs on node node-b, not on node-a, which made the request'],
    ['a ServiceAccount not allowed', input({}, { serviceAccount: 'other' }), 'Denied', 'ServiceAccountNotAllowed', 'ServiceAccount apps:other is not in the allow list of provision token "pods"'],
    ['roles the token does not grant', input({}, { userAnnotations: { 'kube-join.io/token-name': 'pods', 'kube-join.io/roles': 'App,Kube,Node' } }), 'Denied', 'RolesNotAllowed', 'provision token "pods" does not grant roles Kube, Node (it grants App, Db); narrow kube-join.io/roles'],
    ['a max cert TTL below the hour kube-apiserver requires', input({ certTtlMs: 10 * 60_000, maxCertTtlMs: 30 * 60_000 }), 'Failed', 'LifetimeTooShort', 'the auth service\'s --max-cert-ttl (1800s) is below the 1h a podCertificate must live; raise it to at least 1h'],
  ];
  for (const [what, given, outcome, reason, message] of refusals) {
    it(`refuses ${what}: ${outcome} ${reason}`, () => {
      assert.deepEqual(decidePodCertificate(given), { outcome, reason, message });
    });
  }

  it('refreshes through an expired token a pod already holds a certificate from (expiry gates first issuance only)', () => {
    const d = decidePodCertificate(input({ refresh: true, token: parseProvisionToken(tokenYaml('pod_certificate', '2026-12-01T11:00:00Z'), NOW) }));
    assert.equal(d.outcome, 'issue');
  });

  it('keeps the lifetime within maxExpirationSeconds, counting the backdating, and at least an hour', () => {
    const exact = decidePodCertificate(input({ certTtlMs: 24 * HOUR }, { maxExpirationSeconds: 3600 }));
    assert.equal(exact.outcome === 'issue' && exact.ttlMs, HOUR - 60_000);
    const raised = decidePodCertificate(input({ certTtlMs: 15 * 60_000 }));
    assert.equal(raised.outcome === 'issue' && raised.ttlMs, HOUR - 60_000);
    const capped = decidePodCertificate(input({ certTtlMs: 48 * HOUR, maxCertTtlMs: 48 * HOUR }, { maxExpirationSeconds: 7200 }));
    assert.equal(capped.outcome === 'issue' && capped.ttlMs, 2 * HOUR - 60_000);
  });
});

describe('beginRefreshAt', () => {
  const validity = { notBefore: NOW, notAfter: NOW + HOUR };
  it('is the agent\'s renewal time: half the lifetime, ±10 %', () => {
    assert.equal(beginRefreshAt(validity, 0.5), NOW + HOUR / 2);
    assert.equal(beginRefreshAt(validity, 0), NOW + HOUR * 0.45);
    assert.equal(beginRefreshAt(validity, 0.999999), Math.round(NOW + HOUR * 0.5 * (1 + 0.1 * (2 * 0.999999 - 1))));
  });
  it('stays within [notBefore + 10 min, notAfter - 10 min], which kube-apiserver requires', () => {
    const long = { notBefore: NOW, notAfter: NOW + 24 * HOUR };
    assert.equal(beginRefreshAt(long, 0.999999) <= long.notAfter - 10 * 60_000, true);
    // 20 minutes: the fraction alone would say 9 minutes; the window is the one instant at 10.
    const short = { notBefore: NOW, notAfter: NOW + 20 * 60_000 };
    assert.equal(beginRefreshAt(short, 0), NOW + 10 * 60_000);
    assert.equal(beginRefreshAt(short, 0.999999), NOW + 10 * 60_000);
  });
});
