// The public key of a PodCertificateRequest and the proof that the kubelet holds its private key, for both
// shapes of the API: a stub PKCS#10 request (v1, and v1beta1 from 1.37) or pkixPublicKey + proofOfPossession
// (v1beta1's first shape). kube-apiserver checks both at creation; the signer checks again, so that a
// signature never rests on an API server flag or version it cannot see.
import { createPublicKey, verify, constants, type KeyObject } from 'node:crypto';
import { Pkcs10CertificateRequest } from '../../common/x509.ts';
import type { KeyVerdict } from './policy.ts';

/** The key fields of a PodCertificateRequest spec, base64 as JSON carries them. */
export interface PcrKeyFields {
  podUid: string;
  stubPKCS10Request?: string | undefined;
  pkixPublicKey?: string | undefined;
  proofOfPossession?: string | undefined;
}

/** A proven key travels as its DER SubjectPublicKeyInfo: what the certificate carries. */
export type RequestKey = { verdict: { ok: true }; spki: Uint8Array } | { verdict: Exclude<KeyVerdict, { ok: true }> };

/** The key types this signer issues to, named as the podCertificate volume's keyType names them. */
export const SUPPORTED_KEY_TYPES = ['ECDSAP256', 'ECDSAP384', 'RSA3072', 'RSA4096'] as const;

function keyTypeOf(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return { prime256v1: 'ECDSAP256', secp384r1: 'ECDSAP384', secp521r1: 'ECDSAP521' }[details.namedCurve ?? ''] ?? `ECDSA ${details.namedCurve}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA${details.modulusLength}`;
  return (key.asymmetricKeyType ?? 'unknown').toUpperCase();
}

const unsupported = (keyType: string): RequestKey => ({
  verdict: { ok: false, reason: 'UnsupportedKeyType', message: `key type ${keyType} is not issued by kube-join; set keyType to one of ${SUPPORTED_KEY_TYPES.join(', ')} (ECDSAP256 is the default of kube-join's agent)` },
});
const badProof = (message: string): RequestKey => ({ verdict: { ok: false, reason: 'InvalidProofOfPossession', message } });

/** Reads and checks the request's key: its type first, then the proof of possession. */
export async function requestKey(fields: PcrKeyFields): Promise<RequestKey> {
  let spki: Buffer;
  let csr: Pkcs10CertificateRequest | undefined;
  if (fields.stubPKCS10Request) {
    try {
      csr = new Pkcs10CertificateRequest(Buffer.from(fields.stubPKCS10Request, 'base64'));
      spki = Buffer.from(csr.publicKey.rawData);
    } catch {
      return badProof('spec.stubPKCS10Request is not a PKCS#10 certificate request');
    }
  } else if (fields.pkixPublicKey && fields.proofOfPossession) {
    spki = Buffer.from(fields.pkixPublicKey, 'base64');
  } else {
    return badProof('the request carries neither stubPKCS10Request nor pkixPublicKey with proofOfPossession');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    return badProof('the request\'s public key is not a PKIX SubjectPublicKeyInfo');
  }
  const keyType = keyTypeOf(key);
  if (!(SUPPORTED_KEY_TYPES as readonly string[]).includes(keyType)) return unsupported(keyType);

  if (csr !== undefined) {
    const ok = await csr.verify().catch(() => false);
    if (!ok) return badProof('the signature of spec.stubPKCS10Request does not verify with its public key');
  } else {
    // v1beta1: the key signed the ASCII pod UID, ECDSA (ASN.1) or RSASSA-PSS, over SHA-256.
    const proof = Buffer.from(fields.proofOfPossession as string, 'base64');
    const data = Buffer.from(fields.podUid, 'ascii');
    const ok = key.asymmetricKeyType === 'rsa'
      ? verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, proof)
      : verify('sha256', data, { key, dsaEncoding: 'der' }, proof);
    if (!ok) return badProof(`spec.proofOfPossession is not a signature of the pod UID ${fields.podUid} by spec.pkixPublicKey`);
  }
  return { verdict: { ok: true }, spki: new Uint8Array(spki) };
}
