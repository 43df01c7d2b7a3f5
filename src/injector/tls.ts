import { isIP } from 'node:net';
import { subtle } from '../common/crypto.ts';
import { privateKeyPem } from '../common/pem.ts';
import { BACKDATE_MS, CA_KEY_ALGORITHM, CA_SIGNING, createSelfSignedCa, type CaPem } from '../common/self-signed-ca.ts';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '../common/x509.ts';

/** The CA outlives the processes; each makes its serving certificate at start and renews it (renewal.ts). */
const CA_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
export const SERVING_LIFETIME_MS = 30 * 24 * 3600 * 1000;

/** The injector's CA as PEM: what a Secret shares between replicas. */
export type InjectorCa = CaPem;

export interface ServingTls {
  /** The CA the MutatingWebhookConfiguration's caBundle carries. */
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Milliseconds since the epoch. */
  notAfter: number;
}

/** A self-signed CA that signs the webhook's serving certificates and nothing else. */
export function createInjectorCa(now: number): Promise<InjectorCa> {
  return createSelfSignedCa({ name: [{ CN: ['kube-join injector CA'] }, { O: ['kube-join'] }], now, lifetimeMs: CA_LIFETIME_MS });
}

/**
 * A serving certificate for `names` (DNS names and IPs, e.g. the Service's `name.namespace.svc`),
 * signed by `ca`, with a fresh key that stays in memory. The apiserver trusts it through the caBundle
 * the injector keeps in its MutatingWebhookConfiguration; nothing else does.
 */
export async function issueServingTls(ca: InjectorCa, names: readonly string[], now: number): Promise<ServingTls> {
  const caCert = new X509Certificate(ca.certPem);
  const caKey = await subtle.importKey('pkcs8', PemConverter.decodeFirst(ca.keyPem), CA_KEY_ALGORITHM, false, ['sign']);
  const keys = await subtle.generateKey(CA_KEY_ALGORITHM, true, ['sign', 'verify']);
  const notAfter = Math.min(now + SERVING_LIFETIME_MS, caCert.notAfter.getTime());
  const cert = await X509CertificateGenerator.create({
    subject: [{ CN: [names[0] ?? 'kube-join-injector'] }, { O: ['kube-join'] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: CA_SIGNING,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
      new SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) !== 0 ? ('ip' as const) : ('dns' as const), value: n })), false),
      await AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { caPem: ca.certPem, certPem: cert.toString('pem') + '\n', keyPem: privateKeyPem(await subtle.exportKey('pkcs8', keys.privateKey)), notAfter };
}
