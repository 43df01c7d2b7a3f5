import { readFile } from 'node:fs/promises';
import { ConfigError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { createCa, loadCa, type CertificateAuthority } from './ca.ts';
import { decryptCaKey, encryptCaKey, parseKeyEncryptionKey } from './ca-key-encryption.ts';
import type { AuthStorage } from './storage/types.ts';
import { readFailure } from '../common/read-file.ts';

/** The key-encryption key of --ca-key-encryption-key-file, or undefined when none is given. */
export async function readKeyEncryptionKey(path: string | undefined): Promise<Uint8Array | undefined> {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('caKeyEncryptionKeyFile', readFailure('--ca-key-encryption-key-file', path, err));
  }
  return parseKeyEncryptionKey(text, path);
}

/**
 * The CA this service signs with: the stored one, or on the very first start a new one. Storage
 * creates it only if none exists and returns the one stored, so replicas that start together agree on
 * the first one written (the loser of the race uses the winner's). With `kek` the key is stored sealed
 * and unsealed here; without the right key a sealed CA does not load.
 */
export async function loadOrCreateCa(storage: AuthStorage, options: { clusterName: string; kek: Uint8Array | undefined; now: number; logger: Logger; where: Record<string, string> }): Promise<CertificateAuthority> {
  const { kek, logger } = options;
  let stored = await storage.getCa();
  if (stored === undefined) {
    const fresh = await createCa(options.clusterName, options.now);
    stored = await storage.createCa(kek ? { ...fresh, keyPem: await encryptCaKey(fresh.keyPem, kek) } : fresh);
    if (stored.certPem === fresh.certPem) logger.info('created a new CA', { ...options.where, keyEncrypted: kek !== undefined });
    else logger.info('another replica created the CA first: using it', options.where);
  }
  return loadCa({ certPem: stored.certPem, keyPem: await decryptCaKey(stored.keyPem, kek) });
}
