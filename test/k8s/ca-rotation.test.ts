/**
 * CA rotation on kubernetes storage against the k8s tier's real kube-apiserver: two `kube-join auth`
 * processes serve one namespace, one is told each phase and the other follows from the CA Secret; the
 * bundle ConfigMap is kept current in a namespace named on the command line and in one selected by
 * label, with the chart's RBAC (a ClusterRole narrowed to the ConfigMap's name). Agents renew every
 * few seconds throughout; half read their --ca-file from the ConfigMap (copied to disk as the kubelet
 * would), half pin the first CA.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgent, AGENT_CHANNELS, type FailedEvent } from '../../src/agent/agent.ts';
import { systemClock } from '../../src/agent/clock.ts';
import { resolveAgentConfig } from '../../src/agent/config.ts';
import { createAgentMetrics } from '../../src/agent/metrics.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { createTokenIssuer, type TokenIssuer } from '../../src/demo/index.ts';
import { KubeApiError } from '../../src/kube/index.ts';
import { CaStatusSchema, type CaStatus } from '../../src/protocol/index.ts';
import { ChannelQueue } from '../support/events.ts';
import { kubeJoinRun, startAuthProcess, tokenYaml, type AuthProcess } from '../support/kube-join.ts';
import { certsOf, setOf, untilEverySet } from '../support/rotation.ts';
import { sharedKubeCluster, type KubeCluster } from './harness.ts';

const CLUSTER = 'rotation-test.kube-join';
const NS = 'kube-join-rotation';
const NAMED_NS = 'rotation-apps';
const SELECTED_NS = 'rotation-selected';
const SELECTOR = 'kube-join.io/ca-bundle=true';
const CONFIGMAP = 'kube-join-ca-bundle';
const AGENTS = 6;
const WAIT_MS = 40_000;
const VERBS = ['get', 'list', 'create', 'update', 'delete'];

describe('k8s: CA rotation with two auth replicas on kubernetes storage, and the bundle ConfigMap', function () {
  this.timeout(240_000);
  let cluster: KubeCluster;
  let dir: string;
  let issuer: TokenIssuer;
  const replicas: AuthProcess[] = [];
  const controller = new AbortController();
  const running: Promise<void>[] = [];
  const failures: FailedEvent[] = [];
  const onFailed = (m: unknown) => failures.push(m as FailedEvent);
  let written: ChannelQueue<unknown> | undefined;

  /** The ConfigMap's ca.crt in `ns`, or undefined while it does not exist. */
  async function configMapBundle(ns: string): Promise<string | undefined> {
    try {
      return (await cluster.admin.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/configmaps/${CONFIGMAP}`)).data?.['ca.crt'];
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Polls (bounded, with back-off) until `check` returns true; throws naming `what`. */
  async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      if (await check()) return;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  async function caVia(replica: AuthProcess): Promise<CaStatus> {
    const r = await kubeJoinRun(['ca', '--format', 'json', '--state-dir', replica.stateDir]);
    assert.equal(r.code, 0, r.stderr);
    return CaStatusSchema.parse(JSON.parse(r.stdout));
  }

  before(async function () {
    this.timeout(180_000);
    dir = await mkdtemp(join(tmpdir(), 'kube-join-rotation-test-'));
    issuer = await createTokenIssuer();
    cluster = await sharedKubeCluster();
    await cluster.createNamespace(NS);
    await cluster.createNamespace(NAMED_NS);
    await cluster.admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SELECTED_NS, labels: { 'kube-join.io/ca-bundle': 'true' } } } }).catch((err: unknown) => {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    });
    await cluster.createServiceAccount(NS, 'auth');
    await cluster.createRole(NS, 'kube-join-auth-storage', [{ apiGroups: [''], resources: ['secrets'], verbs: VERBS }, { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: VERBS }]);
    await cluster.createRoleBinding(NS, 'kube-join-auth-storage', 'kube-join-auth-storage', [{ namespace: NS, name: 'auth' }]);
    // The chart's ClusterRole for publishing, verb for verb.
    await cluster.admin.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'kube-join-rotation-ca-bundle' },
        rules: [
          { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
          { apiGroups: [''], resources: ['configmaps'], resourceNames: [CONFIGMAP], verbs: ['get', 'update'] },
          { apiGroups: [''], resources: ['namespaces'], verbs: ['list'] },
        ],
      },
    }).catch((err: unknown) => {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    });
    await cluster.createClusterRoleBinding('kube-join-rotation-ca-bundle', 'kube-join-rotation-ca-bundle', [{ kind: 'ServiceAccount', name: 'auth', namespace: NS }]);
    await cluster.createClusterRoleBinding('kube-join-rotation:auth-delegator', 'system:auth-delegator', [{ kind: 'ServiceAccount', name: 'auth', namespace: NS }]);
    const kubeconfig = join(dir, 'auth.kubeconfig');
    await cluster.writeKubeconfig(kubeconfig, await cluster.requestToken(NS, 'auth', { audiences: [cluster.server], expirationSeconds: 3600 }));
    const args = [
      '--storage', 'kubernetes', '--storage-namespace', NS, '--kubeconfig', kubeconfig,
      '--cert-ttl', '6s', '--max-cert-ttl', '30s', '--ca-sync-interval', '500ms',
      '--ca-bundle-namespaces', NAMED_NS, '--ca-bundle-namespace-selector', SELECTOR,
      '--join-rate-per-source', '1000', '--join-rate-global', '1000',
    ];
    // One after the other: the first creates the CA, and RBAC may take a moment to apply to both.
    for (const name of ['a', 'b']) {
      await mkdir(join(dir, name));
      await eventually(`replica ${name} to start`, async () => {
        try {
          replicas.push(await startAuthProcess(join(dir, name), { clusterName: CLUSTER, args }));
          return true;
        } catch {
          return false;
        }
      });
    }
    await writeFile(join(dir, 'token.yaml'), tokenYaml({ name: 'kube-token', jwks: issuer.jwks(), expires: new Date(Date.now() + 3_600_000).toISOString() }));
    const created = await kubeJoinRun(['token', 'create', '-f', join(dir, 'token.yaml'), '--state-dir', (replicas[0] as AuthProcess).stateDir]);
    assert.equal(created.code, 0, created.stderr);
  });

  after(async () => {
    controller.abort();
    await Promise.allSettled(running);
    unsubscribe(AGENT_CHANNELS.failed, onFailed);
    written?.close();
    for (const r of replicas) await r.stop();
    await issuer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('one replica steps, the other follows; the ConfigMaps hold old+new during the overlap; 0 failed renewals', async () => {
    const [a, b] = replicas as [AuthProcess, AuthProcess];
    const queue = new ChannelQueue<unknown>(AGENT_CHANNELS.written);
    written = queue;
    subscribe(AGENT_CHANNELS.failed, onFailed);
    const start = await caVia(a);
    assert.deepEqual((await caVia(b)).bundlePins, start.bundlePins, 'both replicas serve the one CA');

    // The ConfigMap, in the named and in the selected namespace, holds the bundle the replicas serve.
    const bundleFile = join(dir, 'configmap-ca.crt');
    const published = async (pins: string[]): Promise<string> => {
      let bundle = '';
      await eventually(`ConfigMaps holding ${pins.join(', ')}`, async () => {
        const [named, selected] = await Promise.all([configMapBundle(NAMED_NS), configMapBundle(SELECTED_NS)]);
        if (named === undefined || named !== selected) return false;
        const status = await caVia(b);
        const matches = JSON.stringify(status.bundlePins) === JSON.stringify(pins) && certsOf(named).length === pins.length;
        bundle = named;
        return matches;
      });
      // What the kubelet does for a ConfigMap volume: the new content appears in the pod's file.
      await writeFile(bundleFile, bundle);
      return bundle;
    };
    await published(start.bundlePins);

    const outs: string[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const out = join(dir, `out-${i}`);
      const tokenPath = join(dir, `token-${i}`);
      await issuer.writeToken(tokenPath, { namespace: 'teleport-agent', serviceAccount: 'teleport-app-service', podName: `app-${i}`, podUid: `uid-${i}`, audience: CLUSTER });
      outs.push(out);
      const replica = i % 2 === 0 ? a : b;
      const trust = i % 3 === 0 ? { caPin: [start.signing] } : { caFile: bundleFile };
      const config = resolveAgentConfig({ flags: { authAddr: replica.addr, tokenName: 'kube-token', tokenPath, outDir: out, healthAddr: 'off', clusterName: CLUSTER, renewBefore: '1s', retryBase: '200ms', retryCap: '1s', ...trust }, env: {} }, { fileExists: () => false });
      running.push(createAgent(config, { clock: systemClock, random: Math.random, logger: silentLogger(), metrics: createAgentMetrics({ processMetrics: false }) }).run(controller.signal));
    }
    const untilEvery = (what: string, done: Parameters<typeof untilEverySet>[3]) => untilEverySet(outs, queue, what, done, WAIT_MS);
    await untilEvery('a first certificate', (s) => s.cas.length === 1);

    /** Steps through `driver`, then waits until `follower` reports the same phase from storage. */
    const step = async (driver: AuthProcess, follower: AuthProcess, phase: string): Promise<CaStatus> => {
      const r = await kubeJoinRun(['ca', 'rotate', '--phase', phase, '--format', 'json', '--state-dir', driver.stateDir]);
      assert.equal(r.code, 0, r.stderr);
      const status = CaStatusSchema.parse(JSON.parse(r.stdout));
      await eventually(`the other replica to follow to ${phase}`, async () => {
        const seen = await caVia(follower);
        return seen.phase === status.phase && seen.signing === status.signing && seen.serving === status.serving;
      });
      return status;
    };

    const init = await step(a, b, 'init');
    const newPin = init.cas.find((c) => c.role === 'next')?.pin as string;
    assert.deepEqual(init.bundlePins, [start.signing, newPin]);
    await published(init.bundlePins);
    await untilEvery('a bundle of both CAs', (s) => s.cas.length === 2);

    // Two replicas told the same step at once: one writes it, the other is refused (409), never both.
    const racing = await Promise.all([a, b].map((r) => kubeJoinRun(['ca', 'rotate', '--phase', 'update-clients', '--state-dir', r.stateDir])));
    assert.deepEqual(racing.map((r) => r.code).sort(), [0, 1], racing.map((r) => r.stderr).join('\n'));
    const refused = racing.find((r) => r.code === 1) as { stderr: string };
    assert.match(refused.stderr, /the CA rotation is already in phase "update-clients"|the CA record was changed by another auth replica at the same time/);
    await eventually('both replicas to sign with the new CA', async () => (await Promise.all([caVia(a), caVia(b)])).every((s) => s.signing === newPin && s.serving === start.signing));
    await untilEvery('a leaf of the new CA', (s) => s.leaf.issuer !== s.cas[0]?.subject);

    const servers = await step(b, a, 'update-servers');
    assert.equal(servers.serving, newPin);
    const serials = await Promise.all(outs.map(async (o) => (await setOf(o))?.leaf.serialNumber));
    await untilEvery('a renewal against the new serving certificate', (s, i) => s.leaf.serialNumber !== serials[i]);

    const standby = await step(a, b, 'standby');
    assert.deepEqual(standby.bundlePins, [newPin, start.signing], 'the old CA stays in the bundle at standby');
    await published([newPin, start.signing]);
    // It leaves once every leaf it may have signed has expired (30 s max TTL after update-clients).
    await published([newPin]);
    await untilEvery('a bundle of the new CA alone', (s) => s.cas.length === 1);
    assert.deepEqual(failures, [], 'no join attempt failed during the rotation');
  });
});
