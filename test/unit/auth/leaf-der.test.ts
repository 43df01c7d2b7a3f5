import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  X509Certificate,
} from '../../../src/common/x509.ts';
import { encodeJoinBinding, encodeRoles, issueLeaf, readPresentedLeaf, type CertificateAuthority, type LeafRequest } from '../../../src/auth/ca.ts';
import { KNOWN_ROLES } from '../../../src/auth/tokens.ts';
import { createCsrPem, generateKey, type KeyAlgorithm, type KeyMaterial } from '../../../src/agent/keys.ts';
import { JOIN_BINDING_EXTENSION_OID, ROLES_EXTENSION_OID, spiffeIdFor } from '../../../src/protocol/index.ts';
import { subtle } from '../../../src/common/crypto.ts';
import { fuzzParameters } from '../../support/fuzz.ts';
import { testCa } from '../../support/pki.ts';

const run = promisify(execFile);

/**
 * The leaf as @peculiar/x509's generator makes it from the same inputs: the code issueLeaf ran before the
 * fast encoder, kept here as the oracle (DESIGN §4).
 */
async function referenceLeaf(ca: CertificateAuthority, req: LeafRequest, publicKey: CryptoKey, serialNumber: string): Promise<X509Certificate> {
  const isRsa = (publicKey.algorithm as Algorithm).name !== 'ECDSA';
  return X509CertificateGenerator.create({
    serialNumber,
    subject: [{ CN: [req.hostId] }, { O: [req.trustDomain] }, ...req.roles.map((r) => ({ OU: [r] }))],
    issuer: ca.cert.subjectName,
    notBefore: new Date(req.now - 60_000),
    notAfter: new Date(req.now + req.ttlMs),
    publicKey,
    signingKey: ca.key,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | (isRsa ? KeyUsageFlags.keyEncipherment : 0), true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth], false),
      new SubjectAlternativeNameExtension([{ type: 'url', value: spiffeIdFor(req.trustDomain, req.namespace, req.serviceAccount) }], false),
      await SubjectKeyIdentifierExtension.create(publicKey),
      ca.authorityKeyIdentifier,
      new Extension(ROLES_EXTENSION_OID, false, encodeRoles(req.roles)),
      new Extension(JOIN_BINDING_EXTENSION_OID, false, encodeJoinBinding(req.binding)),
    ],
  });
}

/** The DER TBSCertificate inside a certificate. */
function tbsOf(der: ArrayBuffer | Uint8Array): Buffer {
  const cert = asn1js.fromBER(der).result as asn1js.Sequence;
  return Buffer.from((cert.valueBlock.value[0] as asn1js.Sequence).valueBeforeDecodeView);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LEGACY_ROLE = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const YEAR_MS = 365.25 * 24 * 3600_000;

describe('leaf fast encoder (src/auth/leaf-der.ts)', function () {
  this.timeout(180_000);
  let ca: CertificateAuthority;
  let dir: string;
  const keys: { algorithm: KeyAlgorithm; material: KeyMaterial; csrPem: string }[] = [];

  before(async () => {
    ca = await testCa('diff-cluster');
    dir = await mkdtemp(join(tmpdir(), 'kube-join-leaf-der-'));
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    // A pool of keys of every type an agent makes, plus P-384: fresh RSA keys per case would take minutes.
    for (const algorithm of ['ecdsa-p256', 'ecdsa-p256', 'ecdsa-p256', 'rsa-2048', 'rsa-3072'] as const) {
      const material = await generateKey(algorithm);
      keys.push({ algorithm, material, csrPem: await createCsrPem(material, 'csr-subject-is-ignored') });
    }
    const p384 = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
    const material = { keys: p384, algorithm: 'ecdsa-p256', signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' } } as unknown as KeyMaterial;
    keys.push({ algorithm: 'ecdsa-p256', material, csrPem: await createCsrPem(material, 'p384') });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes the TBSCertificate @peculiar/x509 makes, byte for byte, for 1,000 random leaves, which read back as issued; openssl verifies every certificate', async () => {
    const pems: string[] = [];
    const request = fc.record({
      key: fc.integer({ min: 0, max: 5 }),
      hostId: fc.stringMatching(DNS_SUBDOMAIN),
      trustDomain: fc.stringMatching(DNS_SUBDOMAIN),
      namespace: fc.stringMatching(DNS_LABEL),
      serviceAccount: fc.stringMatching(DNS_SUBDOMAIN),
      roles: fc.uniqueArray(fc.oneof(fc.constantFrom(...KNOWN_ROLES), fc.stringMatching(LEGACY_ROLE)), { minLength: 1, maxLength: 7 }),
      podUid: fc.uuid(),
      tokenName: fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$/),
      // 2001 to 2070: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), and leaves straddling the change.
      now: fc.integer({ min: Date.UTC(2001, 0, 1), max: Date.UTC(2070, 0, 1) }),
      ttlMs: fc.oneof(fc.integer({ min: 1000, max: 24 * 3600_000 }), fc.integer({ min: 1000, max: Math.round(30 * YEAR_MS) })),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const { material, csrPem } = keys[r.key] as (typeof keys)[number];
        const req: LeafRequest = { csrPem, hostId: r.hostId, binding: { podUid: r.podUid, tokenName: r.tokenName }, namespace: r.namespace, serviceAccount: r.serviceAccount, roles: r.roles, trustDomain: r.trustDomain, ttlMs: r.ttlMs, now: r.now };
        const fast = await issueLeaf(ca, req);
        const reference = await referenceLeaf(ca, req, material.keys.publicKey, fast.serialNumber);
        assert.equal(tbsOf(fast.der).toString('hex'), tbsOf(reference.rawData).toString('hex'));
        assert.equal(fast.notAfter.getTime(), reference.notAfter.getTime());
        assert.equal(fast.toString('pem'), new X509Certificate(fast.der).toString('pem'));
        // What a renewal reads back from it (src/auth/leaf-read.ts): the identity it was issued for.
        assert.deepEqual(readPresentedLeaf(fast.der, r.trustDomain), { namespace: r.namespace, serviceAccount: r.serviceAccount, podName: r.hostId, podUid: r.podUid, tokenName: r.tokenName, roles: r.roles });
        pems.push(fast.toString('pem'));
      }),
      fuzzParameters({ budgetMs: 150_000 }),
    );
    assert.ok(pems.length >= 1000, `${pems.length} leaves`);

    // One openssl process for all of them: it parses each certificate (-x509_strict: DER as RFC 5280
    // says) and checks its signature against the CA, at any date (-no_check_time: the leaves span 2001-2100).
    const files = await Promise.all(pems.map(async (pem, i) => {
      const path = join(dir, `leaf-${i}.pem`);
      await writeFile(path, `${pem}\n`);
      return path;
    }));
    const { stdout } = await run('openssl', ['verify', '-x509_strict', '-no_check_time', '-CAfile', join(dir, 'ca.crt'), ...files], { maxBuffer: 64 * 1024 * 1024 });
    const ok = stdout.split('\n').filter((line) => line.endsWith(': OK'));
    assert.equal(ok.length, files.length, stdout.split('\n').filter((line) => line !== '' && !line.endsWith(': OK')).slice(0, 5).join('\n'));
  });
});
