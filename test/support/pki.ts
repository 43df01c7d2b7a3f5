import { createCa, loadCa, issueLeaf, type CertificateAuthority } from '../../src/auth/ca.ts';
import { createCsrPem, exportPrivateKeyPem, generateKey } from '../../src/agent/keys.ts';

/** A throwaway CA, made with the product's own code. */
export async function testCa(clusterName = 'test-cluster'): Promise<CertificateAuthority> {
  return loadCa(await createCa(clusterName, Date.now()));
}

/** A key and a leaf for it, signed by `ca`, as PEM. */
export async function leafPair(ca: CertificateAuthority, options: { hostId?: string; roles?: string[]; ttlMs?: number } = {}): Promise<{ keyPem: string; certPem: string }> {
  const material = await generateKey('ecdsa-p256');
  const cert = await issueLeaf(ca, {
    csrPem: await createCsrPem(material, options.hostId ?? 'host'),
    hostId: options.hostId ?? 'host',
    binding: { podUid: 'uid-host', tokenName: 'test-token' },
    namespace: 'ns',
    serviceAccount: 'sa',
    roles: options.roles ?? ['App'],
    trustDomain: 'test-cluster',
    ttlMs: options.ttlMs ?? 3_600_000,
    now: Date.now(),
  });
  return { keyPem: await exportPrivateKeyPem(material), certPem: cert.toString('pem') + '\n' };
}
