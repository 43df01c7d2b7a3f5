import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProblemError } from '../../../src/auth/errors.ts';
import type { ProvisionToken } from '../../../src/auth/tokens.ts';
import { createStaticJwksValidator } from '../../../src/auth/validators/static-jwks.ts';
import { fuzzParameters } from '../../support/fuzz.ts';
import {
  TOKEN_REFUSALS,
  algorithmConfusion,
  futureIssuedClaims,
  headerMutation,
  isNoOp,
  jwtFixture,
  nonKubernetesNames,
  payloadMutation,
  refusedClaims,
  resigned,
  signatureMutation,
  type JwtFixture,
} from '../../support/jwt-mutations.ts';

const AUDIENCE = 'fuzz-cluster';

describe('fuzz: mutated ServiceAccount JWTs against the static_jwks validator', function () {
  this.timeout(60_000);
  const validator = createStaticJwksValidator({ audience: AUDIENCE });
  let f: JwtFixture;
  let token: ProvisionToken;

  before(async () => {
    f = await jwtFixture(AUDIENCE);
    token = f.provisionToken('fuzz-token');
  });
  after(() => f?.close());

  /** Refused with one of the validator's codes, as a 401, without echoing the token. */
  async function refused(kubeToken: string): Promise<void> {
    await assert.rejects(validator.validate(kubeToken, token), (err: unknown) => {
      assert.ok(err instanceof ProblemError, `not a ProblemError: ${err instanceof Error ? err.stack : String(err)}`);
      assert.ok((TOKEN_REFUSALS as readonly string[]).includes(err.code), `code ${err.code}: ${err.message}`);
      assert.equal(err.status, 401);
      assert.ok(kubeToken.length < 8 || !err.message.includes(kubeToken), 'the token is not in the message');
      return true;
    });
  }

  it('accepts the unmutated token, and the same claims signed by the second key of the JWKS', async () => {
    const expected = { namespace: f.pod.namespace, serviceAccount: f.pod.serviceAccount, podName: f.pod.podName, podUid: f.pod.podUid };
    assert.deepEqual(await validator.validate(f.token, token), expected);
    assert.deepEqual(await validator.validate(resigned(f, f.claims), token), expected);
  });

  const unsigned: [string, (fx: JwtFixture) => fc.Arbitrary<string>][] = [
    ['header fields (alg, kid, typ, crit, b64, jwk, ...) changed or removed', headerMutation],
    ['alg none, and HS256/384/512 keyed with the public key', algorithmConfusion],
    ['payload claims (aud, exp, iat, nbf, sub, kubernetes.io, extra) changed or removed', payloadMutation],
    ['signature bit flips, truncation, swaps, and damage to the compact form', signatureMutation],
  ];
  for (const [what, mutation] of unsigned) {
    it(`never accepts ${what} without a new signature`, async () => {
      await fc.assert(
        fc.asyncProperty(mutation(f), async (kubeToken) => {
          fc.pre(!isNoOp(f, kubeToken));
          await refused(kubeToken);
        }),
        fuzzParameters({ budgetMs: 20_000, caseMs: 2_000 }),
      );
    });
  }

  const signedByTheJwks: [string, (fx: JwtFixture) => fc.Arbitrary<Record<string, unknown>>][] = [
    ['claims it must refuse (audience, times, lifetime, subject, pod binding, legacy)', refusedClaims],
    ['a token issued in the future beyond the 10 s leeway, or expiring before it was issued', futureIssuedClaims],
    ['identity claims Kubernetes never issues (empty pod UID; namespace, ServiceAccount or pod names that are not DNS names)', nonKubernetesNames],
  ];
  for (const [what, claims] of signedByTheJwks) {
    it(`refuses ${what}, even signed by a key of the JWKS`, async () => {
      await fc.assert(
        fc.asyncProperty(claims(f), async (c) => refused(resigned(f, c))),
        fuzzParameters({ budgetMs: 25_000, caseMs: 2_000 }),
      );
    });
  }
});
