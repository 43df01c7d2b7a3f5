import { createPrivateKey, createPublicKey } from 'node:crypto';
import { X509Certificate } from '../common/x509.ts';
import { bytesEqual, spkiOf } from '../common/crypto.ts';
import { parseCertificates, toPemBundle } from '../common/pem.ts';
import type { Identity, JoinResponse } from '../protocol/index.ts';
import { IssuedCertInvalidError } from './errors.ts';
import { exportPrivateKeyPem, type KeyMaterial } from './keys.ts';
import type { SetFile } from './writer.ts';
import { readCurrentSet } from './writer.ts';
import type { Validity } from '../common/renewal.ts';

export const FILE_KEY = 'tls.key';
export const FILE_CERT = 'tls.crt';
export const FILE_CA = 'ca.crt';
export const FILE_BUNDLE = 'bundle.pem';
export const FILE_IDENTITY = 'identity.json';

/**
 * What the agent holds after a join, or finds on disk at start. `notBefore` is the later of the
 * certificate's and the time it was received.
 */
export interface HeldCredential extends Validity {
  serial: string;
  roles: readonly string[];
  spiffeId: string;
  /** Key and chain as PEM: presented as the client certificate of a renewal by identity. */
  tls: ClientTls;
  /**
   * The CA bundle that came with the certificate, over a connection already verified: with pins, the
   * agent trusts it too, so a CA rotation (new CA first in the bundle, then serving) keeps it joining.
   */
  caBundlePem: string;
}

/** A client certificate for mutual TLS, as PEM. */
export interface ClientTls {
  keyPem: string;
  certPem: string;
}

/** Contents of identity.json: what an app needs to know without parsing X.509. */
export interface IdentityFile extends Identity {
  notBefore: string;
  notAfter: string;
  serial: string;
}

/**
 * Checks an issued set against the key that asked for it, before anything touches disk (as
 * csi-driver-spiffe's writeKeypair does): the leaf must carry our public key, chain to the returned CA
 * bundle, and be valid now. Returns the files to write.
 */
export async function prepareCredentialSet(
  response: JoinResponse,
  material: KeyMaterial,
  options: { now: number; group: number | undefined; writeBundle: boolean },
): Promise<{ files: SetFile[]; held: HeldCredential }> {
  let chain: X509Certificate[];
  let cas: X509Certificate[];
  try {
    chain = parseCertificates(response.certificateChain);
    cas = parseCertificates(response.caBundle);
  } catch (err) {
    throw new IssuedCertInvalidError('certificate chain or CA bundle is not valid PEM', err);
  }
  const leaf = chain[0] as X509Certificate;
  if (!bytesEqual(new Uint8Array(leaf.publicKey.rawData), await spkiOf(material.keys.publicKey))) {
    throw new IssuedCertInvalidError('the certificate is not for the key this agent generated');
  }
  const issuers = [...chain.slice(1), ...cas];
  let cursor = leaf;
  for (let depth = 0; ; depth++) {
    if (depth > 8) throw new IssuedCertInvalidError('certificate chain is longer than 8');
    const issuer = issuers.find((c) => c.subject === cursor.issuer);
    if (issuer === undefined || !(await cursor.verify({ publicKey: issuer, signatureOnly: true }))) {
      throw new IssuedCertInvalidError(`certificate "${cursor.subject}" does not verify against the returned CA bundle`);
    }
    if (cas.some((ca) => ca.subject === issuer.subject && bytesEqual(new Uint8Array(ca.rawData), new Uint8Array(issuer.rawData)))) break;
    cursor = issuer;
  }
  // Scheduling counts the lifetime from when the agent got the certificate: a server that backdates
  // notBefore for clock skew would otherwise pull every renewal earlier (to "now" for short TTLs).
  const validity = { notBefore: Math.max(leaf.notBefore.getTime(), Math.min(options.now, leaf.notAfter.getTime())), notAfter: leaf.notAfter.getTime() };
  if (validity.notAfter <= options.now) throw new IssuedCertInvalidError(`certificate already expired at ${leaf.notAfter.toISOString()}`);

  const keyPem = await exportPrivateKeyPem(material);
  const chainPem = toPemBundle(chain);
  const keyMode = options.group === undefined ? 0o600 : 0o640;
  const identity: IdentityFile = {
    ...response.identity,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    serial: leaf.serialNumber,
  };
  const files: SetFile[] = [
    { name: FILE_KEY, data: keyPem, mode: keyMode },
    { name: FILE_CERT, data: chainPem, mode: 0o644 },
    { name: FILE_CA, data: toPemBundle(cas), mode: 0o644 },
    { name: FILE_IDENTITY, data: JSON.stringify(identity, null, 2) + '\n', mode: 0o644 },
  ];
  if (options.writeBundle) files.push({ name: FILE_BUNDLE, data: keyPem + chainPem, mode: keyMode });
  return {
    files,
    held: { ...validity, serial: leaf.serialNumber, roles: response.identity.roles, spiffeId: response.identity.spiffeId, tls: { keyPem, certPem: chainPem }, caBundlePem: toPemBundle(cas) },
  };
}

/** What start-up found in the output directory; every case is logged by name. */
export type ExistingSet =
  | { state: 'none' }
  | { state: 'unreadable'; reason: string }
  | { state: 'mismatched' }
  | { state: 'expired'; held: HeldCredential }
  | { state: 'valid'; held: HeldCredential };

/**
 * Looks at the set already on the shared volume (a restarted sidecar): a valid pair is reused until
 * its renewal time; anything else means join now.
 */
export async function inspectExistingSet(dir: string, now: number): Promise<ExistingSet> {
  let set: Map<string, Buffer> | undefined;
  try {
    set = await readCurrentSet(dir, [FILE_KEY, FILE_CERT, FILE_CA, FILE_IDENTITY]);
  } catch (err) {
    return { state: 'unreadable', reason: (err as Error).message };
  }
  if (set === undefined) return { state: 'none' };
  try {
    const leaf = parseCertificates((set.get(FILE_CERT) as Buffer).toString('utf8'))[0] as X509Certificate;
    const keySpki = createPublicKey(createPrivateKey(set.get(FILE_KEY) as Buffer)).export({ type: 'spki', format: 'der' });
    if (!bytesEqual(new Uint8Array(keySpki), new Uint8Array(leaf.publicKey.rawData))) return { state: 'mismatched' };
    const identity = JSON.parse((set.get(FILE_IDENTITY) as Buffer).toString('utf8')) as IdentityFile;
    const caBundlePem = (set.get(FILE_CA) as Buffer).toString('utf8');
    parseCertificates(caBundlePem);
    const held: HeldCredential = {
      notBefore: leaf.notBefore.getTime(),
      notAfter: leaf.notAfter.getTime(),
      serial: leaf.serialNumber,
      roles: identity.roles ?? [],
      spiffeId: identity.spiffeId ?? '',
      tls: { keyPem: (set.get(FILE_KEY) as Buffer).toString('utf8'), certPem: (set.get(FILE_CERT) as Buffer).toString('utf8') },
      caBundlePem,
    };
    return held.notAfter <= now ? { state: 'expired', held } : { state: 'valid', held };
  } catch (err) {
    return { state: 'unreadable', reason: (err as Error).message };
  }
}
