import { isIP } from 'node:net';
import { subtle } from '../common/crypto.ts';
import { privateKeyPem } from '../common/pem.ts';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
} from '../common/x509.ts';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams;
/** Made anew at every start and never stored, so the key dies with the process. */
const LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
/** Covers clock skew between the injector and the apiserver. */
const BACKDATE_MS = 60 * 1000;

export interface ServingTls {
  /** The CA the MutatingWebhookConfiguration's caBundle carries. */
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * The webhook's own TLS: a self-signed CA and a serving certificate for `names` (DNS names and IPs,
 * e.g. the Service's `name.namespace.svc`), both ECDSA P-256, in memory. The apiserver trusts the CA
 * through the caBundle the injector keeps in its MutatingWebhookConfiguration; nothing else does.
 */
export async function createServingTls(names: readonly string[], now: number): Promise<ServingTls> {
  const caKeys = await subtle.generateKey(EC, true, ['sign', 'verify']);
  const window = { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + LIFETIME_MS) };
  const ca = await X509CertificateGenerator.createSelfSigned({
    name: [{ CN: ['kube-join injector CA'] }, { O: ['kube-join'] }],
    ...window,
    keys: caKeys,
    signingAlgorithm: SIGNING,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign, true),
      await SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = await subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await X509CertificateGenerator.create({
    subject: [{ CN: [names[0] ?? 'kube-join-injector'] }, { O: ['kube-join'] }],
    issuer: ca.subjectName,
    ...window,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
      new SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) !== 0 ? ('ip' as const) : ('dns' as const), value: n })), false),
      await AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  return { caPem: ca.toString('pem') + '\n', certPem: cert.toString('pem') + '\n', keyPem: privateKeyPem(await subtle.exportKey('pkcs8', keys.privateKey)) };
}
