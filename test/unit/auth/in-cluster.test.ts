import assert from 'node:assert/strict';
import sinon from 'sinon';
import { createInClusterValidator } from '../../../src/auth/validators/in-cluster.ts';
import { ProblemError } from '../../../src/auth/errors.ts';
import { parseProvisionToken } from '../../../src/auth/tokens.ts';
import type { KubeClient, TokenReviewStatus } from '../../../src/kube/index.ts';

const AUDIENCE = 'in-cluster-unit';
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** An unsigned JWT: the fake API below decides, as the real one would from the signature. */
const jwt = (payload: object) => `${b64({ alg: 'RS256', kid: 'k' })}.${b64(payload)}.c2ln`;
const NOW_S = Math.floor(Date.UTC(2026, 11, 1, 12) / 1000);
const projected = (over: object = {}) => ({
  aud: [AUDIENCE], sub: 'system:serviceaccount:apps:web', iat: NOW_S, nbf: NOW_S, exp: NOW_S + 600,
  'kubernetes.io': { namespace: 'apps', serviceaccount: { name: 'web', uid: 'u1' }, pod: { name: 'web-0', uid: 'p1' } },
  ...over,
});
const AUTHENTICATED: TokenReviewStatus = {
  authenticated: true,
  audiences: [AUDIENCE],
  user: { username: 'system:serviceaccount:apps:web', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['web-0'], 'authentication.kubernetes.io/pod-uid': ['p1'] } },
};
const TOKEN = parseProvisionToken('kind: token\nversion: v2\nmetadata: { name: t }\nspec:\n  roles: [App]\n  join_method: kubernetes\n  kubernetes:\n    allow: [{ service_account: "apps:web" }]\n', NOW_S * 1000);

function fakeClient(status: TokenReviewStatus): { client: KubeClient; review: sinon.SinonStub } {
  const review = sinon.stub().resolves(status);
  return { client: { server: 'https://127.0.0.1:1', source: 'test', request: sinon.stub().rejects(new Error('unused')), tokenReview: review, close: () => undefined } as unknown as KubeClient, review };
}

async function refusal(promise: Promise<unknown>): Promise<ProblemError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ProblemError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('in_cluster validator: what the payload alone decides', () => {
  it('accepts a projected token the API authenticates', async () => {
    const { client } = fakeClient(AUTHENTICATED);
    const v = createInClusterValidator({ audience: AUDIENCE, client, now: () => NOW_S * 1000 });
    assert.deepEqual(await v.validate(jwt(projected()), TOKEN), { namespace: 'apps', serviceAccount: 'web', podName: 'web-0', podUid: 'p1' });
  });

  it('refuses a lifetime over 30 minutes from the token\'s own iat/exp, even when the API authenticates it, without a review', async () => {
    const { client, review } = fakeClient(AUTHENTICATED);
    const v = createInClusterValidator({ audience: AUDIENCE, client, now: () => NOW_S * 1000 });
    const err = await refusal(v.validate(jwt(projected({ exp: NOW_S + 86_400 })), TOKEN));
    assert.equal(err.code, 'kube_token_invalid');
    assert.equal(err.message, 'ServiceAccount token lifetime 86400s exceeds 1800s; project it with a shorter expirationSeconds');
    assert.equal(review.callCount, 0);
  });

  it('refuses an iat in the future or after exp, which would stretch the cap', async () => {
    const { client, review } = fakeClient(AUTHENTICATED);
    const v = createInClusterValidator({ audience: AUDIENCE, client, now: () => NOW_S * 1000 });
    const future = await refusal(v.validate(jwt(projected({ iat: NOW_S + 3600, nbf: NOW_S + 3600, exp: NOW_S + 4000 })), TOKEN));
    assert.deepEqual([future.code, future.message], ['kube_token_invalid', 'ServiceAccount token is issued in the future (iat); check the clocks of the cluster and the auth service']);
    const inverted = await refusal(v.validate(jwt(projected({ iat: NOW_S + 5, exp: NOW_S + 4 })), TOKEN));
    assert.deepEqual([inverted.code, inverted.message], ['kube_token_invalid', 'ServiceAccount token was issued (iat) after it expires (exp)']);
    assert.equal(review.callCount, 0);
  });

  it('refuses a token without iat', async () => {
    const { client } = fakeClient(AUTHENTICATED);
    const v = createInClusterValidator({ audience: AUDIENCE, client, now: () => NOW_S * 1000 });
    const { iat: _dropped, ...noIat } = projected();
    const err = await refusal(v.validate(jwt(noIat), TOKEN));
    assert.equal(err.code, 'kube_token_invalid');
    assert.equal(err.message, 'ServiceAccount token has no numeric exp and iat claims');
  });

  it('classifies a legacy Secret-based token as legacy_token_rejected, not audience_mismatch', async () => {
    // What the API answers for a legacy token reviewed with our audience: not authenticated.
    const { client, review } = fakeClient({ authenticated: false, error: 'token audiences ["https://kubernetes.default.svc"] is invalid for the target audiences' });
    const v = createInClusterValidator({ audience: AUDIENCE, client, now: () => NOW_S * 1000 });
    const legacy = { iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:apps:web', 'kubernetes.io/serviceaccount/namespace': 'apps', 'kubernetes.io/serviceaccount/service-account.name': 'web' };
    const err = await refusal(v.validate(jwt(legacy), TOKEN));
    assert.equal(err.code, 'legacy_token_rejected');
    assert.equal(err.message, 'legacy Secret-based ServiceAccount tokens are not accepted; mount a projected, pod-bound token');
    assert.equal(review.callCount, 0);
  });
});
