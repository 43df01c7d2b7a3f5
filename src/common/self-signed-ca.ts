import { subtle } from './crypto.ts';
import { privateKeyPem } from './pem.ts';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, SubjectKeyIdentifierExtension, X509CertificateGenerator, type JsonName } from './x509.ts';

/** The key type and signature of every CA kube-join makes. */
export const CA_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams;
export const CA_SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams;
/** Backdating covers clock skew between the signer and whoever checks the certificate. */
export const BACKDATE_MS = 60 * 1000;

/** A CA as PEM text: what storage or a Secret keeps. */
export interface CaPem {
  certPem: string;
  keyPem: string;
}

/**
 * A self-signed ECDSA P-256 root: CA:true with path length 0 (it signs leaves only), keyCertSign and
 * cRLSign, a subject key identifier; notBefore backdated for clock skew.
 */
export async function createSelfSignedCa(options: { name: JsonName; now: number; lifetimeMs: number }): Promise<CaPem> {
  const keys = await subtle.generateKey(CA_KEY_ALGORITHM, true, ['sign', 'verify']);
  const cert = await X509CertificateGenerator.createSelfSigned({
    name: options.name,
    notBefore: new Date(options.now - BACKDATE_MS),
    notAfter: new Date(options.now + options.lifetimeMs),
    keys,
    signingAlgorithm: CA_SIGNING,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: privateKeyPem(await subtle.exportKey('pkcs8', keys.privateKey)) };
}
