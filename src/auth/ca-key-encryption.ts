import { CompactEncrypt, compactDecrypt } from 'jose';
import { KubeJoinError } from '../common/errors.ts';

/** The CA key at rest, encrypted: a compact JWE (dir, A256GCM) instead of a PEM. */
const JWE_PREFIX = 'eyJ';

export class CaKeyEncryptionError extends KubeJoinError<'ERR_CA_KEY_ENCRYPTION'> {
  constructor(message: string, cause?: unknown) {
    super('ERR_CA_KEY_ENCRYPTION', message, { cause });
  }
}

/** Reads a key-encryption key: exactly 32 bytes, given as 64 hex digits or 44 base64 characters. */
export function parseKeyEncryptionKey(text: string, path: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (bytes.length !== 32) throw new CaKeyEncryptionError(`key-encryption key ${path} must hold 32 bytes as 64 hex digits or base64 (it holds ${bytes.length})`);
  return new Uint8Array(bytes);
}

/** Encrypts the CA key PEM with AES-256-GCM as a compact JWE (RFC 7516), via jose. */
export async function encryptCaKey(keyPem: string, kek: Uint8Array): Promise<string> {
  return (await new CompactEncrypt(new TextEncoder().encode(keyPem)).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'kube-join-ca-key' }).encrypt(kek)) + '\n';
}

/**
 * Returns the CA key PEM from what storage holds: decrypts a JWE with `kek`; passes a PEM through
 * unless a key-encryption key is configured (then a plain key at rest is refused, so turning
 * encryption on cannot silently keep using a plain key).
 */
export async function decryptCaKey(stored: string, kek: Uint8Array | undefined): Promise<string> {
  const isJwe = stored.trimStart().startsWith(JWE_PREFIX);
  if (!isJwe) {
    if (kek !== undefined) throw new CaKeyEncryptionError('the stored CA key is not encrypted but a key-encryption key is configured; re-encrypt it (or start without the key-encryption key)');
    return stored;
  }
  if (kek === undefined) throw new CaKeyEncryptionError('the stored CA key is encrypted; give the key-encryption key (--ca-key-encryption-key-file)');
  try {
    const { plaintext } = await compactDecrypt(stored.trim(), kek, { contentEncryptionAlgorithms: ['A256GCM'], keyManagementAlgorithms: ['dir'] });
    return new TextDecoder().decode(plaintext);
  } catch (err) {
    throw new CaKeyEncryptionError('the stored CA key does not decrypt with the given key-encryption key', err);
  }
}
