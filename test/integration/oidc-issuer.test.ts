import assert from 'node:assert/strict';
import { createOidcValidator } from '../../src/auth/validators/oidc.ts';
import { parseProvisionToken, type ProvisionToken } from '../../src/auth/tokens.ts';
import { ProblemError } from '../../src/auth/errors.ts';
import { createTokenIssuer, type TokenIssuer } from '../../src/demo/index.ts';
import { tokenYaml } from '../support/kube-join.ts';

const AUDIENCE = 'oidc-cluster';
const POD = { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', podUid: 'uid-1', audience: AUDIENCE };

describe('oidc validation against the local issuer served over HTTP', () => {
  let issuer: TokenIssuer;
  let token: ProvisionToken;

  before(async () => {
    issuer = await createTokenIssuer({ serve: { host: '127.0.0.1', port: 0 } });
    token = parseProvisionToken(tokenYaml({ name: 'oidc-token', type: 'oidc', oidcIssuer: issuer.issuerUrl }).replace(`issuer: "${issuer.issuerUrl}"`, `issuer: "${issuer.issuerUrl}"\n      insecure_allow_http_issuer: true`), Date.now());
  });
  after(() => issuer.close());

  it('serves discovery and JWKS, and a rotated signing key is fetched on its first unknown kid', async () => {
    const validator = createOidcValidator({ audience: AUDIENCE, caPem: undefined, timeoutMs: 5000, jwksCooldownMs: 0, now: () => Date.now() });
    assert.deepEqual(await validator.validate(await issuer.mint(POD), token), { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: 'app-1', podUid: 'uid-1' });
    await issuer.rotateKey();
    assert.equal(issuer.jwks().keys.length, 2);
    assert.equal((await validator.validate(await issuer.mint(POD), token)).podName, 'app-1');
  });

  it('refuses a token from another issuer with the same claims', async () => {
    const validator = createOidcValidator({ audience: AUDIENCE, caPem: undefined, timeoutMs: 5000, jwksCooldownMs: 0, now: () => Date.now() });
    const other = await createTokenIssuer();
    try {
      await assert.rejects(validator.validate(await other.mint(POD), token), (err: unknown) => err instanceof ProblemError && err.code === 'kube_token_invalid');
    } finally {
      await other.close();
    }
  });
});
