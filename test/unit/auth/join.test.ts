import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideJoin, type JoinAudit, type JoinContext } from '../../../src/auth/join.ts';
import { ProblemError } from '../../../src/auth/errors.ts';
import { openFileStorage } from '../../../src/auth/storage/file.ts';
import type { AuthStorage } from '../../../src/auth/storage/types.ts';
import { parseProvisionToken } from '../../../src/auth/tokens.ts';
import { createStaticJwksValidator } from '../../../src/auth/validators/static-jwks.ts';
import { createCsrPem, generateKey } from '../../../src/agent/keys.ts';
import { SubjectAlternativeNameExtension, X509Certificate } from '../../../src/common/x509.ts';
import { createTokenIssuer, type TokenIssuer } from '../../../src/issuer/index.ts';
import { AGENT_VERSION, type JoinRequest } from '../../../src/protocol/index.ts';
import { testCa } from '../../support/pki.ts';

const CLUSTER = 'join-unit';
const POD = { namespace: 'apps', serviceAccount: 'billing', podName: 'billing-7d9f8-x2x4q', podUid: '6b1c0c1e-0000-4000-8000-000000000001', audience: CLUSTER };

describe('decideJoin: the host is the pod the token proves', () => {
  let dir: string;
  let issuer: TokenIssuer;
  let storage: AuthStorage;
  let ctx: JoinContext;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-join-'));
    issuer = await createTokenIssuer();
    storage = await openFileStorage(join(dir, 'state'), { serve: true, now: () => Date.now() });
    const yaml = `kind: token\nversion: v2\nmetadata: { name: t }\nspec:\n  roles: [App]\n  join_method: kubernetes\n  kubernetes:\n    type: static_jwks\n    allow: [{ service_account: "apps:billing" }]\n    static_jwks:\n      jwks: '${JSON.stringify(issuer.jwks())}'\n`;
    await storage.putToken(parseProvisionToken(yaml, Date.now()), { overwrite: false });
    ctx = { storage, validators: { static_jwks: createStaticJwksValidator({ audience: CLUSTER }) }, ca: await testCa(CLUSTER), clusterName: CLUSTER, certTtlMs: 3_600_000, maxCertTtlMs: 3_600_000, now: () => Date.now() };
  });
  after(async () => {
    await storage?.close();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function request(extra: Partial<JoinRequest> = {}): Promise<JoinRequest> {
    return { tokenName: 't', joinMethod: 'kubernetes', kubernetesToken: await issuer.mint(POD), csr: await createCsrPem(await generateKey('ecdsa-p256'), 'localhost'), agentVersion: AGENT_VERSION, ...extra };
  }

  it('takes CN and hostId from the token\'s pod, whatever the CSR subject says, and no DNS or IP SAN', async () => {
    const audit: JoinAudit = { tokenName: 't' };
    const response = await decideJoin(ctx, await request(), audit);
    assert.deepEqual(response.identity, { hostId: POD.podName, namespace: 'apps', serviceAccount: 'billing', podName: POD.podName, podUid: POD.podUid, roles: ['App'], spiffeId: `spiffe://${CLUSTER}/ns/apps/sa/billing` });
    const leaf = new X509Certificate(response.certificateChain);
    assert.equal(leaf.subject, `CN=${POD.podName}, O=${CLUSTER}, OU=App`);
    assert.deepEqual(leaf.getExtension(SubjectAlternativeNameExtension)?.names.toJSON(), [{ type: 'url', value: `spiffe://${CLUSTER}/ns/apps/sa/billing` }]);
    assert.equal(audit.hostId, POD.podName);
  });

  it('accepts a hostId that names the token\'s pod (older agents send it)', async () => {
    const response = await decideJoin(ctx, await request({ hostId: POD.podName }), { tokenName: 't' });
    assert.equal(response.identity.hostId, POD.podName);
  });

  for (const [what, pod, message] of [
    ['a pod name that is not a Kubernetes name', { podName: 'Billing/../x' }, "the ServiceAccount token's pod name is not a valid Kubernetes name"],
    ['an empty pod name', { podName: '' }, "the ServiceAccount token's pod name is not a valid Kubernetes name"],
    ['an empty pod UID', { podUid: '' }, "the ServiceAccount token's pod UID is not a valid Kubernetes UID"],
  ] as const) {
    it(`refuses a signed token with ${what}: kube_token_invalid, nothing signed`, async () => {
      const audit: JoinAudit = { tokenName: 't' };
      await assert.rejects(decideJoin(ctx, await request({ kubernetesToken: await issuer.mint({ ...POD, ...pod }) }), audit), { code: 'kube_token_invalid', message });
      assert.equal(audit.serial, undefined);
    });
  }

  it('refuses a hostId that names another host with host_id_mismatch, before anything is signed', async () => {
    const audit: JoinAudit = { tokenName: 't' };
    await assert.rejects(decideJoin(ctx, await request({ hostId: 'localhost' }), audit), (err: unknown) => {
      assert.ok(err instanceof ProblemError);
      assert.equal(err.code, 'host_id_mismatch');
      assert.equal(err.status, 403);
      assert.equal(err.message, `hostId "localhost" is not the pod the ServiceAccount token is bound to ("${POD.podName}"); the host ID comes from the token, so leave it out`);
      return true;
    });
    assert.equal(audit.serial, undefined, 'no certificate was signed');
  });
});
