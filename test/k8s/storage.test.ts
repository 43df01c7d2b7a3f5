/**
 * The kubernetes storage backend against the k8s tier's real kube-apiserver, with real RBAC: each auth
 * identity is a ServiceAccount (a kubeconfig holding its TokenRequest token) whose Role in the
 * namespace grants what the backend needs, or less. Two `kube-join auth --storage kubernetes` processes
 * serve one namespace; agents are `kube-join agent --once` processes or in-process join requests.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import got, { type Response } from 'got';
import { sharedKubeCluster, type KubeCluster } from './harness.ts';
import { kubeJoin, kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';
import { createTokenIssuer, type MintOptions, type TokenIssuer } from '../../src/demo/index.ts';
import { createCsrPem, generateKey } from '../../src/agent/keys.ts';
import {
  agentObjectName,
  openKubernetesStorage,
  parseProvisionToken,
  resolveAuthConfig,
  startAuthService,
  tokenObjectName,
  type AuthStorage,
} from '../../src/auth/index.ts';
import { agentKey, recordJoin } from '../../src/auth/inventory.ts';
import { StorageError } from '../../src/auth/errors.ts';
import { AgentRecordSchema, type AgentRecord } from '../../src/protocol/index.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { X509Certificate } from '../../src/common/x509.ts';
import { createKubeClient, loadKubeconfig, KubeApiError, type KubeClient } from '../../src/kube/index.ts';

const CLUSTER = 'storage-test.kube-join';
const NS = 'kube-join-storage';
const UNIT_NS = 'kube-join-storage-unit';
const AUTH_SA = 'auth';
const NO_ROLE_SA = 'auth-without-role';
const SECRETS_ONLY_SA = 'auth-secrets-only';
// Exactly the verbs the backend uses (no patch, no watch): the RBAC of these tests is the chart's.
const VERBS = ['get', 'list', 'create', 'update', 'delete'];
const SECRETS_RULE = { apiGroups: [''], resources: ['secrets'], verbs: VERBS };
const LEASES_RULE = { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: VERBS };
const POD: MintOptions = { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', audience: CLUSTER };
const SELECTOR = (kind: string) => `app.kubernetes.io/managed-by=kube-join,kube-join.dev/kind=${kind}`;
const RBAC_HINT = (ns: string) =>
  `grant the auth service's ServiceAccount a Role in namespace ${ns} with verbs get, list, create, update and delete on secrets and on leases (API group coordination.k8s.io), and a RoleBinding to it`;

interface RawObject {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
}

describe('k8s: kubernetes storage (several auth replicas on one namespace)', function () {
  this.timeout(60_000);
  let cluster: KubeCluster;
  let dir: string;
  let issuer: TokenIssuer;
  let kubeconfig: string;
  let started = Date.now();

  /** Kubernetes objects of one kind in `ns`, as the cluster admin sees them. */
  const rawList = async (ns: string, resource: 'secrets' | 'leases', kind: string): Promise<RawObject[]> => {
    const path = resource === 'secrets' ? `/api/v1/namespaces/${ns}/secrets` : `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
    return (await cluster.admin.request<{ items: RawObject[] }>('GET', path, { query: { labelSelector: SELECTOR(kind) } })).items;
  };

  /** A kubeconfig for ServiceAccount `sa` of `ns`; waits (bounded) until RBAC lets it list secrets when `expectAccess`. */
  async function serviceAccountKubeconfig(ns: string, sa: string, expectAccess: boolean): Promise<string> {
    const path = join(dir, `${ns}-${sa}.kubeconfig`);
    await cluster.writeKubeconfig(path, await cluster.requestToken(ns, sa, { audiences: [cluster.server], expirationSeconds: 3600 }));
    if (!expectAccess) return path;
    const client = createKubeClient(await loadKubeconfig(path), { timeoutMs: 5000 });
    try {
      // RBAC reaches the authorizer through an informer: poll the apiserver until the binding applies.
      for (let deadline = Date.now() + 10_000; ; ) {
        try {
          await client.request('GET', `/api/v1/namespaces/${ns}/secrets`, { query: { limit: '1' } });
          return path;
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 403) || Date.now() > deadline) throw err;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      client.close();
    }
  }

  async function storageFor(kc: string, ns: string, extra: { random?: () => number; sleep?: (ms: number) => Promise<void>; maxAttempts?: number; wrap?: (c: KubeClient) => KubeClient } = {}): Promise<AuthStorage> {
    const client = createKubeClient(await loadKubeconfig(kc), { timeoutMs: 5000 });
    return openKubernetesStorage({ client: extra.wrap ? extra.wrap(client) : client, namespace: ns, now: () => Date.now(), ...extra });
  }

  const token = (name: string, roles: string[] = ['App']) => parseProvisionToken(tokenYaml({ name, jwks: issuer.jwks(), roles }), Date.now());

  before(async function () {
    this.timeout(180_000);
    started = Date.now();
    dir = await mkdtemp(join(tmpdir(), 'kube-join-storage-test-'));
    issuer = await createTokenIssuer();
    cluster = await sharedKubeCluster();
    for (const ns of [NS, UNIT_NS]) {
      await cluster.createNamespace(ns);
      for (const sa of [AUTH_SA, NO_ROLE_SA, SECRETS_ONLY_SA]) await cluster.createServiceAccount(ns, sa);
      await cluster.createRole(ns, 'kube-join-auth-storage', [SECRETS_RULE, LEASES_RULE]);
      await cluster.createRoleBinding(ns, 'kube-join-auth-storage', 'kube-join-auth-storage', [{ namespace: ns, name: AUTH_SA }]);
      await cluster.createRole(ns, 'secrets-only', [SECRETS_RULE]);
      await cluster.createRoleBinding(ns, 'secrets-only', 'secrets-only', [{ namespace: ns, name: SECRETS_ONLY_SA }]);
    }
    // As the chart binds it: without system:auth-delegator the replicas' /readyz (a TokenReview probe) fails.
    await cluster.createClusterRoleBinding('kube-join-storage:auth-delegator', 'system:auth-delegator', [{ kind: 'ServiceAccount', name: AUTH_SA, namespace: NS }]);
    kubeconfig = await serviceAccountKubeconfig(NS, AUTH_SA, true);
  });

  after(async () => {
    await issuer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    process.stdout.write(`      (storage tests took ${Date.now() - started} ms)\n`);
  });

  describe('two auth processes', () => {
    let a: AuthProcess | undefined;
    let b: AuthProcess | undefined;
    let caPem: string;

    async function startReplica(name: string): Promise<AuthProcess> {
      await mkdir(join(dir, name));
      return startAuthProcess(join(dir, name), {
        clusterName: CLUSTER,
        args: ['--storage', 'kubernetes', '--storage-namespace', NS, '--kubeconfig', kubeconfig, '--join-rate-per-source', '1000', '--log-level', 'info'],
      });
    }

    const adminTls = async (replica: AuthProcess) => ({
      certificateAuthority: caPem,
      key: await readFile(join(replica.stateDir, 'admin', 'tls.key'), 'utf8'),
      certificate: await readFile(join(replica.stateDir, 'admin', 'tls.crt'), 'utf8'),
    });

    /** One join request, in this process, as an agent would send it. */
    async function joinVia(replica: AuthProcess, tokenName: string, hostId: string): Promise<Response<string>> {
      const key = await generateKey('ecdsa-p256');
      return got.post(`https://${replica.addr}/v1/join`, {
        json: { tokenName, joinMethod: 'kubernetes', kubernetesToken: await issuer.mint({ ...POD, podName: hostId }), csr: await createCsrPem(key, hostId), hostId, agentVersion: 'storage-test' },
        https: { certificateAuthority: caPem },
        throwHttpErrors: false,
        retry: { limit: 0 },
        timeout: { request: 15_000 },
      });
    }

    async function createTokenVia(replica: AuthProcess, name: string, overwrite: boolean): Promise<Response<string>> {
      return got.post(`https://${replica.addr}/v1/admin/tokens${overwrite ? '?overwrite=true' : ''}`, {
        body: tokenYaml({ name, jwks: issuer.jwks() }),
        headers: { 'content-type': 'application/yaml' },
        https: await adminTls(replica),
        throwHttpErrors: false,
        retry: { limit: 0 },
        timeout: { request: 15_000 },
      });
    }

    const inventoryVia = async (replica: AuthProcess) =>
      (await got(`https://${replica.addr}/v1/admin/inventory`, { https: await adminTls(replica), retry: { limit: 0 } }).json<{ agents: AgentRecord[] }>()).agents;
    const tokenNamesVia = async (replica: AuthProcess) =>
      (await got(`https://${replica.addr}/v1/admin/tokens`, { https: await adminTls(replica), retry: { limit: 0 } }).json<{ tokens: { name: string }[] }>()).tokens.map((t) => t.name);

    before(async () => {
      // Started at once: both find no CA and race to create one.
      const [ra, rb] = await Promise.allSettled([startReplica('a'), startReplica('b')]);
      a = ra.status === 'fulfilled' ? ra.value : undefined;
      b = rb.status === 'fulfilled' ? rb.value : undefined;
      if (ra.status === 'rejected') throw ra.reason;
      if (rb.status === 'rejected') throw rb.reason;
      caPem = await readFile(join((a as AuthProcess).stateDir, 'admin', 'ca.crt'), 'utf8');
    });

    after(async () => {
      await a?.stop();
      await b?.stop();
    });

    it('started at once, they store ONE CA Secret and both serve with it; each writes its own admin identity', async () => {
      const [ra, rb] = [a as AuthProcess, b as AuthProcess];
      assert.equal(ra.caPin, rb.caPin);
      const cas = await rawList(NS, 'secrets', 'ca');
      assert.deepEqual(cas.map((s) => [s.metadata.name, s.type, Object.keys(s.data ?? {}).sort()]), [['kube-join-ca', 'Opaque', ['ca.crt', 'ca.key']]]);
      const created = [...ra.proc.lines, ...rb.proc.lines].filter((l) => l.msg === 'created a new CA');
      assert.equal(created.length, 1, 'exactly one replica created the CA');
      assert.equal(await readFile(join(rb.stateDir, 'admin', 'ca.crt'), 'utf8'), caPem);
      assert.notEqual(await readFile(join(ra.stateDir, 'admin', 'tls.crt'), 'utf8'), await readFile(join(rb.stateDir, 'admin', 'tls.crt'), 'utf8'));
      for (const r of [ra, rb]) assert.equal((await readFile(join(r.stateDir, 'auth.addr'), 'utf8')).trim(), r.addr);
    });

    it('a token created through one replica (token create) joins an agent process through the other', async () => {
      const [ra, rb] = [a as AuthProcess, b as AuthProcess];
      const name = 'Shared.Token_1';
      await writeFile(join(dir, 'shared.yaml'), tokenYaml({ name, jwks: issuer.jwks(), roles: ['App'] }));
      const created = await kubeJoinRun(['token', 'create', '-f', join(dir, 'shared.yaml'), '--state-dir', ra.stateDir]);
      assert.equal(created.code, 0, created.stderr);

      // One Secret, its name a DNS-1123 mapping of the real name, which rides along as an annotation.
      const secret = (await rawList(NS, 'secrets', 'token')).find((s) => s.metadata.annotations?.['kube-join.dev/token-name'] === name);
      assert.ok(secret, 'the token has a Secret');
      assert.equal(secret.metadata.name, tokenObjectName(name));
      assert.match(secret.metadata.name, /^kube-join-token-shared-token-1\.[0-9a-f]{12}$/);

      const shown = await kubeJoinRun(['token', 'get', name, '--state-dir', rb.stateDir]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^ {2}name: Shared\.Token_1$/m);

      const tokenPath = join(dir, 'agent-token');
      await issuer.writeToken(tokenPath, { ...POD, podName: 'agent-via-b' });
      const agent = kubeJoin([
        'agent', '--once',
        '--auth-addr', rb.addr,
        '--ca-pin', rb.caPin,
        '--token-name', name,
        '--token-path', tokenPath,
        '--cluster-name', CLUSTER,
        '--out-dir', join(dir, 'agent-out'),
        '--health-addr', 'off',
        '--once-timeout', '30s',
      ]);
      const code = await agent.exited.finally(() => agent.stop(1000));
      assert.equal(code, 0, agent.stderr());
      const leaf = new X509Certificate(await readFile(join(dir, 'agent-out', 'tls.crt'), 'utf8'));
      assert.ok(await leaf.verify({ publicKey: new X509Certificate(caPem), signatureOnly: true }), 'the leaf is signed by the shared CA');
      assert.equal(await readFile(join(dir, 'agent-out', 'ca.crt'), 'utf8'), caPem);

      // The inventory is shared too: the agent that joined through B is listed by A, in one Lease.
      const viaB = (await inventoryVia(ra)).filter((r) => r.hostId === 'agent-via-b');
      assert.deepEqual(viaB.map((r) => [r.namespace, r.podName, r.tokenName]), [[POD.namespace, 'agent-via-b', name]]);
      const key = agentKey(POD.namespace, 'agent-via-b', viaB[0]?.podUid ?? '');
      const lease = (await rawList(NS, 'leases', 'agent')).find((l) => l.metadata.name === agentObjectName(key));
      assert.ok(lease, 'the agent has a Lease');
      assert.equal(lease.spec?.holderIdentity, key);
    });

    it('20 concurrent joins across both replicas and concurrent token writes lose nothing', async () => {
      const [ra, rb] = [a as AuthProcess, b as AuthProcess];
      await createTokenVia(ra, 'burst', false).then((r) => assert.equal(r.statusCode, 201, r.body));
      const hosts = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
      const names = Array.from({ length: 10 }, (_, i) => `many-${i}`);
      const [joins, creates, overwrites] = await Promise.all([
        Promise.all(hosts.map((h, i) => joinVia(i % 2 ? rb : ra, 'burst', h))),
        Promise.all(names.map((n, i) => createTokenVia(i % 2 ? rb : ra, n, false))),
        // Ten writers of one name through both replicas, none existing yet: creates race, updates conflict.
        Promise.all(Array.from({ length: 10 }, (_, i) => createTokenVia(i % 2 ? rb : ra, 'hot', true))),
      ]);
      assert.deepEqual(joins.map((r) => r.statusCode), hosts.map(() => 200), joins.find((r) => r.statusCode !== 200)?.body);
      assert.deepEqual([...creates, ...overwrites].map((r) => r.statusCode), [...names, ...overwrites].map(() => 201));

      for (const replica of [ra, rb]) {
        const listed = new Set((await inventoryVia(replica)).map((r) => r.hostId));
        assert.deepEqual(hosts.filter((h) => !listed.has(h)), [], 'every joined agent is in the inventory');
        const tokens = await tokenNamesVia(replica);
        assert.deepEqual([...names, 'hot', 'burst'].filter((n) => !tokens.includes(n)), [], 'every token is listed');
      }
      // One object per record: a Lease per agent, a Secret per token.
      const leases = await rawList(NS, 'leases', 'agent');
      assert.equal(leases.filter((l) => /^teleport-agent\/burst-\d+\/[0-9a-f-]{36}$/.test(String(l.spec?.holderIdentity))).length, 20);
      assert.equal((await rawList(NS, 'secrets', 'token')).filter((s) => s.metadata.annotations?.['kube-join.dev/token-name'] === 'hot').length, 1);
    });

    it('SIGKILL of one replica in the middle of writes: the other keeps serving, and every stored object parses', async () => {
      const [ra, rb] = [a as AuthProcess, b as AuthProcess];
      let stop = false;
      const joined: string[] = [];
      const tokensCreated: string[] = [];
      let progress: () => void = () => undefined;
      const enough = new Promise<void>((resolve) => (progress = () => joined.length >= 8 && tokensCreated.length >= 4 && resolve()));
      // Workers write through A until it dies: joins (Lease writes) and token creates (Secret writes).
      const worker = async (w: number, kind: 'join' | 'token') => {
        for (let n = 0; !stop; n++) {
          const id = `kill-${kind}-${w}-${n}`;
          try {
            const res = kind === 'join' ? await joinVia(ra, 'burst', id) : await createTokenVia(ra, id, false);
            if (res.statusCode === (kind === 'join' ? 200 : 201)) (kind === 'join' ? joined : tokensCreated).push(id);
            progress();
          } catch {
            return; // A is gone
          }
        }
      };
      const workers = [0, 1, 2, 3].map((w) => worker(w, 'join')).concat([0, 1].map((w) => worker(w, 'token')));
      await enough;
      process.kill(ra.proc.child.pid as number, 'SIGKILL');
      assert.equal(await ra.proc.exited, 'SIGKILL');
      stop = true;
      await Promise.all(workers);

      // B keeps serving: ready, joins, and its listings hold everything A acknowledged.
      const ready = await got(`https://${rb.addr}/readyz`, { https: { certificateAuthority: caPem }, retry: { limit: 0 } }).json();
      assert.deepEqual(ready, { ready: true });
      assert.equal((await joinVia(rb, 'burst', 'after-kill')).statusCode, 200);
      const inventory = new Set((await inventoryVia(rb)).map((r) => r.hostId));
      assert.deepEqual([...joined, 'after-kill'].filter((h) => !inventory.has(h)), []);
      const ls = await kubeJoinRun(['token', 'ls', '--state-dir', rb.stateDir]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(tokensCreated.filter((t) => !new RegExp(`^${t} `, 'm').test(ls.stdout)), []);

      // No half-written object: every Lease and token Secret in the namespace parses in full.
      for (const lease of await rawList(NS, 'leases', 'agent')) {
        const entry = JSON.parse(lease.metadata.annotations?.['kube-join.dev/agent'] ?? 'null') as { key: string; record: unknown };
        const record = AgentRecordSchema.parse(entry.record);
        assert.equal(lease.metadata.name, agentObjectName(entry.key));
        assert.equal(entry.key, agentKey(record.namespace, record.podName, record.podUid));
      }
      for (const secret of await rawList(NS, 'secrets', 'token')) {
        const parsed = parseProvisionToken(Buffer.from(secret.data?.['token.yaml'] ?? '', 'base64').toString('utf8'), Date.now());
        assert.equal(secret.metadata.name, tokenObjectName(parsed.metadata.name));
      }
      a = undefined;
    });
  });

  describe('the backend, in process', () => {
    let unitKubeconfig: string;
    before(async () => {
      unitKubeconfig = await serviceAccountKubeconfig(UNIT_NS, AUTH_SA, true);
    });

    it('maps token names to DNS-1123 Secret names deterministically, without collisions', async () => {
      assert.equal(tokenObjectName('app'), 'kube-join-token-app');
      assert.match(tokenObjectName('App'), /^kube-join-token-app\.[0-9a-f]{12}$/);
      assert.match(tokenObjectName('a.b_c'), /^kube-join-token-a-b-c\.[0-9a-f]{12}$/);
      assert.equal(tokenObjectName('App'), tokenObjectName('App'));
      const long = `T${'x'.repeat(198)}z`;
      assert.ok(tokenObjectName(long).length <= 253);
      assert.ok(tokenObjectName(`T${'x'.repeat(251)}z`).length <= 253, 'even a name past the token rules maps to a valid object name');
      const storage = await storageFor(unitKubeconfig, UNIT_NS);
      try {
        for (const [name, role] of [['app', 'Node'], ['App', 'Kube'], ['a.b_c', 'Db'], [long, 'WindowsDesktop']] as const) await storage.putToken(token(name, [role]), { overwrite: false });
        assert.deepEqual((await storage.getToken('App'))?.spec.roles, ['Kube']);
        assert.deepEqual((await storage.getToken('app'))?.spec.roles, ['Node']);
        assert.deepEqual((await storage.getToken('a.b_c'))?.spec.roles, ['Db']);
        assert.deepEqual((await storage.getToken(long))?.spec.roles, ['WindowsDesktop']);
        assert.equal(await storage.getToken('a-b-c'), undefined);
        assert.equal(await storage.getToken('../x'), undefined);
        await assert.rejects(storage.putToken(token('App'), { overwrite: false }), { code: 'ERR_TOKEN_EXISTS', message: 'provision token "App" already exists (remove it first, or pass --force)' });
        await storage.deleteToken('App');
        await assert.rejects(storage.deleteToken('App'), { code: 'ERR_TOKEN_NOT_FOUND', message: 'provision token "App" not found' });
        assert.deepEqual((await storage.listTokens()).map((t) => t.metadata.name), [long, 'a.b_c', 'app'].sort((x, y) => x.localeCompare(y)));
      } finally {
        await storage.close();
      }
    });

    it('retries an overwrite that lost a race (409 Conflict) after a jittered wait, and gives up after maxAttempts', async () => {
      const other = await storageFor(unitKubeconfig, UNIT_NS);
      const sleeps: number[] = [];
      /** Before each of our PUTs, another writer updates the same Secret: our resourceVersion is stale. */
      const racing = (times: number) => (client: KubeClient): KubeClient => {
        let left = times;
        // Each racing write must change the object: an identical PUT is a no-op that keeps the
        // resourceVersion (and expiries are kept to the second, so two writes can be identical).
        const request = (async (method, path, options) => {
          if (method === 'PUT' && left-- > 0) await other.putToken(token('raced', [left % 2 ? 'Bot' : 'Db']), { overwrite: true });
          return client.request(method, path, options);
        }) as KubeClient['request'];
        return { ...client, request };
      };
      const opts = { random: () => 0.5, sleep: async (ms: number) => void sleeps.push(ms), maxAttempts: 3 };
      const once = await storageFor(unitKubeconfig, UNIT_NS, { ...opts, wrap: racing(1) });
      const always = await storageFor(unitKubeconfig, UNIT_NS, { ...opts, wrap: racing(99) });
      try {
        await other.putToken(token('raced', ['Discovery']), { overwrite: false });
        await once.putToken(token('raced', ['Kube']), { overwrite: true });
        // The shared back-off (retryDelayMs) with the conflict policy, base 40 ms: 4 + (40 - 4) * 0.5.
        assert.deepEqual(sleeps, [22]);
        assert.deepEqual((await other.getToken('raced'))?.spec.roles, ['Kube']);
        sleeps.length = 0;
        await assert.rejects(always.putToken(token('raced', ['Node']), { overwrite: true }), (err: unknown) => {
          assert.ok(err instanceof StorageError);
          assert.equal(err.message, 'Kubernetes storage: writing token "raced" still conflicted with other writers after 3 attempts');
          return true;
        });
        assert.deepEqual(sleeps, [22, 42]);
      } finally {
        await Promise.all([other.close(), once.close(), always.close()]);
      }
    });

    it('the inventory sweep deletes only the version it listed: a record refreshed by another replica stays', async () => {
      const sweeper = await storageFor(unitKubeconfig, UNIT_NS);
      const joiner = await storageFor(unitKubeconfig, UNIT_NS);
      const record = (at: string, hostId: string): AgentRecord => ({
        hostId, namespace: 'apps', serviceAccount: 'web', podName: hostId, podUid: `uid-${hostId}`, roles: ['App'], apps: [], tokenName: 'app', agentVersion: 't',
        firstJoin: '2026-01-01T00:00:00.000Z', lastJoin: at, notAfter: at, expiresAt: at,
      });
      try {
        await joiner.putAgent('apps/web-0', record('2026-01-01T00:00:00.000Z', 'web-0'));
        await joiner.putAgent('apps/web-1', record('2026-01-01T00:00:00.000Z', 'web-1'));
        assert.deepEqual((await sweeper.listAgents()).map((e) => e.key).sort(), ['apps/web-0', 'apps/web-1']);
        await joiner.putAgent('apps/web-0', record('2026-01-01T01:00:00.000Z', 'web-0')); // joined again meanwhile
        await sweeper.deleteAgent('apps/web-0');
        await sweeper.deleteAgent('apps/web-1');
        assert.equal((await sweeper.getAgent('apps/web-0'))?.lastJoin, '2026-01-01T01:00:00.000Z');
        assert.equal(await sweeper.getAgent('apps/web-1'), undefined);
        const lease = (await rawList(UNIT_NS, 'leases', 'agent')).find((l) => l.metadata.name === agentObjectName('apps/web-0'));
        assert.deepEqual(lease?.spec, { holderIdentity: 'apps/web-0', acquireTime: '2026-01-01T00:00:00.000000Z', renewTime: '2026-01-01T01:00:00.000000Z', leaseDurationSeconds: 1 });
      } finally {
        await Promise.all([sweeper.close(), joiner.close()]);
      }
    });

    it('a redeployed pod supersedes its old ReplicaSet\'s record in the Leases, and a renewal of the old pod keeps it superseded', async () => {
      const storage = await storageFor(unitKubeconfig, UNIT_NS);
      const t0 = Date.parse('2026-01-01T00:00:00.000Z');
      const facts = (podName: string, notAfter: number) => ({
        hostId: podName, namespace: 'redeploy', serviceAccount: 'grafana', podName, podUid: `uid-${podName}`, roles: ['App'],
        apps: [{ name: 'grafana', uri: 'http://localhost:3000' }], tokenName: 'app', agentVersion: 't', notAfter: new Date(notAfter),
      });
      const policy = { graceMs: 3_600_000, maxPerServiceAccount: 10 };
      try {
        await recordJoin(storage, facts('grafana-5f7d9c8b4-aaaaa', t0 + 3_600_000), t0, policy);
        const second = await recordJoin(storage, facts('grafana-6c8e0d9a5-bbbbb', t0 + 3_600_000), t0 + 1000, policy);
        assert.deepEqual(second.superseded, ['redeploy/grafana-5f7d9c8b4-aaaaa/uid-grafana-5f7d9c8b4-aaaaa']);
        await recordJoin(storage, facts('grafana-5f7d9c8b4-aaaaa', t0 + 7_200_000), t0 + 2000, policy);
        const stored = Object.fromEntries((await storage.listAgentsOf('redeploy', 'grafana')).map((e) => [e.record.podName, [e.record.supersededBy ?? null, e.record.notAfter]]));
        assert.deepEqual(stored, {
          'grafana-5f7d9c8b4-aaaaa': ['redeploy/grafana-6c8e0d9a5-bbbbb/uid-grafana-6c8e0d9a5-bbbbb', '2026-01-01T02:00:00.000Z'],
          'grafana-6c8e0d9a5-bbbbb': [null, '2026-01-01T01:00:00.000Z'],
        });
      } finally {
        await storage.close();
      }
    });

    it('without RBAC on secrets the auth service does not start, and says what to grant', async () => {
      const noRole = await serviceAccountKubeconfig(UNIT_NS, NO_ROLE_SA, false);
      const config = resolveAuthConfig({
        flags: { listen: '127.0.0.1:0', metricsAddr: 'off', stateDir: join(dir, 'no-role'), clusterName: CLUSTER, kubeconfig: noRole, storage: 'kubernetes', storageNamespace: UNIT_NS, logLevel: 'error' },
        env: {},
      });
      await assert.rejects(startAuthService(config, { logger: silentLogger(), now: () => Date.now(), processMetrics: false }), (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.equal(err.code, 'ERR_STORAGE');
        assert.equal(
          err.message,
          `Kubernetes storage: the auth service may not get secrets in namespace ${UNIT_NS}; ${RBAC_HINT(UNIT_NS)} (apiserver: secrets "kube-join-ca" is forbidden: User "system:serviceaccount:${UNIT_NS}:${NO_ROLE_SA}" cannot get resource "secrets" in API group "" in the namespace "${UNIT_NS}")`,
        );
        return true;
      });
      // Secrets but no Leases: tokens work, the inventory names the missing leases permission.
      const secretsOnly = await storageFor(await serviceAccountKubeconfig(UNIT_NS, SECRETS_ONLY_SA, true), UNIT_NS);
      try {
        await secretsOnly.putToken(token('secrets-only'), { overwrite: false });
        assert.equal((await secretsOnly.getToken('secrets-only'))?.metadata.name, 'secrets-only');
        await assert.rejects(secretsOnly.listAgents(), {
          code: 'ERR_STORAGE',
          message: `Kubernetes storage: the auth service may not list leases.coordination.k8s.io in namespace ${UNIT_NS}; ${RBAC_HINT(UNIT_NS)} (apiserver: leases.coordination.k8s.io is forbidden: User "system:serviceaccount:${UNIT_NS}:${SECRETS_ONLY_SA}" cannot list resource "leases" in API group "coordination.k8s.io" in the namespace "${UNIT_NS}")`,
        });
      } finally {
        await secretsOnly.close();
      }
    });

    it('an unreachable API is a StorageError naming the server, and the options say what kubernetes storage needs', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as { port: number }).port;
      await new Promise<void>((r) => closed.close(() => r()));
      const client = createKubeClient({ ...(await loadKubeconfig(unitKubeconfig)), server: `https://127.0.0.1:${port}` }, { timeoutMs: 2000 });
      const storage = await openKubernetesStorage({ client, namespace: UNIT_NS, now: () => Date.now() });
      try {
        await assert.rejects(storage.ping(), {
          code: 'ERR_STORAGE',
          message: `Kubernetes storage (namespace ${UNIT_NS}) is unreachable: Kubernetes API https://127.0.0.1:${port} (kubeconfig ${unitKubeconfig} (context sa@test)): GET /api/v1/namespaces/${UNIT_NS}/secrets failed (ECONNREFUSED)`,
        });
      } finally {
        await storage.close();
      }
      const resolve = (flags: Record<string, unknown>, env: Record<string, string> = {}) => () => resolveAuthConfig({ flags: { storage: 'kubernetes', ...flags }, env });
      assert.throws(resolve({ storageNamespace: UNIT_NS }), { code: 'ERR_CONFIG', message: '--storage kubernetes needs the Kubernetes API: run in a pod or give --kubeconfig' });
      assert.throws(resolve({ kubeconfig: unitKubeconfig }), { code: 'ERR_CONFIG', message: '--storage kubernetes needs --storage-namespace when not running in a pod' });
      assert.throws(resolve({ kubeconfig: unitKubeconfig, storageNamespace: 'Not_A_Namespace' }), { code: 'ERR_CONFIG', message: '--storage-namespace must be a namespace name (a DNS-1123 label; got "Not_A_Namespace")' });
      assert.throws(resolve({ storage: 'etcd' }), { code: 'ERR_CONFIG', message: '--storage must be file or kubernetes (got "etcd")' });
      assert.deepEqual(resolveAuthConfig({ flags: { storage: 'kubernetes' }, env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' } }).storage, { type: 'kubernetes', namespace: undefined });
      assert.deepEqual(resolveAuthConfig({ flags: {}, env: {} }).storage, { type: 'file' });
    });
  });
});
