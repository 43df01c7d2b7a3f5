import assert from 'node:assert/strict';
import { requestKey } from '../../../src/auth/pod-certificate/request-key.ts';
import { corruptSignature, pkixWithProof, stubCsr } from '../../support/pcr-keys.ts';

const UID = '0f6c7a52-5b4e-4f1e-9d55-2f8f4d1c6a10';
const spkiOf = (spki: Uint8Array) => Buffer.from(spki);

describe('requestKey (PodCertificateRequest key and proof of possession)', () => {
  for (const keyType of ['ECDSAP256', 'ECDSAP384', 'RSA3072'] as const) {
    it(`accepts a stub PKCS#10 request of a ${keyType} key and returns that key`, async () => {
      const { stubPKCS10Request, spki } = await stubCsr(keyType);
      const got = await requestKey({ podUid: UID, stubPKCS10Request });
      assert.ok('spki' in got, JSON.stringify(got.verdict));
      assert.deepEqual(spkiOf(got.spki), spki);
    });
  }

  it('denies a P-521 key with UnsupportedKeyType and names the key types it issues to', async () => {
    const got = await requestKey({ podUid: UID, stubPKCS10Request: (await stubCsr('ECDSAP521')).stubPKCS10Request });
    assert.deepEqual(got.verdict, { ok: false, reason: 'UnsupportedKeyType', message: "key type ECDSAP521 is not issued by kube-join; set keyType to one of ECDSAP256, ECDSAP384, RSA3072, RSA4096 (ECDSAP256 is the default of kube-join's agent)" });
  });

  it('refuses a stub request whose signature does not verify', async () => {
    const got = await requestKey({ podUid: UID, stubPKCS10Request: corruptSignature((await stubCsr('ECDSAP256')).stubPKCS10Request) });
    assert.deepEqual(got.verdict, { ok: false, reason: 'InvalidProofOfPossession', message: 'the signature of spec.stubPKCS10Request does not verify with its public key' });
  });

  it('accepts v1beta1 pkixPublicKey with a proof of possession over the pod UID', async () => {
    const { pkixPublicKey, proofOfPossession, spki } = pkixWithProof(UID);
    const got = await requestKey({ podUid: UID, pkixPublicKey, proofOfPossession });
    assert.ok('spki' in got);
    assert.deepEqual(spkiOf(got.spki), spki);
  });

  it('refuses a proof of possession over another pod UID', async () => {
    const { pkixPublicKey, proofOfPossession } = pkixWithProof(UID, 'another-uid');
    const got = await requestKey({ podUid: UID, pkixPublicKey, proofOfPossession });
    assert.deepEqual(got.verdict, { ok: false, reason: 'InvalidProofOfPossession', message: `spec.proofOfPossession is not a signature of the pod UID ${UID} by spec.pkixPublicKey` });
  });

  it('refuses a request with no key at all', async () => {
    const got = await requestKey({ podUid: UID });
    assert.deepEqual(got.verdict, { ok: false, reason: 'InvalidProofOfPossession', message: 'the request carries neither stubPKCS10Request nor pkixPublicKey with proofOfPossession' });
  });
});
