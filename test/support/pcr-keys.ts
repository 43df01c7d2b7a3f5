// Keys as a kubelet makes them for a PodCertificateRequest: a stub PKCS#10 request (v1; v1beta1 from 1.37),
// or a PKIX public key with a proof of possession over the pod UID (v1beta1's first shape).
import { generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { Pkcs10CertificateRequestGenerator } from '../../src/common/x509.ts';
import { subtle } from '../../src/common/crypto.ts';

export type KeyType = 'ECDSAP256' | 'ECDSAP384' | 'ECDSAP521' | 'RSA3072';

const EC = { ECDSAP256: ['P-256', 'SHA-256'], ECDSAP384: ['P-384', 'SHA-384'], ECDSAP521: ['P-521', 'SHA-512'] } as const;

/** An empty, self-signed PKCS#10 request of a fresh key, base64 DER as the API carries it, and the key's SPKI (DER). */
export async function stubCsr(keyType: KeyType): Promise<{ stubPKCS10Request: string; spki: Buffer }> {
  const [alg, keys] = keyType === 'RSA3072'
    ? [{ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 3072 }, true, ['sign', 'verify'])]
    : [{ name: 'ECDSA', hash: EC[keyType][1] }, await subtle.generateKey({ name: 'ECDSA', namedCurve: EC[keyType][0] }, true, ['sign', 'verify'])];
  const csr = await Pkcs10CertificateRequestGenerator.create({ keys: keys as CryptoKeyPair, signingAlgorithm: alg });
  return { stubPKCS10Request: Buffer.from(csr.rawData).toString('base64'), spki: Buffer.from(csr.publicKey.rawData) };
}

/** The stub request with one bit of its signature flipped: the key no longer proves it signed it. */
export function corruptSignature(stubPKCS10Request: string): string {
  const der = Buffer.from(stubPKCS10Request, 'base64');
  const last = der.length - 1;
  der[last] = (der[last] as number) ^ 0x01;
  return der.toString('base64');
}

/** v1beta1's pkixPublicKey + proofOfPossession (ECDSA P-256 over SHA-256 of the ASCII pod UID), or a proof over `signedUid`. */
export function pkixWithProof(podUid: string, signedUid = podUid): { pkixPublicKey: string; proofOfPossession: string; spki: Buffer } {
  const { publicKey, privateKey }: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const proof = sign('sha256', Buffer.from(signedUid, 'ascii'), { key: privateKey, dsaEncoding: 'der' });
  return { pkixPublicKey: spki.toString('base64'), proofOfPossession: proof.toString('base64'), spki };
}
