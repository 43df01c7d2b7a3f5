import { createHash } from 'node:crypto';
import type { X509Certificate } from './x509.ts';

/** WebCrypto, typed as the DOM's (the types @peculiar/x509 speaks). */
export const subtle: SubtleCrypto = globalThis.crypto.subtle;

/** `sha256:<hex>` of a certificate's SubjectPublicKeyInfo: the form `--ca-pin` takes (as kubeadm's CA hash). */
export function spkiPin(cert: X509Certificate): string {
  return `sha256:${createHash('sha256').update(new Uint8Array(cert.publicKey.rawData)).digest('hex')}`;
}

/** DER SubjectPublicKeyInfo of a key pair's public half, to compare a certificate with the key it is for. */
export async function spkiOf(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle.exportKey('spki', key));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
