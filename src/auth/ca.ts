import { createPrivateKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate,
  X509CertificateGenerator,
  PemConverter,
  type JsonName,
} from '../common/x509.ts';
import { subtle } from '../common/crypto.ts';
import { privateKeyPem } from '../common/pem.ts';
import { BACKDATE_MS, CA_KEY_ALGORITHM, CA_SIGNING, createSelfSignedCa } from '../common/self-signed-ca.ts';
import { JOIN_BINDING_EXTENSION_OID, ROLES_EXTENSION_OID, authSpiffeIdFor, spiffeIdFor } from '../protocol/index.ts';
import { ProblemError } from './errors.ts';
import { leafKeyOfSpki, verifiedCsrKey, type LeafKey } from './csr.ts';
import { randomSerialSeed, signLeaf, type IssuedLeaf } from './leaf-der.ts';
import { readLeafFields } from './leaf-read.ts';
import { NAMESPACE_NAME, SUBDOMAIN_NAME } from './kube-names.ts';

const CA_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
/** The serving certificate is made anew at every start, so a year is never reached in practice. */
const SERVING_LIFETIME_MS = 365 * 24 * 3600 * 1000;
export { BACKDATE_MS };

/** The CA as storage keeps it: PEM text only. */
export interface StoredCa {
  certPem: string;
  keyPem: string;
}

/** A loaded CA, ready to sign. */
export interface CertificateAuthority {
  cert: X509Certificate;
  key: CryptoKey;
  certPem: string;
  /** Computed once: every leaf carries the same one. */
  authorityKeyIdentifier: AuthorityKeyIdentifierExtension;
  /** `key` for node:crypto, which signs leaves synchronously (src/auth/leaf-der.ts). */
  signingKey: KeyObject;
}

/**
 * A new self-signed CA. A CA made by a rotation has its creation time in its CN: the old and new CAs share a
 * bundle, and chain building (OpenSSL's, the agent's) picks issuers by subject name, so no two may
 * share one.
 */
export function createCa(clusterName: string, now: number, options: { rotated?: boolean } = {}): Promise<StoredCa> {
  const suffix = options.rotated ? ` ${new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z')}` : '';
  return createSelfSignedCa({ name: [{ CN: [`kube-join CA ${clusterName}${suffix}`] }, { O: ['kube-join'] }], now, lifetimeMs: CA_LIFETIME_MS });
}

/** What differs between the certificates the CA signs: the rest (issuer, algorithm, backdating) is fixed. */
export interface CertSpec {
  subject: JsonName;
  publicKey: CryptoKey;
  now: number;
  lifetimeMs: number;
  extensions: Extension[];
}

/**
 * Signs a certificate with the CA's key: ECDSA P-256 / SHA-256, issuer = the CA, notBefore backdated
 * for clock skew. The one path by which the CA signs anything (leaves, the serving certificate, the
 * admin identity).
 */
export function signCert(ca: CertificateAuthority, spec: CertSpec): Promise<X509Certificate> {
  return X509CertificateGenerator.create({
    subject: spec.subject,
    issuer: ca.cert.subjectName,
    notBefore: new Date(spec.now - BACKDATE_MS),
    notAfter: new Date(spec.now + spec.lifetimeMs),
    publicKey: spec.publicKey,
    signingKey: ca.key,
    signingAlgorithm: CA_SIGNING,
    extensions: spec.extensions,
  });
}

export async function loadCa(stored: StoredCa): Promise<CertificateAuthority> {
  const cert = new X509Certificate(stored.certPem);
  const pkcs8 = PemConverter.decodeFirst(stored.keyPem);
  const key = await subtle.importKey('pkcs8', pkcs8, CA_KEY_ALGORITHM, false, ['sign']);
  const signingKey = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  return { cert, key, certPem: stored.certPem.endsWith('\n') ? stored.certPem : stored.certPem + '\n', authorityKeyIdentifier: await AuthorityKeyIdentifierExtension.create(cert), signingKey };
}

/** DER of SEQUENCE OF UTF8String: the roles extension's value. */
export function encodeRoles(roles: readonly string[]): ArrayBuffer {
  return new asn1js.Sequence({ value: roles.map((r) => new asn1js.Utf8String({ value: r })) }).toBER(false);
}

/** DER of the join binding extension: SEQUENCE { podUid UTF8String, tokenName UTF8String }. */
export function encodeJoinBinding(binding: { podUid: string; tokenName: string }): ArrayBuffer {
  return new asn1js.Sequence({ value: [new asn1js.Utf8String({ value: binding.podUid }), new asn1js.Utf8String({ value: binding.tokenName })] }).toBER(false);
}

/** Reads the join binding of a leaf; undefined when absent or not of that shape. */
export function decodeJoinBinding(cert: X509Certificate): { podUid: string; tokenName: string } | undefined {
  return joinBindingOf(cert.getExtension(JOIN_BINDING_EXTENSION_OID)?.value);
}

function joinBindingOf(value: ArrayBuffer | undefined): { podUid: string; tokenName: string } | undefined {
  if (value === undefined) return undefined;
  const parsed = asn1js.fromBER(value);
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence)) return undefined;
  const [podUid, tokenName] = parsed.result.valueBlock.value;
  if (!(podUid instanceof asn1js.Utf8String) || !(tokenName instanceof asn1js.Utf8String)) return undefined;
  return { podUid: podUid.valueBlock.value, tokenName: tokenName.valueBlock.value };
}

/** What a workload certificate presented on a renewal says: the pod and join it was issued for. */
export interface PresentedLeaf {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
  tokenName: string;
  roles: string[];
}

/**
 * Reads a client certificate the TLS layer has verified against this CA as a workload leaf of
 * `trustDomain`; undefined for anything else (the admin identity, a leaf of an older release without
 * the join binding, another trust domain), which then joins as a first join.
 */
export function readPresentedLeaf(der: Uint8Array<ArrayBuffer>, trustDomain: string): PresentedLeaf | undefined {
  try {
    const cert = readLeafFields(der);
    const m = cert.uris.length === 1 ? /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(cert.uris[0] as string) : null;
    const binding = joinBindingOf(cert.extensions.get(JOIN_BINDING_EXTENSION_OID));
    const podName = cert.commonName;
    const roles = rolesOf(cert.extensions.get(ROLES_EXTENSION_OID));
    if (m === null || m[1] !== trustDomain || binding === undefined || podName === undefined || roles === undefined) return undefined;
    return { namespace: m[2] as string, serviceAccount: m[3] as string, podName, podUid: binding.podUid, tokenName: binding.tokenName, roles };
  } catch {
    return undefined;
  }
}

/** Reads the roles extension of a leaf; undefined when absent. */
export function decodeRoles(cert: X509Certificate): string[] | undefined {
  return rolesOf(cert.getExtension(ROLES_EXTENSION_OID)?.value);
}

function rolesOf(value: ArrayBuffer | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const parsed = asn1js.fromBER(value);
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence)) throw new Error('roles extension is not a SEQUENCE');
  return parsed.result.valueBlock.value.map((v) => (v as asn1js.Utf8String).valueBlock.value);
}

/**
 * The one URI SAN a workload leaf carries. decideJoin has checked the names already; the signer checks
 * again, so that no caller can mint the auth service's identity (or any other path) into a workload
 * certificate.
 */
function workloadSpiffeId(req: Omit<LeafRequest, 'csrPem'>): string {
  if (!NAMESPACE_NAME.test(req.namespace) || !SUBDOMAIN_NAME.test(req.serviceAccount)) {
    throw new ProblemError('kube_token_invalid', 401, 'the ServiceAccount token names a namespace or ServiceAccount that is not a valid Kubernetes name');
  }
  const spiffeId = spiffeIdFor(req.trustDomain, req.namespace, req.serviceAccount);
  if (spiffeId === authSpiffeIdFor(req.trustDomain)) throw new ProblemError('internal', 500, 'refusing to issue the auth service identity to a workload');
  return spiffeId;
}

export interface LeafRequest {
  csrPem: string;
  hostId: string;
  /** The join binding: the pod UID the token proved and the provision token it joined through. */
  binding: { podUid: string; tokenName: string };
  namespace: string;
  serviceAccount: string;
  roles: readonly string[];
  trustDomain: string;
  ttlMs: number;
  now: number;
}

/**
 * Signs a leaf for a proven workload. From the CSR only the public key is taken, after its signature
 * (proof of possession) verifies; subject, SANs and extensions come from the proven identity, never
 * from the request (an allowlist, as csi-driver-spiffe's approver does).
 */
export async function issueLeaf(ca: CertificateAuthority, req: LeafRequest): Promise<IssuedLeaf> {
  return signWorkloadLeaf(ca, verifiedCsrKey(req.csrPem), req);
}

/**
 * The same leaf for a public key whose possession the caller has proven another way (a verified
 * PodCertificateRequest, for the podCertificate signer).
 */
export function issueLeafForKey(ca: CertificateAuthority, spki: Uint8Array, req: Omit<LeafRequest, 'csrPem'>): IssuedLeaf {
  return signWorkloadLeaf(ca, leafKeyOfSpki(spki), req);
}

/** The one workload leaf builder: every field but the key comes from the proven identity. */
function signWorkloadLeaf(ca: CertificateAuthority, key: LeafKey, req: Omit<LeafRequest, 'csrPem'>): IssuedLeaf {
  const spiffeId = workloadSpiffeId(req);
  return signLeaf(ca, {
    serialSeed: randomSerialSeed(),
    notBefore: new Date(req.now - BACKDATE_MS),
    notAfter: new Date(req.now + req.ttlMs),
    commonName: req.hostId,
    organization: req.trustDomain,
    organizationalUnits: req.roles,
    spki: key.spki,
    subjectPublicKey: key.subjectPublicKey,
    // RSA keys also need keyEncipherment for TLS 1.2 RSA key exchange.
    keyEncipherment: key.key.asymmetricKeyType !== 'ec',
    spiffeId,
    rolesValue: encodeRoles(req.roles),
    bindingValue: encodeJoinBinding(req.binding),
  });
}

/**
 * The auth service's own serving certificate, made at start, kept in memory only. Besides its DNS
 * names and IPs it carries the auth identity `spiffe://<trustDomain>/kube-join/auth`, which agents
 * require before they send a token and which no workload leaf can carry.
 */
export async function issueServingCert(ca: CertificateAuthority, names: readonly string[], trustDomain: string, now: number): Promise<{ certPem: string; keyPem: string }> {
  const keys = await subtle.generateKey(CA_KEY_ALGORITHM, true, ['sign', 'verify']);
  const isIp = (n: string) => isIP(n) !== 0;
  const cert = await signCert(ca, {
    subject: [{ CN: [names[0] ?? 'kube-join-auth'] }, { O: ['kube-join'] }],
    now,
    lifetimeMs: SERVING_LIFETIME_MS,
    publicKey: keys.publicKey,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
      new SubjectAlternativeNameExtension([
        { type: 'url', value: authSpiffeIdFor(trustDomain) },
        ...names.map((n) => ({ type: isIp(n) ? ('ip' as const) : ('dns' as const), value: n })),
      ], false),
      ca.authorityKeyIdentifier,
    ],
  });
  return { certPem: cert.toString('pem') + '\n' + ca.certPem, keyPem: privateKeyPem(await subtle.exportKey('pkcs8', keys.privateKey)) };
}
