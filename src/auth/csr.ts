import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { PemConverter } from '../common/x509.ts';
import { ProblemError } from './errors.ts';

/** Hash of each CSR signature algorithm accepted: ECDSA and RSA PKCS#1 v1.5 over SHA-2 (what agents make). */
const SIGNATURE_HASHES = new Map<string, string>([
  ['1.2.840.10045.4.3.2', 'sha256'],
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
  ['1.2.840.113549.1.1.11', 'sha256'],
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
]);

/** Key types a leaf may have: what the agent generates, plus P-384. `source` names where the key came from. */
function checkKey(key: KeyObject, source: string): void {
  const type = key.asymmetricKeyType;
  const { namedCurve, modulusLength } = key.asymmetricKeyDetails ?? {};
  if (type === 'ec' && (namedCurve === 'prime256v1' || namedCurve === 'secp384r1')) return;
  if ((type === 'rsa' || type === 'rsa-pss') && (modulusLength ?? 0) >= 2048) return;
  throw new ProblemError('csr_invalid', 400, `${source} key type ${type ?? 'unknown'}${namedCurve ? ` ${namedCurve}` : ''}${modulusLength ? ` ${modulusLength}` : ''} is not accepted (ECDSA P-256/P-384 or RSA >= 2048)`);
}

const notACsr = (cause?: unknown) => new ProblemError('csr_invalid', 400, 'csr is not a PKCS#10 certificate request', cause === undefined ? undefined : { cause });

/** The key a leaf is issued for, whose possession the caller proved (a CSR's signature, a PodCertificateRequest's). */
export interface LeafKey {
  key: KeyObject;
  /** Its DER SubjectPublicKeyInfo, as the CSR carries it (and so the certificate will). */
  spki: Uint8Array;
  /** The subjectPublicKey bits of `spki` (what a key identifier hashes). */
  subjectPublicKey: Uint8Array;
}

/**
 * The public key of a PKCS#10 request, once its signature (the proof of key possession) verifies. Only
 * the key is read: subject, attributes and requested extensions are ignored. Parsed with asn1js and
 * checked with node:crypto, which costs a fraction of @peculiar/x509's schema engine on the join path.
 * Throws csr_invalid (400).
 */
export function verifiedCsrKey(csrPem: string): LeafKey {
  let der: ArrayBuffer;
  try {
    der = PemConverter.decodeFirst(csrPem);
  } catch (err) {
    throw notACsr(err);
  }
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    // asn1js throws, rather than reporting, on some malformed contents (a GeneralizedTime, say).
    parsed = asn1js.fromBER(der);
  } catch (err) {
    throw notACsr(err);
  }
  const [info, algorithm, signature] = parsed.offset === der.byteLength && parsed.result instanceof asn1js.Sequence ? parsed.result.valueBlock.value : [];
  const spki = info instanceof asn1js.Sequence ? info.valueBlock.value[2] : undefined;
  const bits = spki instanceof asn1js.Sequence ? spki.valueBlock.value[1] : undefined;
  const oid = algorithm instanceof asn1js.Sequence ? algorithm.valueBlock.value[0] : undefined;
  if (info === undefined || spki === undefined || !(bits instanceof asn1js.BitString) || !(oid instanceof asn1js.ObjectIdentifier) || !(signature instanceof asn1js.BitString)) throw notACsr();
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki.valueBeforeDecodeView), format: 'der', type: 'spki' });
  } catch (err) {
    throw notACsr(err);
  }
  const hash = SIGNATURE_HASHES.get(oid.valueBlock.toString());
  if (hash === undefined) throw new ProblemError('csr_invalid', 400, `csr signature algorithm ${oid.valueBlock.toString()} is not accepted (ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512)`);
  let ok = false;
  try {
    ok = verify(hash, info.valueBeforeDecodeView, key, signature.valueBlock.valueHexView);
  } catch (err) {
    throw new ProblemError('csr_invalid', 400, 'csr signature does not verify (proof of key possession failed)', { cause: err });
  }
  if (!ok) throw new ProblemError('csr_invalid', 400, 'csr signature does not verify (proof of key possession failed)');
  checkKey(key, 'CSR');
  return { key, spki: spki.valueBeforeDecodeView, subjectPublicKey: bits.valueBlock.valueHexView };
}

/** A DER SubjectPublicKeyInfo whose possession was proven elsewhere, as a leaf key. Throws csr_invalid (400). */
export function leafKeyOfSpki(spki: Uint8Array): LeafKey {
  const parsed = asn1js.fromBER(spki);
  const bits = parsed.offset === spki.byteLength && parsed.result instanceof asn1js.Sequence ? parsed.result.valueBlock.value[1] : undefined;
  if (!(bits instanceof asn1js.BitString)) throw new ProblemError('csr_invalid', 400, 'the public key is not a SubjectPublicKeyInfo');
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  checkKey(key, 'the request\'s');
  return { key, spki, subjectPublicKey: bits.valueBlock.valueHexView };
}
