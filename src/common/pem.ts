import { PemConverter, X509Certificate } from './x509.ts';

/** Splits a PEM bundle into certificates; throws on anything that is not a certificate. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = PemConverter.decodeWithHeaders(pem);
  if (blocks.length === 0) throw new Error('no PEM block found');
  return blocks.map((block) => {
    if (block.type !== 'CERTIFICATE') throw new Error(`unexpected PEM block "${block.type}"`);
    return new X509Certificate(block.rawData);
  });
}

/** Encodes certificates as one PEM bundle, one block each, ending with a newline. */
export function toPemBundle(certs: readonly X509Certificate[]): string {
  return certs.map((c) => c.toString('pem')).join('\n') + '\n';
}

/** Encodes a PKCS#8 private key as PEM. */
export function privateKeyPem(pkcs8: ArrayBuffer): string {
  return PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n';
}
