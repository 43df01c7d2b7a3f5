import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideJoin, type JoinAudit, type JoinContext } from '../../../src/auth/join.ts';
import { ProblemError, StorageError } from '../../../src/auth/errors.ts';
import { readPresentedLeaf, type PresentedLeaf } from '../../../src/auth/ca.ts';
import { openFileStorage } from '../../../src/auth/storage/file.ts';
import type { AuthStorage } from '../../../src/auth/storage/types.ts';
import { parseProvisionToken } from '../../../src/auth/tokens.ts';
import { createStaticJwksValidator } from '../../../src/auth/validators/static-jwks.ts';
import { createCsrPem, generateKey } from '../../../src/agent/keys.ts';
import { SubjectAlternativeNameExtension, X509Certificate } from '../../../src/common/x509.ts';
import { createTokenIssuer, type TokenIssuer } from '../../../src/demo/index.ts';
import { AGENT_VERSION, type JoinRequest, type JoinResponse } from '../../../src/protocol/index.ts';
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
    const ca = await testCa(CLUSTER);
    ctx = { storage, validators: { static_jwks: createStaticJwksValidator({ audience: CLUSTER }) }, authority: () => ({ signing: ca, bundlePem: ca.certPem }), clusterName: CLUSTER, certTtlMs: 3_600_000, maxCertTtlMs: 3_600_000, now: () => Date.now(), inventory: { graceMs: 3_600_000, maxPerServiceAccount: 10 } };
  });
  after(async () => {
    await storage?.close();
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The response of a join that must be issued. */
  async function issued(req: JoinRequest): Promise<{ response: JoinResponse; audit: JoinAudit }> {
    const decision = await decideJoin(ctx, req);
    assert.equal(decision.outcome, 'issued', decision.outcome === 'refused' ? decision.problem.message : '');
    return decision as { response: JoinResponse; audit: JoinAudit };
  }

  /** The problem of a join that must be refused, and its audit. */
  async function refused(req: JoinRequest): Promise<{ problem: ProblemError; audit: JoinAudit }> {
    const decision = await decideJoin(ctx, req);
    assert.equal(decision.outcome, 'refused');
    return decision as { problem: ProblemError; audit: JoinAudit };
  }

  async function request(extra: Partial<JoinRequest> = {}): Promise<JoinRequest> {
    return { tokenName: 't', joinMethod: 'kubernetes', kubernetesToken: await issuer.mint(POD), csr: await createCsrPem(await generateKey('ecdsa-p256'), 'localhost'), agentVersion: AGENT_VERSION, ...extra };
  }

  it('refuses a join through a pod_certificate token (the kubelet\'s, not an agent\'s) with join_method_mismatch, before the ServiceAccount token is checked', async () => {
    const yaml = `kind: token\nversion: v2\nmetadata: { name: pods }\nspec:\n  roles: [App]\n  join_method: kubernetes\n  kubernetes:\n    type: pod_certificate\n    allow: [{ service_account: "apps:billing" }]\n`;
    await storage.putToken(parseProvisionToken(yaml, Date.now()), { overwrite: true });
    const { problem, audit } = await refused(await request({ tokenName: 'pods', kubernetesToken: 'not-even-a-jwt' }));
    assert.equal(problem.code, 'join_method_mismatch');
    assert.equal(problem.message, 'provision token "pods" is for podCertificate requests (type pod_certificate), which the kubelet makes; an agent cannot join with it');
    assert.equal(audit.namespace, undefined);
  });

  it('takes CN and hostId from the token\'s pod, whatever the CSR subject says, and no DNS or IP SAN', async () => {
    const { response, audit } = await issued(await request());
    assert.deepEqual(response.identity, { hostId: POD.podName, namespace: 'apps', serviceAccount: 'billing', podName: POD.podName, podUid: POD.podUid, roles: ['App'], spiffeId: `spiffe://${CLUSTER}/ns/apps/sa/billing` });
    const leaf = new X509Certificate(response.certificateChain);
    assert.equal(leaf.subject, `CN=${POD.podName}, O=${CLUSTER}, OU=App`);
    assert.deepEqual(leaf.getExtension(SubjectAlternativeNameExtension)?.names.toJSON(), [{ type: 'url', value: `spiffe://${CLUSTER}/ns/apps/sa/billing` }]);
    assert.equal(audit.hostId, POD.podName);
    assert.equal(audit.inventory, 'recorded');
    assert.deepEqual((await storage.listAgentsOf('apps', 'billing')).map((e) => e.key), [`apps/${POD.podName}/${POD.podUid}`]);
  });

  it('accepts a hostId that names the token\'s pod (older agents send it)', async () => {
    const { response } = await issued(await request({ hostId: POD.podName }));
    assert.equal(response.identity.hostId, POD.podName);
  });

  for (const [what, pod, message] of [
    ['a pod name that is not a Kubernetes name', { podName: 'Billing/../x' }, "the ServiceAccount token's pod name is not a valid Kubernetes name"],
    ['an empty pod name', { podName: '' }, "the ServiceAccount token's pod name is not a valid Kubernetes name"],
    ['an empty pod UID', { podUid: '' }, "the ServiceAccount token's pod UID is not a valid Kubernetes UID"],
  ] as const) {
    it(`refuses a signed token with ${what}: kube_token_invalid, nothing signed`, async () => {
      const { problem, audit } = await refused(await request({ kubernetesToken: await issuer.mint({ ...POD, ...pod }) }));
      assert.deepEqual([problem.code, problem.message], ['kube_token_invalid', message]);
      assert.equal(audit.serial, undefined);
    });
  }

  it('refuses a hostId that names another host with host_id_mismatch, before anything is signed', async () => {
    const { problem: err, audit } = await refused(await request({ hostId: 'localhost' }));
    assert.equal(err.code, 'host_id_mismatch');
    assert.equal(err.status, 403);
    assert.equal(err.message, `hostId "localhost" is not the pod the ServiceAccount token is bound to ("${POD.podName}"); the host ID comes from the token, so leave it out`);
    assert.equal(audit.serial, undefined, 'no certificate was signed');
  });

  it('checks in the documented order: each request fails only the first check it breaks', async () => {
    const badCsr = '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----';
    const forged = 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln';
    const cases: [string, Partial<JoinRequest>, string][] = [
      ['unknown provision token, forged JWT, bad CSR', { tokenName: 'nope', kubernetesToken: forged, csr: badCsr }, 'token_not_found'],
      ['wrong join method, forged JWT', { joinMethod: 'token', kubernetesToken: forged }, 'join_method_mismatch'],
      ['forged JWT, roles not granted, bad CSR', { kubernetesToken: forged, roles: ['Admin'], csr: badCsr }, 'kube_token_invalid'],
      ['ServiceAccount not allowed, roles not granted', { kubernetesToken: await issuer.mint({ ...POD, serviceAccount: 'other' }), roles: ['Admin'] }, 'service_account_not_allowed'],
      ['roles not granted, foreign hostId, bad CSR', { roles: ['Admin'], hostId: 'localhost', csr: badCsr }, 'roles_not_allowed'],
      ['foreign hostId, bad CSR', { hostId: 'localhost', csr: badCsr }, 'host_id_mismatch'],
      ['bad CSR alone', { csr: badCsr }, 'csr_invalid'],
    ];
    for (const [what, extra, code] of cases) assert.equal((await refused(await request(extra))).problem.code, code, what);
  });

  it('issues past the ServiceAccount\'s inventory cap, and says in the audit that the pod was not recorded', async () => {
    const full = { ...ctx, inventory: { graceMs: 3_600_000, maxPerServiceAccount: 1 } };
    const other = await decideJoin(full, await request({ kubernetesToken: await issuer.mint({ ...POD, podName: 'billing-other', podUid: 'uid-other' }) }));
    assert.equal(other.outcome, 'issued');
    assert.equal(other.audit.inventory, 'full');
  });

  it('answers a storage failure with 503 storage_unavailable, telling the agent nothing about the storage', async () => {
    const broken = { ...ctx, storage: { ...storage, getToken: async () => { throw new StorageError('state directory /x is read-only (EROFS)'); } } };
    const decision = await decideJoin(broken, await request());
    assert.equal(decision.outcome, 'refused');
    assert.deepEqual(decision.outcome === 'refused' && [decision.problem.code, decision.problem.status, decision.problem.message], ['storage_unavailable', 503, 'the auth service cannot use its storage right now; retry later (its log says why)']);
  });

  describe('renewal by identity (a valid certificate presented)', () => {
    /** A provision token of its own: `roles`, `expires` in ms from now. */
    async function putToken(name: string, roles: string[], expiresInMs: number): Promise<void> {
      const expires = new Date(Date.now() + expiresInMs).toISOString();
      const yaml = `kind: token\nversion: v2\nmetadata: { name: ${name}, expires: "${expires}" }\nspec:\n  roles: [${roles.join(', ')}]\n  join_method: kubernetes\n  kubernetes:\n    type: static_jwks\n    allow: [{ service_account: "apps:billing" }]\n    static_jwks:\n      jwks: '${JSON.stringify(issuer.jwks())}'\n`;
      await storage.putToken(parseProvisionToken(yaml, Date.now()), { overwrite: true });
    }
    /** Joins through `tokenName` and returns the issued certificate as a renewal would present it. */
    async function presentedAfterJoin(tokenName: string, roles?: string[]): Promise<PresentedLeaf> {
      const { response } = await issued(await request({ tokenName, ...(roles ? { roles } : {}) }));
      const presented = readPresentedLeaf(new Uint8Array(new X509Certificate(response.certificateChain).rawData), CLUSTER);
      assert.ok(presented);
      return presented;
    }
    const at = (ms: number) => ({ ...ctx, now: () => Date.now() + ms });

    it('reads the pod, join and roles back from an issued certificate', async () => {
      await putToken('r-read', ['App'], 3_600_000);
      assert.deepEqual(await presentedAfterJoin('r-read'), { namespace: 'apps', serviceAccount: 'billing', podName: POD.podName, podUid: POD.podUid, tokenName: 'r-read', roles: ['App'] });
    });

    it('renews after the provision token expired, which still refuses a first join', async () => {
      await putToken('r-exp', ['App'], 60_000);
      const presented = await presentedAfterJoin('r-exp');
      const later = at(120_000);
      const first = await decideJoin(later, await request({ tokenName: 'r-exp' }));
      assert.deepEqual(first.outcome === 'refused' && first.problem.code, 'token_expired');
      const renewal = await decideJoin(later, await request({ tokenName: 'r-exp' }), presented);
      assert.equal(renewal.outcome, 'issued', renewal.outcome === 'refused' ? renewal.problem.message : '');
      assert.deepEqual([renewal.audit.kind, renewal.audit.roles], ['renewal', ['App']]);
    });

    it('stops renewals through a deleted provision token (revocation)', async () => {
      await putToken('r-del', ['App'], 3_600_000);
      const presented = await presentedAfterJoin('r-del');
      await storage.deleteToken('r-del');
      const renewal = await decideJoin(ctx, await request({ tokenName: 'r-del' }), presented);
      assert.deepEqual(renewal.outcome === 'refused' && [renewal.problem.code, renewal.problem.status], ['token_not_found', 401]);
    });

    it('refuses a ServiceAccount token of another pod, or of a later pod of the same name, with the certificate', async () => {
      await putToken('r-pod', ['App'], 3_600_000);
      const presented = await presentedAfterJoin('r-pod');
      for (const other of [{ podName: 'billing-other' }, { podUid: '6b1c0c1e-0000-4000-8000-000000000099' }]) {
        const renewal = await decideJoin(ctx, await request({ tokenName: 'r-pod', kubernetesToken: await issuer.mint({ ...POD, ...other }) }), presented);
        assert.deepEqual(renewal.outcome === 'refused' && renewal.problem.code, 'renewal_identity_mismatch', JSON.stringify(other));
      }
      await putToken('r-pod-2', ['App'], 3_600_000);
      const viaOther = await decideJoin(ctx, await request({ tokenName: 'r-pod-2' }), presented);
      assert.deepEqual(viaOther.outcome === 'refused' && [viaOther.problem.code, viaOther.problem.message], ['renewal_identity_mismatch', 'the certificate presented for renewal was issued through provision token "r-pod", not "r-pod-2"']);
    });

    it('never grows the roles: by default it asks for what it holds, and asking for more is refused', async () => {
      await putToken('r-roles', ['App', 'Db'], 3_600_000);
      const presented = await presentedAfterJoin('r-roles', ['App']);
      const plain = await decideJoin(ctx, await request({ tokenName: 'r-roles' }), presented);
      assert.deepEqual(plain.outcome === 'issued' && plain.response.identity.roles, ['App']);
      const more = await decideJoin(ctx, await request({ tokenName: 'r-roles', roles: ['App', 'Db'] }), presented);
      assert.deepEqual(more.outcome === 'refused' && [more.problem.code, more.problem.message], ['roles_not_allowed', 'a renewal cannot add roles: Db (the certificate holds App); join anew without the certificate for more']);
    });
  });
});
