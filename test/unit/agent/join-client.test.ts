import assert from 'node:assert/strict';
import type { PeerCertificate } from 'node:tls';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJoinClient, checkAuthIdentity } from '../../../src/agent/join-client.ts';
import { AuthIdentityError, CaPinMismatchError, TlsVerifyError } from '../../../src/agent/errors.ts';
import { issueServingCert, type CertificateAuthority } from '../../../src/auth/ca.ts';
import { spkiPin } from '../../../src/common/crypto.ts';
import { AGENT_VERSION, type JoinRequest } from '../../../src/protocol/index.ts';
import { leafPair, testCa } from '../../support/pki.ts';
import { startRogueServer, type RogueServer } from '../../support/rogue.ts';

const CLUSTER = 'test-cluster';
const REQUEST: JoinRequest = { tokenName: 't', joinMethod: 'kubernetes', kubernetesToken: 'eyJ.fake.token', csr: '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----', agentVersion: AGENT_VERSION };

/** The fields of a PeerCertificate checkAuthIdentity reads: the DER. */
const peer = (pem: string) => ({ raw: new NodeX509(pem).raw }) as PeerCertificate;

describe('join client: who gets the token', () => {
  let realCa: CertificateAuthority;
  let rogueCa: CertificateAuthority;
  const servers: RogueServer[] = [];
  before(async () => {
    realCa = await testCa(CLUSTER);
    rogueCa = await testCa('rogue');
  });
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  describe('checkAuthIdentity', () => {
    it('accepts the auth serving certificate for one of its names', async () => {
      const tls = await issueServingCert(realCa, ['auth.example', '127.0.0.1'], CLUSTER, Date.now());
      assert.equal(checkAuthIdentity('auth.example', peer(tls.certPem), `spiffe://${CLUSTER}/kube-join/auth`), undefined);
      assert.equal(checkAuthIdentity('127.0.0.1', peer(tls.certPem), `spiffe://${CLUSTER}/kube-join/auth`), undefined);
    });

    it('refuses a workload certificate whose CN is the host name: no CN fallback, no auth identity', async () => {
      const workload = await leafPair(realCa, { hostId: 'localhost' });
      const err = checkAuthIdentity('localhost', peer(workload.certPem), `spiffe://${CLUSTER}/kube-join/auth`) as Error & { code: string };
      assert.equal(err.code, 'ERR_KUBE_JOIN_NOT_AUTH_IDENTITY');
      assert.equal(err.message, `the server's certificate is not the auth service's: it carries spiffe://${CLUSTER}/ns/ns/sa/sa, not spiffe://${CLUSTER}/kube-join/auth`);
    });

    it('refuses another cluster\'s auth service', async () => {
      const tls = await issueServingCert(realCa, ['127.0.0.1'], 'other-cluster', Date.now());
      const err = checkAuthIdentity('127.0.0.1', peer(tls.certPem), `spiffe://${CLUSTER}/kube-join/auth`) as Error & { code: string };
      assert.equal(err.code, 'ERR_KUBE_JOIN_NOT_AUTH_IDENTITY');
    });

    it('refuses the auth certificate for a host it does not name, whatever its CN', async () => {
      const tls = await issueServingCert(realCa, ['auth.example'], CLUSTER, Date.now());
      const err = checkAuthIdentity('evil.example', peer(tls.certPem), `spiffe://${CLUSTER}/kube-join/auth`) as Error & { code: string };
      assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
      assert.equal(err.message, 'the auth service\'s certificate has no DNS or IP SAN for "evil.example"');
    });
  });

  it('with a pin, trusts only the pinned certificates of the served bundle: a rogue CA appended to the real one gets no token', async () => {
    const rogueTls = await issueServingCert(rogueCa, ['127.0.0.1'], CLUSTER, Date.now());
    const rogue = await startRogueServer(rogueTls, realCa.certPem + rogueCa.certPem);
    servers.push(rogue);
    const client = createJoinClient({ addr: { host: '127.0.0.1', port: rogue.port }, trust: { kind: 'ca-pin', pins: [spkiPin(realCa.cert)] }, clusterName: CLUSTER, timeoutMs: 5000 });
    await assert.rejects(client.join(REQUEST), (err: unknown) => {
      assert.ok(err instanceof TlsVerifyError, String(err));
      assert.equal(err.tlsCode, 'SELF_SIGNED_CERT_IN_CHAIN');
      return true;
    });
    assert.equal(rogue.tokenRequests(), 0);
  });

  it('with several pins (a CA rotation), any one of them is enough, and a bundle matching none is refused', async () => {
    const tls = await issueServingCert(realCa, ['127.0.0.1'], CLUSTER, Date.now());
    const real = await startRogueServer(tls, rogueCa.certPem + realCa.certPem);
    servers.push(real);
    const addr = { host: '127.0.0.1', port: real.port };
    const rotating = createJoinClient({ addr, trust: { kind: 'ca-pin', pins: [`sha256:${'1'.repeat(64)}`, spkiPin(realCa.cert)] }, clusterName: CLUSTER, timeoutMs: 5000 });
    // The connection is trusted, so the request goes out; this server answers 500, which the client reports.
    await assert.rejects(rotating.join(REQUEST), { code: 'ERR_AUTH_UNAVAILABLE' });
    assert.equal(real.tokenRequests(), 1);
    const wrong = createJoinClient({ addr, trust: { kind: 'ca-pin', pins: [`sha256:${'1'.repeat(64)}`] }, clusterName: CLUSTER, timeoutMs: 5000 });
    await assert.rejects(wrong.join(REQUEST), (err: unknown) => err instanceof CaPinMismatchError && /matches --ca-pin sha256:1{64} \(served: sha256:[0-9a-f]{64}, sha256:[0-9a-f]{64}\)/.test(err.message));
    assert.equal(real.tokenRequests(), 1);
  });

  it('with a pin of the old CA, trusts the bundle its last join answered: a server of the rotated-in CA is joined', async () => {
    // rogueCa stands for the new CA here: the auth serves with it from update-servers on.
    const tls = await issueServingCert(rogueCa, ['127.0.0.1'], CLUSTER, Date.now());
    const server = await startRogueServer(tls, rogueCa.certPem);
    servers.push(server);
    const client = createJoinClient({ addr: { host: '127.0.0.1', port: server.port }, trust: { kind: 'ca-pin', pins: [spkiPin(realCa.cert)] }, clusterName: CLUSTER, timeoutMs: 5000 });
    await assert.rejects(client.join(REQUEST), (err: unknown) => err instanceof CaPinMismatchError);
    assert.equal(server.tokenRequests(), 0);
    await assert.rejects(client.join(REQUEST, undefined, { caBundlePem: realCa.certPem + rogueCa.certPem }), { code: 'ERR_AUTH_UNAVAILABLE' });
    assert.equal(server.tokenRequests(), 1);
  });

  it('re-reads --ca-file on every attempt: a ConfigMap volume swapped by the kubelet (..data symlink) is trusted at once', async () => {
    const tls = await issueServingCert(rogueCa, ['127.0.0.1'], CLUSTER, Date.now());
    const server = await startRogueServer(tls, rogueCa.certPem);
    servers.push(server);
    const dir = await mkdtemp(join(tmpdir(), 'kj-cm-'));
    try {
      // The kubelet's layout: ca.crt -> ..data/ca.crt, ..data -> ..<timestamp>/, swapped by one rename.
      await mkdir(join(dir, '..v1'));
      await writeFile(join(dir, '..v1', 'ca.crt'), realCa.certPem);
      await symlink('..v1', join(dir, '..data'));
      await symlink('..data/ca.crt', join(dir, 'ca.crt'));
      const client = createJoinClient({ addr: { host: '127.0.0.1', port: server.port }, trust: { kind: 'ca-file', path: join(dir, 'ca.crt') }, clusterName: CLUSTER, timeoutMs: 5000 });
      await assert.rejects(client.join(REQUEST), (err: unknown) => err instanceof TlsVerifyError);
      await mkdir(join(dir, '..v2'));
      await writeFile(join(dir, '..v2', 'ca.crt'), realCa.certPem + rogueCa.certPem);
      await symlink('..v2', join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await assert.rejects(client.join(REQUEST), { code: 'ERR_AUTH_UNAVAILABLE' });
      assert.equal(server.tokenRequests(), 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const trust of ['ca-pin', 'ca-file'] as const) {
    it(`a workload certificate of the same CA presented as the auth service gets no token (${trust})`, async () => {
      const workload = await leafPair(realCa, { hostId: 'localhost' });
      const rogue = await startRogueServer({ certPem: workload.certPem + realCa.certPem, keyPem: workload.keyPem }, realCa.certPem);
      servers.push(rogue);
      const dir = await mkdtemp(join(tmpdir(), 'kj-jc-'));
      try {
        await writeFile(join(dir, 'ca.crt'), realCa.certPem);
        const client = createJoinClient({
          addr: { host: 'localhost', port: rogue.port },
          trust: trust === 'ca-pin' ? { kind: 'ca-pin', pins: [spkiPin(realCa.cert)] } : { kind: 'ca-file', path: join(dir, 'ca.crt') },
          clusterName: CLUSTER,
          timeoutMs: 5000,
        });
        await assert.rejects(client.join(REQUEST), (err: unknown) => {
          assert.ok(err instanceof AuthIdentityError, String(err));
          assert.match(err.message, /^https:\/\/localhost:\d+ is not the kube-join auth service: the server's certificate is not the auth service's: it carries spiffe:\/\/test-cluster\/ns\/ns\/sa\/sa, not spiffe:\/\/test-cluster\/kube-join\/auth; the token was not sent$/);
          return true;
        });
        assert.equal(rogue.tokenRequests(), 0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
