import assert from 'node:assert/strict';
import fc from 'fast-check';
import { issueLeaf, type CertificateAuthority } from '../../../src/auth/ca.ts';
import { ProblemError } from '../../../src/auth/errors.ts';
import { createCsrPem, generateKey, type KeyAlgorithm } from '../../../src/agent/keys.ts';
import { PemConverter, Pkcs10CertificateRequest, X509Certificate } from '../../../src/common/x509.ts';
import { bitPositions, flipBits, fuzzParameters } from '../../support/fuzz.ts';
import { testCa } from '../../support/pki.ts';

interface Csr {
  algorithm: KeyAlgorithm;
  der: Uint8Array;
  spki: Buffer;
}

describe('fuzz: CSR DER bit flips into issueLeaf', function () {
  this.timeout(60_000);
  let ca: CertificateAuthority;
  const csrs: Csr[] = [];

  before(async () => {
    ca = await testCa('fuzz-cluster');
    for (const algorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
      const pem = await createCsrPem(await generateKey(algorithm), 'fuzz-host');
      const csr = new Pkcs10CertificateRequest(pem);
      csrs.push({ algorithm, der: new Uint8Array(csr.rawData), spki: Buffer.from(csr.publicKey.rawData) });
    }
  });

  const issue = async (csrPem: string) =>
    new X509Certificate((await issueLeaf(ca, { csrPem, hostId: 'app-1', binding: { podUid: 'uid-1', tokenName: 't' }, namespace: 'ns', serviceAccount: 'sa', roles: ['App'], trustDomain: 'fuzz-cluster', ttlMs: 3_600_000, now: Date.now() })).der);

  it('issues for the unflipped CSRs (ECDSA P-256 and RSA 2048)', async () => {
    for (const c of csrs) {
      const cert = await issue(PemConverter.encode(c.der.slice().buffer, 'CERTIFICATE REQUEST'));
      assert.deepEqual(Buffer.from(cert.publicKey.rawData), c.spki, c.algorithm);
    }
  });

  it('1-8 flipped bits give csr_invalid (400), or a certificate for the CSR\'s own key; never another error', async () => {
    const outcomes = { refused: 0, issued: 0 };
    const flipped = fc.integer({ min: 0, max: 1 }).chain((i) => fc.tuple(fc.constant(i), bitPositions((csrs[i] as Csr).der.length)));
    await fc.assert(
      fc.asyncProperty(flipped, async ([i, bits]) => {
        const c = csrs[i] as Csr;
        const pem = PemConverter.encode(flipBits(c.der, bits).buffer, 'CERTIFICATE REQUEST');
        let cert;
        try {
          cert = await issue(pem);
        } catch (err) {
          assert.ok(err instanceof ProblemError, `not a ProblemError: ${err instanceof Error ? err.stack : String(err)}`);
          assert.equal(err.code, 'csr_invalid', err.message);
          assert.equal(err.status, 400);
          outcomes.refused++;
          return;
        }
        assert.deepEqual(Buffer.from(cert.publicKey.rawData), c.spki, `a ${c.algorithm} CSR with bits ${bits.join(',')} flipped was issued for another key`);
        outcomes.issued++;
      }),
      fuzzParameters({ budgetMs: 30_000, caseMs: 5_000 }),
    );
    assert.ok(outcomes.refused > outcomes.issued, `most flips are refused: ${JSON.stringify(outcomes)}`);
  });
});
