import assert from 'node:assert/strict';
import { decryptCaKey, encryptCaKey, parseKeyEncryptionKey, CaKeyEncryptionError } from '../../../src/auth/ca-key-encryption.ts';

const KEK = parseKeyEncryptionKey('00'.repeat(32), 'kek');
const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describe('CA key encryption at rest', () => {
  it('round-trips through a compact JWE that does not contain the key', async () => {
    const sealed = await encryptCaKey(PEM, KEK);
    assert.match(sealed, /^eyJ[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.ok(!sealed.includes('PRIVATE KEY'));
    assert.equal(await decryptCaKey(sealed, KEK), PEM);
  });
  it('refuses the wrong key', async () => {
    const sealed = await encryptCaKey(PEM, KEK);
    await assert.rejects(decryptCaKey(sealed, parseKeyEncryptionKey('11'.repeat(32), 'other')), { code: 'ERR_CA_KEY_ENCRYPTION', message: 'the stored CA key does not decrypt with the given key-encryption key' });
  });
  it('refuses an encrypted key when no key is given, and a plain key when one is', async () => {
    await assert.rejects(decryptCaKey(await encryptCaKey(PEM, KEK), undefined), { message: 'the stored CA key is encrypted; give the key-encryption key (--ca-key-encryption-key-file)' });
    await assert.rejects(decryptCaKey(PEM, KEK), CaKeyEncryptionError);
    assert.equal(await decryptCaKey(PEM, undefined), PEM);
  });
  it('takes 32 bytes as hex or base64, and nothing else', () => {
    assert.equal(parseKeyEncryptionKey(Buffer.alloc(32, 7).toString('base64'), 'k').length, 32);
    assert.throws(() => parseKeyEncryptionKey('abcd', '/etc/kek'), { message: 'key-encryption key /etc/kek must hold 32 bytes as 64 hex digits or base64 (it holds 3)' });
  });
});
