import { Pkcs10CertificateRequestGenerator } from '../common/x509.ts';
import { subtle } from '../common/crypto.ts';
import { privateKeyPem } from '../common/pem.ts';

export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048' | 'rsa-3072';

export interface KeyMaterial {
  keys: CryptoKeyPair;
  algorithm: KeyAlgorithm;
  /** Signature algorithm for the CSR, matching the key. */
  signingAlgorithm: EcdsaParams | Algorithm;
}

/** A fresh key pair for every join: a renewal never reuses the previous key (as SPIRE and tbot do). */
export async function generateKey(algorithm: KeyAlgorithm): Promise<KeyMaterial> {
  if (algorithm === 'ecdsa-p256') {
    const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    return { keys, algorithm, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams };
  }
  const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: algorithm === 'rsa-3072' ? 3072 : 2048 };
  const keys = await subtle.generateKey(rsa, true, ['sign', 'verify']);
  return { keys, algorithm, signingAlgorithm: rsa };
}

/**
 * A PKCS#10 request signed by the new key: it proves possession. The auth service ignores its subject
 * and sets its own, so the CN here is informational only.
 */
export async function createCsrPem(material: KeyMaterial, hostId: string): Promise<string> {
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [hostId] }],
    keys: material.keys,
    signingAlgorithm: material.signingAlgorithm,
  });
  return csr.toString('pem');
}

export async function exportPrivateKeyPem(material: KeyMaterial): Promise<string> {
  return privateKeyPem(await subtle.exportKey('pkcs8', material.keys.privateKey));
}
