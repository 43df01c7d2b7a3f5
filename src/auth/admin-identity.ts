import { readFile } from 'node:fs/promises';
import { makeDirs, writeFileAtomic } from '../common/fs.ts';
import { subtle } from '../common/crypto.ts';
import { privateKeyPem } from '../common/pem.ts';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  X509Certificate,
} from '../common/x509.ts';
import { ADMIN_EXTENSION_OID, adminIdentityFiles, stateDirPaths } from '../protocol/index.ts';
import { signCert, type CertificateAuthority } from './ca.ts';

const ADMIN_LIFETIME_MS = 365 * 24 * 3600 * 1000;

/** Whether a (DER) client certificate is an admin identity. The TLS layer has already checked its chain. */
export function isAdminCertificate(der: Uint8Array<ArrayBuffer>): boolean {
  try {
    return new X509Certificate(der).getExtension(ADMIN_EXTENSION_OID) !== null;
  } catch {
    return false;
  }
}

/**
 * Makes sure `<stateDir>/admin` holds a client identity for the admin API, signed by `ca` and valid for
 * at least a month more; writes a new one otherwise (key 0600). Its `ca.crt` is `bundlePem`, every CA
 * the server may present during a rotation. Like tctl inside the auth pod, the token commands find it
 * there with no flags.
 */
export async function ensureAdminIdentity(stateDir: string, ca: CertificateAuthority, now: number, bundlePem: string): Promise<{ dir: string; created: boolean }> {
  const dir = stateDirPaths(stateDir).adminIdentity;
  const paths = adminIdentityFiles(dir);
  try {
    const existing = new X509Certificate(await readFile(paths.cert, 'utf8'));
    const chained = existing.issuer === ca.cert.subject && (await existing.verify({ publicKey: ca.cert, signatureOnly: true }));
    if (chained && existing.notAfter.getTime() - now > 30 * 24 * 3600 * 1000) {
      if ((await readFile(paths.ca, 'utf8').catch(() => '')) !== bundlePem) await writeFileAtomic(paths.ca, bundlePem, 0o644);
      return { dir, created: false };
    }
  } catch {
    // Absent or unreadable: make a new one below.
  }
  const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const cert = await signCert(ca, {
    subject: [{ CN: ['kube-join-admin'] }, { O: ['kube-join'] }],
    now,
    lifetimeMs: ADMIN_LIFETIME_MS,
    publicKey: keys.publicKey,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth], false),
      ca.authorityKeyIdentifier,
      new Extension(ADMIN_EXTENSION_OID, false, new Uint8Array([0x05, 0x00])),
    ],
  });
  await makeDirs(dir, 0o700);
  await writeFileAtomic(paths.key, privateKeyPem(await subtle.exportKey('pkcs8', keys.privateKey)), 0o600);
  await writeFileAtomic(paths.cert, cert.toString('pem') + '\n', 0o644);
  await writeFileAtomic(paths.ca, bundlePem, 0o644);
  return { dir, created: true };
}
