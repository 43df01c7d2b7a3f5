import assert from 'node:assert/strict';
import { X509Certificate, Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension, KeyUsagesExtension, KeyUsageFlags, ExtendedKeyUsageExtension, BasicConstraintsExtension } from '../../../src/common/x509.ts';
import { issueLeaf, issueServingCert, decodeRoles, type CertificateAuthority } from '../../../src/auth/ca.ts';
import { ProblemError } from '../../../src/auth/errors.ts';
import { createCsrPem, generateKey } from '../../../src/agent/keys.ts';
import { testCa } from '../../support/pki.ts';

/** The leaf as @peculiar/x509 parses it, for the assertions. */
const issued = async (ca: CertificateAuthority, req: Parameters<typeof issueLeaf>[1]) => new X509Certificate((await issueLeaf(ca, req)).der);

const base = { hostId: 'app-7d9f8', binding: { podUid: 'uid-1', tokenName: 'kube-token' }, namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', roles: ['App', 'Db'], trustDomain: 'demo-cluster', ttlMs: 3_600_000 };

describe('issueLeaf', () => {
  let ca: CertificateAuthority;
  before(async () => {
    ca = await testCa('demo-cluster');
  });

  it('sets subject, SPIFFE SAN, roles, key usages and validity from the proven identity', async () => {
    const now = Date.now();
    const leaf = await issued(ca, { ...base, csrPem: await createCsrPem(await generateKey('ecdsa-p256'), 'ignored'), now });
    assert.equal(leaf.subject, 'CN=app-7d9f8, O=demo-cluster, OU=App, OU=Db');
    const san = leaf.getExtension(SubjectAlternativeNameExtension);
    assert.deepEqual(san?.names.toJSON(), [{ type: 'url', value: 'spiffe://demo-cluster/ns/teleport-agent/sa/teleport-app-service' }]);
    assert.deepEqual(decodeRoles(leaf), ['App', 'Db']);
    const ku = leaf.getExtension(KeyUsagesExtension);
    assert.equal(ku?.usages, KeyUsageFlags.digitalSignature);
    assert.equal(ku?.critical, true);
    assert.deepEqual([...(leaf.getExtension(ExtendedKeyUsageExtension)?.usages ?? [])], ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(leaf.getExtension(BasicConstraintsExtension)?.ca, false);
    assert.equal(leaf.notAfter.getTime(), Math.floor((now + base.ttlMs) / 1000) * 1000);
    assert.equal(await leaf.verify({ publicKey: ca.cert, signatureOnly: true }), true);
  });

  it('ignores the subject and extensions the CSR asks for', async () => {
    const material = await generateKey('ecdsa-p256');
    const csr = await Pkcs10CertificateRequestGenerator.create({
      name: 'CN=admin, O=system:masters',
      keys: material.keys,
      signingAlgorithm: material.signingAlgorithm,
      extensions: [new SubjectAlternativeNameExtension([{ type: 'dns', value: 'kubernetes.default' }])],
    });
    const leaf = await issued(ca, { ...base, csrPem: csr.toString('pem'), now: Date.now() });
    assert.equal(leaf.subject, 'CN=app-7d9f8, O=demo-cluster, OU=App, OU=Db');
    assert.ok(!JSON.stringify(leaf.getExtension(SubjectAlternativeNameExtension)?.names.toJSON()).includes('kubernetes.default'));
  });

  it('adds keyEncipherment for RSA keys (TLS 1.2 RSA key exchange)', async () => {
    const leaf = await issued(ca, { ...base, csrPem: await createCsrPem(await generateKey('rsa-2048'), 'x'), now: Date.now() });
    assert.equal(leaf.getExtension(KeyUsagesExtension)?.usages, KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment);
  });

  it('refuses a CSR whose signature does not verify (no proof of possession)', async () => {
    const pem = await createCsrPem(await generateKey('ecdsa-p256'), 'x');
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await assert.rejects(issueLeaf(ca, { ...base, csrPem: tampered, now: Date.now() }), (err: unknown) => {
      assert.ok(err instanceof ProblemError);
      assert.equal(err.code, 'csr_invalid');
      assert.equal(err.message, 'csr signature does not verify (proof of key possession failed)');
      return true;
    });
  });

  it('refuses text that is not a CSR', async () => {
    await assert.rejects(issueLeaf(ca, { ...base, csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', now: Date.now() }), { code: 'csr_invalid', message: 'csr is not a PKCS#10 certificate request' });
  });

  it('makes leaves that two workloads can use for mutual TLS (serverAuth + clientAuth)', async () => {
    const leaf = await issued(ca, { ...base, csrPem: await createCsrPem(await generateKey('ecdsa-p256'), 'x'), now: Date.now() });
    const node = new (await import('node:crypto')).X509Certificate(leaf.toString('pem'));
    assert.equal(node.checkIssued(new (await import('node:crypto')).X509Certificate(ca.certPem)), true);
    assert.ok(new X509Certificate(leaf.rawData).getExtension(ExtendedKeyUsageExtension)?.usages.includes('1.3.6.1.5.5.7.3.2'));
  });

  it('never signs a workload identity that is not a Kubernetes namespace and ServiceAccount (so never the auth identity)', async () => {
    const csrPem = await createCsrPem(await generateKey('ecdsa-p256'), 'x');
    for (const who of [{ namespace: 'x/kube-join/auth', serviceAccount: 'sa' }, { namespace: 'ns', serviceAccount: 'a/../../kube-join/auth' }, { namespace: 'NS', serviceAccount: 'sa' }, { namespace: '', serviceAccount: 'sa' }]) {
      await assert.rejects(issueLeaf(ca, { ...base, ...who, csrPem, now: Date.now() }), { code: 'kube_token_invalid', message: 'the ServiceAccount token names a namespace or ServiceAccount that is not a valid Kubernetes name' }, JSON.stringify(who));
    }
  });
});

describe('issueServingCert', () => {
  it('carries the auth identity as a URI SAN beside its DNS names and IPs, for serverAuth only', async () => {
    const ca = await testCa('demo-cluster');
    const tls = await issueServingCert(ca, ['kube-join-auth.kube-join.svc', '10.0.0.1', '::1'], 'demo-cluster', Date.now());
    const cert = new X509Certificate(tls.certPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----');
    assert.deepEqual(cert.getExtension(SubjectAlternativeNameExtension)?.names.toJSON(), [
      { type: 'url', value: 'spiffe://demo-cluster/kube-join/auth' },
      { type: 'dns', value: 'kube-join-auth.kube-join.svc' },
      { type: 'ip', value: '10.0.0.1' },
      { type: 'ip', value: '::1' },
    ]);
    assert.deepEqual([...(cert.getExtension(ExtendedKeyUsageExtension)?.usages ?? [])], ['1.3.6.1.5.5.7.3.1']);
  });
});
