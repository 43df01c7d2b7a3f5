/**
 * The k8s tier: joins against a real kube-apiserver (+ etcd) started once for the whole file. The auth
 * service runs in this process (as its own ServiceAccount, through a kubeconfig); every agent is a real
 * `kube-join agent --once` process with a TokenRequest token bound to a Pending Pod.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got from 'got';
import { decodeProtectedHeader } from 'jose';
import { startKubeCluster, type KubeCluster, type PodRef } from './harness.ts';
import type { KubeJoinProcess } from '../../src/cli/process.ts';
import { kubeJoin } from '../support/kube-join.ts';
import { parseProvisionToken, resolveAuthConfig, startAuthService, type AuthService, type ProvisionToken } from '../../src/auth/index.ts';
import { createInClusterValidator } from '../../src/auth/validators/in-cluster.ts';
import { createOidcValidator } from '../../src/auth/validators/oidc.ts';
import { ProblemError } from '../../src/auth/errors.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { X509Certificate } from '../../src/common/x509.ts';
import { createKubeClient, loadInClusterConfig, loadKubeconfig, KubeApiError, type KubeClient } from '../../src/kube/index.ts';

const CLUSTER = 'k8s-test.kube-join';
const APP_NS = 'teleport-agent';
const APP_SA = 'teleport-app-service';
const OTHER_SA = 'other-service';
const AUTH_NS = 'kube-join';
const AUTH_SA = 'auth';
const AUTH_SA_UNBOUND = 'auth-without-binding';
const SPIFFE_ID = `spiffe://${CLUSTER}/ns/${APP_NS}/sa/${APP_SA}`;

function tokenYaml(name: string, type: 'in_cluster' | 'oidc', issuer?: string): string {
  return [
    'kind: token',
    'version: v2',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  roles: [App]',
    '  join_method: kubernetes',
    '  kubernetes:',
    `    type: ${type}`,
    '    allow:',
    `      - service_account: "${APP_NS}:${APP_SA}"`,
    ...(type === 'oidc' ? ['    oidc:', `      issuer: "${issuer}"`] : []),
    '',
  ].join('\n');
}

interface AgentRun {
  code: number | string;
  stderr: string;
  outDir: string;
}

describe('k8s: joins against a real kube-apiserver', function () {
  this.timeout(60_000);
  let cluster: KubeCluster;
  let dir: string;
  let auth: AuthService;
  let authWithoutBinding: AuthService;
  let appPod: PodRef;
  let n = 0;
  const agents = new Set<KubeJoinProcess>();
  const tierStarted = Date.now();

  /** The auth service, in this process, as the ServiceAccount `sa` (through a kubeconfig holding its token). */
  async function startAuth(name: string, sa: string): Promise<AuthService> {
    const token = await cluster.requestToken(AUTH_NS, sa, { audiences: [cluster.server], expirationSeconds: 3600 });
    const kubeconfig = join(dir, `${name}.kubeconfig`);
    await cluster.writeKubeconfig(kubeconfig, token);
    const config = resolveAuthConfig({
      flags: { listen: '127.0.0.1:0', metricsAddr: 'off', stateDir: join(dir, name), clusterName: CLUSTER, kubeconfig, oidcCaFile: cluster.caFile, oidcJwksCooldown: '1s', logLevel: 'error' },
      env: {},
    });
    const service = await startAuthService(config, { logger: silentLogger(), now: () => Date.now(), processMetrics: false });
    for (const t of [tokenYaml('app-in-cluster', 'in_cluster'), tokenYaml('app-oidc', 'oidc', cluster.issuer)]) {
      await service.storage.putToken(parseProvisionToken(t, Date.now()), { overwrite: false });
    }
    return service;
  }

  /** Writes `token` to a file and runs `kube-join agent --once` with it against `service`. */
  async function runAgent(service: AuthService, tokenName: string, token: string, extra: string[] = []): Promise<AgentRun> {
    const run = ++n;
    const tokenPath = join(dir, `token-${run}`);
    const outDir = join(dir, `out-${run}`);
    await writeFile(tokenPath, token, { mode: 0o600 });
    const agent = kubeJoin([
      'agent', '--once',
      '--auth-addr', `127.0.0.1:${service.address.port}`,
      '--token-name', tokenName,
      '--token-path', tokenPath,
      '--ca-pin', service.caPin,
      '--cluster-name', CLUSTER,
      '--out-dir', outDir,
      '--health-addr', 'off',
      '--retry-base', '200ms',
      '--once-timeout', '40s',
      ...extra,
    ]);
    agents.add(agent);
    const code = await agent.exited;
    agents.delete(agent);
    return { code, stderr: agent.stderr(), outDir };
  }

  function assertRejected(run: AgentRun, status: number, code: string, detail: string): void {
    assert.equal(run.code, 1, `agent should fail; stderr: ${run.stderr}`);
    assert.equal(run.stderr, `kube-join: join failed: join rejected (${status} ${code}): ${detail} [ERR_ONCE_FAILED]\n`);
  }

  async function assertJoined(run: AgentRun): Promise<X509Certificate> {
    assert.equal(run.code, 0, `agent should join; stderr: ${run.stderr}`);
    const cert = new X509Certificate(await readFile(join(run.outDir, 'tls.crt'), 'utf8'));
    const san = cert.getExtension('2.5.29.17');
    assert.ok(san, 'leaf has a SAN extension');
    const uris = (san as unknown as { names: { toJSON(): { type: string; value: string }[] } }).names.toJSON().filter((g) => g.type === 'url').map((g) => g.value);
    assert.deepEqual(uris, [SPIFFE_ID]);
    return cert;
  }

  const appToken = (options: { pod?: PodRef; audiences?: string[]; sa?: string } = {}) =>
    cluster.requestToken(APP_NS, options.sa ?? APP_SA, { audiences: options.audiences ?? [CLUSTER], expirationSeconds: 600, ...(options.pod ? { pod: options.pod } : {}) });

  before(async function () {
    this.timeout(180_000);
    dir = await mkdtemp(join(tmpdir(), 'kube-join-k8s-test-'));
    cluster = await startKubeCluster();
    process.stdout.write(`      (kube-apiserver ready in ${cluster.startupMs} ms)\n`);
    await cluster.createNamespace(AUTH_NS);
    await cluster.createNamespace(APP_NS);
    for (const [ns, sa] of [[AUTH_NS, AUTH_SA], [AUTH_NS, AUTH_SA_UNBOUND], [APP_NS, APP_SA], [APP_NS, OTHER_SA]] as const) await cluster.createServiceAccount(ns, sa);
    await cluster.createClusterRoleBinding('kube-join-auth:auth-delegator', 'system:auth-delegator', [{ kind: 'ServiceAccount', name: AUTH_SA, namespace: AUTH_NS }]);
    appPod = await cluster.createPod(APP_NS, 'app-0', APP_SA);
    auth = await startAuth('auth', AUTH_SA);
    authWithoutBinding = await startAuth('auth-without-binding', AUTH_SA_UNBOUND);
  });

  afterEach(async () => {
    await Promise.all([...agents].map((a) => a.stop(2000)));
    agents.clear();
  });

  after(async function () {
    this.timeout(60_000);
    await auth?.close();
    await authWithoutBinding?.close();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    process.stdout.write(`      (k8s tier took ${Date.now() - tierStarted} ms)\n`);
  });

  describe('in_cluster (TokenReview)', () => {
    it('joins an agent process with a pod-bound token: certificate for the ServiceAccount\'s SPIFFE ID', async () => {
      const run = await runAgent(auth, 'app-in-cluster', await appToken({ pod: appPod }));
      const cert = await assertJoined(run);
      const identity = JSON.parse(await readFile(join(run.outDir, 'identity.json'), 'utf8')) as { spiffeId: string; roles: string[] };
      assert.equal(identity.spiffeId, SPIFFE_ID);
      assert.deepEqual(identity.roles, ['App']);
      assert.match(cert.subject, /OU=App/);
    });

    it('refuses a token of a ServiceAccount not on the allow list (service_account_not_allowed)', async () => {
      const pod = await cluster.createPod(APP_NS, 'other-0', OTHER_SA);
      const run = await runAgent(auth, 'app-in-cluster', await appToken({ pod, sa: OTHER_SA }));
      assertRejected(run, 403, 'service_account_not_allowed', `ServiceAccount ${APP_NS}:${OTHER_SA} is not in the allow list of provision token "app-in-cluster"`);
    });

    it('refuses a token bound to no pod (legacy_token_rejected)', async () => {
      const run = await runAgent(auth, 'app-in-cluster', await appToken());
      assertRejected(run, 401, 'legacy_token_rejected', 'ServiceAccount token is not bound to a pod; mount a projected ServiceAccount token');
    });

    it('refuses a token whose pod was deleted (kube_token_invalid)', async () => {
      const pod = await cluster.createPod(APP_NS, 'gone-0', APP_SA);
      const token = await appToken({ pod });
      await cluster.deletePod(APP_NS, 'gone-0');
      const run = await runAgent(auth, 'app-in-cluster', token);
      // The apiserver's own reason, passed on (sanitized): the pod the token is bound to is gone.
      assertRejected(run, 401, 'kube_token_invalid', 'the Kubernetes API did not authenticate the ServiceAccount token: [invalid bearer token, service account token has been invalidated]');
    });

    it('refuses a token for another audience (audience_mismatch)', async () => {
      const run = await runAgent(auth, 'app-in-cluster', await appToken({ pod: appPod, audiences: ['not-' + CLUSTER] }));
      assertRejected(run, 401, 'audience_mismatch', `ServiceAccount token audience does not include "${CLUSTER}"`);
    });

    it('refuses roles the provision token does not grant (roles_not_allowed)', async () => {
      const run = await runAgent(auth, 'app-in-cluster', await appToken({ pod: appPod }), ['--roles', 'App,Db']);
      assertRejected(run, 403, 'roles_not_allowed', 'provision token "app-in-cluster" does not grant role Db (it grants App)');
    });

    it('says which ClusterRole to bind when the auth\'s ServiceAccount may not create TokenReviews (tokenreview_forbidden)', async () => {
      const run = await runAgent(authWithoutBinding, 'app-in-cluster', await appToken({ pod: appPod }));
      assertRejected(
        run,
        500,
        'tokenreview_forbidden',
        `the auth service may not create TokenReviews on ${cluster.server}: bind the ClusterRole system:auth-delegator to the auth service's ServiceAccount (apiserver: tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:${AUTH_NS}:${AUTH_SA_UNBOUND}" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope)`,
      );
    });

    it('/readyz: 503 naming the ClusterRole system:auth-delegator while TokenReviews are forbidden, 200 with the binding', async () => {
      const readyz = (service: AuthService) =>
        got(`https://127.0.0.1:${service.address.port}/readyz`, { https: { certificateAuthority: service.ca.certPem }, throwHttpErrors: false, retry: { limit: 0 } });
      const without = await readyz(authWithoutBinding);
      assert.equal(without.statusCode, 503);
      assert.deepEqual(JSON.parse(without.body), {
        ready: false,
        reason: `the auth service may not create TokenReviews on ${cluster.server}: bind the ClusterRole system:auth-delegator to the auth service's ServiceAccount (apiserver: tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:${AUTH_NS}:${AUTH_SA_UNBOUND}" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope)`,
      });
      const bound = await readyz(auth);
      assert.equal(bound.statusCode, 200, bound.body);
      assert.deepEqual(JSON.parse(bound.body), { ready: true });
    });

    it('reuses a positive review for a few seconds, keyed by the token, and reviews other tokens afresh', async () => {
      let reviews = 0;
      const counting: KubeClient = { ...cluster.admin, tokenReview: (t, a) => (reviews++, cluster.admin.tokenReview(t, a)) };
      const validator = createInClusterValidator({ audience: CLUSTER, client: counting, now: () => Date.now() });
      const token = await appToken({ pod: appPod });
      const provision = {} as ProvisionToken;
      const first = await validator.validate(token, provision);
      const second = await validator.validate(token, provision);
      assert.deepEqual(second, first);
      assert.deepEqual({ namespace: first.namespace, serviceAccount: first.serviceAccount, podName: first.podName, podUid: first.podUid }, { namespace: APP_NS, serviceAccount: APP_SA, podName: 'app-0', podUid: appPod.uid });
      assert.equal(reviews, 1);
      await validator.validate(await appToken({ pod: appPod }), provision);
      assert.equal(reviews, 2);
    });

    it('answers kube_unavailable (503, retryable) when the Kubernetes API does not answer', async () => {
      const closed: Server = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as { port: number }).port;
      await new Promise<void>((r) => closed.close(() => r()));
      const client = createKubeClient({ ...(await loadKubeconfig(cluster.adminKubeconfig)), server: `https://127.0.0.1:${port}` }, { timeoutMs: 2000 });
      try {
        const validator = createInClusterValidator({ audience: CLUSTER, client, now: () => Date.now() });
        await assert.rejects(validator.validate(await appToken({ pod: appPod }), {} as ProvisionToken), (err: unknown) => {
          assert.ok(err instanceof ProblemError);
          assert.equal(err.code, 'kube_unavailable');
          assert.equal(err.status, 503);
          assert.equal(err.message, `the Kubernetes API https://127.0.0.1:${port} is unreachable (ECONNREFUSED); try again later`);
          return true;
        });
      } finally {
        client.close();
      }
    });

    it('in-cluster config: reads the pod\'s token file on every request', async () => {
      const saDir = join(dir, 'serviceaccount');
      await mkdir(saDir, { recursive: true });
      await writeFile(join(saDir, 'ca.crt'), cluster.caPem);
      await writeFile(join(saDir, 'token'), 'not-a-valid-token');
      const port = new URL(cluster.server).port;
      const client = createKubeClient(await loadInClusterConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, dir: saDir }), { timeoutMs: 5000 });
      try {
        assert.equal(client.server, cluster.server);
        await assert.rejects(client.tokenReview('x', [CLUSTER]), (err: unknown) => err instanceof KubeApiError && err.status === 401);
        // The kubelet rotates the file: the next request uses the new token.
        await writeFile(join(saDir, 'token'), await cluster.requestToken(AUTH_NS, AUTH_SA, { audiences: [cluster.server] }));
        const status = await client.tokenReview(await appToken({ pod: appPod }), [CLUSTER]);
        assert.equal(status.authenticated, true);
        assert.equal(status.user?.username, `system:serviceaccount:${APP_NS}:${APP_SA}`);
      } finally {
        client.close();
      }
    });
  });

  describe('oidc (discovery + JWKS from the apiserver)', () => {
    it('joins, and keeps joining after the cluster rotates its signing key', async function () {
      this.timeout(120_000);
      const before = await appToken({ pod: appPod });
      await assertJoined(await runAgent(auth, 'app-oidc', before));

      // A validator that fetched the key set moments ago and may not refetch for 10 minutes.
      const coolingValidator = createOidcValidator({ audience: CLUSTER, caPem: cluster.caPem, timeoutMs: 5000, jwksCooldownMs: 600_000, now: () => Date.now() });
      const oidcToken = parseProvisionToken(tokenYaml('app-oidc', 'oidc', cluster.issuer), Date.now());
      await coolingValidator.validate(before, oidcToken);

      const restartMs = await cluster.rotateSigningKey();
      process.stdout.write(`      (apiserver restarted with a new signing key in ${restartMs} ms)\n`);
      const after = await appToken({ pod: appPod });
      assert.notEqual(decodeProtectedHeader(after).kid, decodeProtectedHeader(before).kid, 'tokens are signed with the new key');

      // New kid: the auth service refetches the JWKS and the agent joins.
      await assertJoined(await runAgent(auth, 'app-oidc', after));
      // Tokens signed with the old key still verify (it stays a verification key).
      await assertJoined(await runAgent(auth, 'app-oidc', before));
      // in_cluster works against the restarted apiserver too.
      await assertJoined(await runAgent(auth, 'app-in-cluster', after));

      // Within the cooldown an unknown kid is a retryable 503, never a final rejection of a good token.
      await assert.rejects(coolingValidator.validate(after, oidcToken), (err: unknown) => {
        assert.ok(err instanceof ProblemError);
        assert.equal(err.code, 'kube_unavailable');
        assert.equal(err.status, 503);
        assert.equal(err.retryAfterSeconds, 600);
        assert.equal(err.message, `no key of issuer ${cluster.issuer} matches the token's key ID yet (the cluster may have rotated its signing key); the key set is fetched again within 600s`);
        return true;
      });
    });

    it('answers kube_unavailable (503, retryable) when the issuer cannot be reached', async () => {
      const closed: Server = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const issuer = `https://127.0.0.1:${(closed.address() as { port: number }).port}`;
      await new Promise<void>((r) => closed.close(() => r()));
      const validator = createOidcValidator({ audience: CLUSTER, caPem: cluster.caPem, timeoutMs: 2000, jwksCooldownMs: 1000, now: () => Date.now() });
      await assert.rejects(validator.validate(await appToken({ pod: appPod }), parseProvisionToken(tokenYaml('x', 'oidc', issuer), Date.now())), (err: unknown) => {
        assert.ok(err instanceof ProblemError);
        assert.equal(err.code, 'kube_unavailable');
        assert.equal(err.status, 503);
        assert.equal(err.message, `the OIDC discovery document ${issuer}/.well-known/openid-configuration is unreachable (ECONNREFUSED)`);
        return true;
      });
    });

    it('refuses a wrong-audience token (audience_mismatch) and a token of another ServiceAccount', async () => {
      assertRejected(await runAgent(auth, 'app-oidc', await appToken({ pod: appPod, audiences: ['elsewhere'] })), 401, 'audience_mismatch', `ServiceAccount token audience does not include "${CLUSTER}"`);
      const pod = await cluster.createPod(APP_NS, 'other-1', OTHER_SA);
      assertRejected(await runAgent(auth, 'app-oidc', await appToken({ pod, sa: OTHER_SA })), 403, 'service_account_not_allowed', `ServiceAccount ${APP_NS}:${OTHER_SA} is not in the allow list of provision token "app-oidc"`);
    });
  });
});
