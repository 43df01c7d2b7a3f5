import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { createStaticJwksValidator } from '../../../src/auth/validators/static-jwks.ts';
import { parseProvisionToken, type ProvisionToken } from '../../../src/auth/tokens.ts';
import { ProblemError } from '../../../src/auth/errors.ts';
import { createTokenIssuer, type TokenIssuer } from '../../../src/demo/index.ts';

const AUDIENCE = 'test-cluster';
const NOW = Math.floor(Date.now() / 1000);
const pod = { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', podUid: 'uid-1', audience: AUDIENCE };

function tokenWith(issuer: TokenIssuer): ProvisionToken {
  return parseProvisionToken(
    `kind: token
version: v2
metadata: { name: t }
spec:
  roles: [App]
  join_method: kubernetes
  kubernetes:
    type: static_jwks
    allow: [{ service_account: "teleport-agent:teleport-app-service" }]
    static_jwks:
      jwks: '${JSON.stringify(issuer.jwks())}'
`,
    Date.now(),
  );
}

describe('static_jwks validator', () => {
  let issuer: TokenIssuer;
  let token: ProvisionToken;
  const validator = createStaticJwksValidator({ audience: AUDIENCE });

  before(async () => {
    issuer = await createTokenIssuer();
    token = tokenWith(issuer);
  });
  after(() => issuer.close());

  async function expectProblem(kubeToken: string, code: string, message: string | RegExp) {
    await assert.rejects(validator.validate(kubeToken, token), (err: unknown) => {
      assert.ok(err instanceof ProblemError, String(err));
      assert.equal(err.code, code);
      assert.equal(err.status, 401);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      assert.ok(!err.message.includes(kubeToken), 'the token must not appear in the message');
      return true;
    });
  }

  it('accepts a pod-bound token and returns who it is for', async () => {
    assert.deepEqual(await validator.validate(await issuer.mint(pod), token), { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', podUid: 'uid-1' });
  });

  it('accepts a token issued 9 seconds in the future (10 s leeway)', async () => {
    await validator.validate(await issuer.mint({ ...pod, iat: NOW + 9 }), token);
  });

  it('rejects an expired token', async () => {
    await expectProblem(await issuer.mint({ ...pod, iat: NOW - 700, ttlSeconds: 600 }), 'kube_token_invalid', 'ServiceAccount token has expired');
  });

  it('rejects a token for another audience', async () => {
    await expectProblem(await issuer.mint({ ...pod, audience: 'https://kubernetes.default.svc' }), 'audience_mismatch', 'ServiceAccount token audience does not include "test-cluster"');
  });

  it('rejects a token signed by a key that is not in the JWKS (forged)', async () => {
    const forger = await createTokenIssuer();
    try {
      await expectProblem(await forger.mint(pod), 'kube_token_invalid', 'no key in the JWKS matches the ServiceAccount token (kid/alg)');
    } finally {
      await forger.close();
    }
  });

  it('rejects a token whose signature was tampered with under a known kid', async () => {
    const [h, p, s] = (await issuer.mint(pod)).split('.') as [string, string, string];
    const other = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'system:serviceaccount:kube-system:admin' })).toString('base64url');
    await expectProblem(`${h}.${other}.${s}`, 'kube_token_invalid', 'ServiceAccount token signature does not verify');
  });

  it('rejects an unsigned token (alg none)', async () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', aud: AUDIENCE })).toString('base64url')}.`;
    await expectProblem(none, 'kube_token_invalid', /^ServiceAccount token (uses a signing algorithm that is not accepted|is not a valid JWT)/);
  });

  it('rejects a token that is not bound to a pod', async () => {
    await expectProblem(await issuer.mint({ ...pod, unbound: true }), 'legacy_token_rejected', 'ServiceAccount token is not bound to a pod; mount a projected ServiceAccount token');
  });

  it('rejects a token living longer than 30 minutes', async () => {
    await expectProblem(await issuer.mint({ ...pod, ttlSeconds: 3600 }), 'kube_token_invalid', 'ServiceAccount token lifetime 3600s exceeds 1800s; project it with a shorter expirationSeconds');
  });

  it('rejects a legacy Secret-based token by its shape', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'legacy', alg: 'RS256' };
    const legacyToken = parseProvisionToken(
      `kind: token\nversion: v2\nmetadata: { name: t }\nspec:\n  roles: [App]\n  join_method: kubernetes\n  kubernetes:\n    type: static_jwks\n    allow: [{ service_account: "a:b" }]\n    static_jwks:\n      jwks: '${JSON.stringify({ keys: [jwk] })}'\n`,
      Date.now(),
    );
    const legacy = await new SignJWT({ 'kubernetes.io/serviceaccount/namespace': 'a', 'kubernetes.io/serviceaccount/service-account.name': 'b' })
      .setProtectedHeader({ alg: 'RS256', kid: 'legacy' })
      .setIssuer('kubernetes/serviceaccount')
      .setSubject('system:serviceaccount:a:b')
      .sign(privateKey);
    await assert.rejects(validator.validate(legacy, legacyToken), (err: unknown) => err instanceof ProblemError && err.code === 'legacy_token_rejected');
  });
});
