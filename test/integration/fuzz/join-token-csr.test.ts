import assert from 'node:assert/strict';
import fc from 'fast-check';
import { X509Certificate, PemConverter, Pkcs10CertificateRequest } from '../../../src/common/x509.ts';
import { JoinResponseSchema } from '../../../src/protocol/index.ts';
import { startJoinFixture, type JoinFixture } from '../../support/auth-service.ts';
import { assertProblem, bitPositions, flipBits, fuzzParameters, type Answer } from '../../support/fuzz.ts';
import { TOKEN_REFUSALS, futureIssuedClaims, isNoOp, nonKubernetesNames, refusedClaims, resigned, unsignedMutation } from '../../support/jwt-mutations.ts';

const CLUSTER = 'fuzz-proofs';

describe('fuzz: mutated proofs (ServiceAccount JWT, CSR) through POST /v1/join (in-process auth over HTTPS)', function () {
  this.timeout(120_000);
  let fx: JoinFixture;

  before(async () => {
    fx = await startJoinFixture(CLUSTER);
  });
  after(async () => {
    await fx?.close();
  });

  /**
   * A join with `kubernetesToken` must be refused: 401 with a validator's code, or 403 when the names it
   * proves are on no allow list.
   */
  async function tokenRefused(kubeToken: string): Promise<void> {
    const answer = await fx.join({ ...fx.validBody(), kubernetesToken: kubeToken });
    const context = `kubernetesToken ${JSON.stringify(kubeToken)}`;
    assert.notEqual(answer.statusCode, 200, `a certificate was issued for ${context}`);
    const code = assertProblem(answer, context);
    if (kubeToken === '') return assert.equal(code, 'bad_request');
    assert.ok([401, 403].includes(answer.statusCode), `${answer.statusCode} ${answer.body} for ${context}`);
    assert.ok([...TOKEN_REFUSALS, 'service_account_not_allowed'].includes(code), `${answer.body} for ${context}`);
  }

  it('joins with the unmutated token and CSR', async () => {
    const answer = await fx.join(fx.validBody());
    assert.equal(answer.statusCode, 200, answer.body);
  });

  it('a mutated ServiceAccount JWT (header, alg, claims, signature; re-signed claims it must refuse) never joins: 401/403, never 200 or 5xx', async () => {
    const f = fx.jwt;
    const mutated = fc.oneof(unsignedMutation(f), refusedClaims(f).map((claims) => resigned(f, claims)));
    await fc.assert(
      fc.asyncProperty(mutated, async (kubeToken) => {
        fc.pre(!isNoOp(f, kubeToken));
        await tokenRefused(kubeToken);
      }),
      fuzzParameters({ numRuns: 200, budgetMs: 30_000, caseMs: 5_000 }),
    );
  });

  it('a token issued in the future, or with names Kubernetes never issues, never joins: 401/403, never 200 or 5xx', async () => {
    const f = fx.jwt;
    const claims = fc.oneof(futureIssuedClaims(f), nonKubernetesNames(f));
    await fc.assert(
      fc.asyncProperty(claims, async (c) => tokenRefused(resigned(f, c))),
      fuzzParameters({ numRuns: 100, budgetMs: 30_000, caseMs: 5_000 }),
    );
  });

  it('a CSR with 1-8 bits flipped gets 400 csr_invalid, or a certificate for the CSR\'s own key; never 5xx', async () => {
    const der = new Uint8Array(new Pkcs10CertificateRequest(fx.csrPem).rawData);
    const refused = { count: 0 };
    await fc.assert(
      fc.asyncProperty(bitPositions(der.length), async (bits) => {
        const csr = PemConverter.encode(flipBits(der, bits).buffer, 'CERTIFICATE REQUEST');
        const answer: Answer = await fx.join({ ...fx.validBody(), csr });
        const context = `CSR bits ${bits.join(',')} flipped`;
        if (answer.statusCode === 200) {
          const leaf = new X509Certificate(JoinResponseSchema.parse(JSON.parse(answer.body)).certificateChain);
          assert.deepEqual(Buffer.from(leaf.publicKey.rawData), fx.csrSpki, `issued for another key: ${context}`);
          return;
        }
        assert.equal(assertProblem(answer, context), 'csr_invalid', `${answer.body} for ${context}`);
        assert.equal(answer.statusCode, 400);
        refused.count++;
      }),
      fuzzParameters({ numRuns: 200, budgetMs: 30_000, caseMs: 5_000 }),
    );
    assert.ok(refused.count >= 150, `most flips are refused (${refused.count} of 200)`);
  });
});
