/**
 * The k8s tier for `kube-join injector`: the real kube-apiserver calls the real injector process on
 * loopback through a MutatingWebhookConfiguration whose caBundle the injector sets itself (as its own
 * ServiceAccount, allowed only get and patch on that one object). Two replicas share one CA Secret. No controller-manager runs, so a
 * Deployment's pod is created from its template as the ReplicaSet controller would.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedKubeCluster, type KubeCluster } from './harness.ts';
import { kubeJoin } from '../support/kube-join.ts';
import type { KubeJoinProcess } from '../../src/cli/process.ts';
import { KubeApiError } from '../../src/kube/index.ts';

const NS = 'injector-apps';
const SA = 'web';
const INJECTOR_NS = 'kube-join-injector';
const INJECTOR_SA = 'injector';
const MWC = 'kube-join-injector-test';
const CA_SECRET = 'kube-join-injector-ca';
const MWC_PATH = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MWC}`;

interface StoredPod {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    initContainers?: { name: string; restartPolicy?: string; args?: string[]; securityContext?: { runAsUser?: number } }[];
    containers: { name: string; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
    volumes?: { name: string; projected?: { sources: { serviceAccountToken?: { audience: string; expirationSeconds: number } }[] }; configMap?: { name: string } }[];
    shareProcessNamespace?: boolean;
  };
}

describe('k8s: kube-join injector called by a real kube-apiserver', function () {
  this.timeout(90_000);
  let cluster: KubeCluster;
  let dir: string;
  let replicas: KubeJoinProcess[] = [];

  const webhook = (name: string, port: number, failurePolicy: 'Fail' | 'Ignore') => ({
    name,
    clientConfig: { url: `https://127.0.0.1:${port}/mutate` },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    // Only this file's namespace: other files share the cluster.
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
    failurePolicy,
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds: 5,
  });

  const createPod = (pod: Record<string, unknown>) => cluster.admin.request<StoredPod>('POST', `/api/v1/namespaces/${NS}/pods`, { body: { apiVersion: 'v1', kind: 'Pod', ...pod } });
  const plainPod = (name: string, annotations: Record<string, string> = {}) => ({
    metadata: { name, annotations },
    spec: { serviceAccountName: SA, containers: [{ name: 'app', image: 'registry.invalid/app:test' }] },
  });
  const setFailurePolicy = async (failurePolicy: 'Fail' | 'Ignore') => {
    const current = await cluster.admin.request<{ webhooks: unknown[] }>('GET', MWC_PATH);
    await cluster.admin.request('PATCH', MWC_PATH, { body: current.webhooks.map((_, i) => ({ op: 'replace', path: `/webhooks/${i}/failurePolicy`, value: failurePolicy })), contentType: 'application/json-patch+json' });
  };

  before(async () => {
    cluster = await sharedKubeCluster();
    dir = await mkdtemp(join(tmpdir(), 'kube-join-injector-'));
    await cluster.createNamespace(NS);
    await cluster.createServiceAccount(NS, SA);
    await cluster.createNamespace(INJECTOR_NS);
    await cluster.createServiceAccount(INJECTOR_NS, INJECTOR_SA);
    // What the auth chart grants the injector: get and patch on its own MutatingWebhookConfiguration,
    // get on its CA Secret and create (which cannot be narrowed to a name) in its namespace.
    await cluster.admin.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'kube-join-injector-test' }, rules: [{ apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [MWC], verbs: ['get', 'patch'] }] },
    });
    await cluster.createClusterRoleBinding('kube-join-injector-test', 'kube-join-injector-test', [{ kind: 'ServiceAccount', name: INJECTOR_SA, namespace: INJECTOR_NS }]);
    await cluster.admin.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${INJECTOR_NS}/roles`, {
      body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'injector-ca' }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [CA_SECRET], verbs: ['get'] }, { apiGroups: [''], resources: ['secrets'], verbs: ['create'] }] },
    });
    await cluster.createRoleBinding(INJECTOR_NS, 'injector-ca', 'injector-ca', [{ namespace: INJECTOR_NS, name: INJECTOR_SA }]);
    const kubeconfig = join(dir, 'injector.kubeconfig');
    await cluster.writeKubeconfig(kubeconfig, await cluster.requestToken(INJECTOR_NS, INJECTOR_SA, { audiences: [cluster.server], expirationSeconds: 3600 }));

    // Two replicas started at once: both try to create the CA Secret, one wins, both sign with its CA.
    const start = (name: string) =>
      kubeJoin(['injector', '--listen', '127.0.0.1:0', '--san', '127.0.0.1', '--kubeconfig', kubeconfig, '--tls-secret', CA_SECRET, '--tls-secret-namespace', INJECTOR_NS, '--webhook-config-name', MWC, '--webhook-sync-interval', '1s', '--auth-addr', 'kube-join-auth.kube-join.svc:3025', '--cluster-name', 'k8s-test.kube-join', '--token-name', 'kube-token', '--image', 'registry.invalid/kube-join:test'], { logFile: join(dir, `${name}.log`) });
    replicas = [start('injector-a'), start('injector-b')];
    const ports = (await Promise.all(replicas.map((r) => r.waitFor('injector listening')))).map((line) => Number(line.port));
    // One webhook per replica: every pod passes both, as on a reinvocation.
    await cluster.admin.request('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
      body: { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: MWC }, webhooks: [webhook('a.inject.kube-join.io', ports[0] as number, 'Fail'), webhook('b.inject.kube-join.io', ports[1] as number, 'Fail')] },
    });
    await Promise.all(replicas.map((r) => r.waitFor('webhook caBundle in place')));
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await cluster?.admin.request('DELETE', MWC_PATH).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The next caBundle patch by either replica after `seen`. */
  const nextPatch = (seen: readonly (Record<string, unknown> | undefined)[]) =>
    Promise.race(replicas.map((r, i) => r.waitFor('webhook caBundle in place', (line) => line.patched === true && line !== seen[i]).catch(() => new Promise<never>(() => undefined))));

  it('both replicas set the CA of the shared Secret as the caBundle, with only get and patch on that object', async () => {
    const mwc = await cluster.admin.request<{ webhooks: { clientConfig: { caBundle?: string } }[] }>('GET', MWC_PATH);
    const secret = await cluster.admin.request<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${INJECTOR_NS}/secrets/${CA_SECRET}`);
    assert.deepEqual(mwc.webhooks.map((w) => w.clientConfig.caBundle), [secret.data['ca.crt'], secret.data['ca.crt']]);
    assert.match(Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString('utf8'), /^-----BEGIN CERTIFICATE-----\n/);
    // Exactly one of them patched it; the other found it in place (the same CA).
    const patched = replicas.map((r) => r.lines.filter((l) => l.msg === 'webhook caBundle in place' && l.patched === true).length);
    assert.deepEqual(patched.sort(), [0, 1]);
  });

  it('puts the caBundle back after something resets it (as helm upgrade does)', async () => {
    const seen = replicas.map((r) => r.lines.filter((l) => l.msg === 'webhook caBundle in place').at(-1));
    const repaired = nextPatch(seen);
    await cluster.admin.request('PATCH', MWC_PATH, { body: [{ op: 'remove', path: '/webhooks/0/clientConfig/caBundle' }], contentType: 'application/json-patch+json' });
    await repaired;
    const mwc = await cluster.admin.request<{ webhooks: { clientConfig: { caBundle?: string } }[] }>('GET', MWC_PATH);
    assert.equal(mwc.webhooks[0]?.clientConfig.caBundle, mwc.webhooks[1]?.clientConfig.caBundle);
  });

  it('injects the pod of an existing Deployment once, though the webhook is called twice', async () => {
    const template = {
      metadata: {
        labels: { app: 'web' },
        annotations: { 'kube-join.io/inject': 'true', 'kube-join.io/roles': 'App', 'kube-join.io/apps': 'web=http://localhost:8080', 'kube-join.io/notify-signal': 'SIGHUP', 'kube-join.io/notify-process': 'nginx' },
      },
      spec: { serviceAccountName: SA, securityContext: { runAsUser: 101, fsGroup: 101 }, containers: [{ name: 'app', image: 'registry.invalid/app:test' }] },
    };
    await cluster.admin.request('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, {
      body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template } },
    });
    const deployment = await cluster.admin.request<{ spec: { template: typeof template } }>('GET', `/apis/apps/v1/namespaces/${NS}/deployments/web`);
    // What the ReplicaSet controller would POST: the template, under a generated name.
    const created = await createPod({ metadata: { ...deployment.spec.template.metadata, generateName: 'web-7d9f8-' }, spec: deployment.spec.template.spec });
    const stored = await cluster.admin.request<StoredPod>('GET', `/api/v1/namespaces/${NS}/pods/${created.metadata.name}`);

    assert.equal(stored.metadata.annotations?.['kube-join.io/status'], 'injected');
    const agents = (stored.spec.initContainers ?? []).filter((c) => c.name === 'kube-join');
    assert.equal(agents.length, 1, 'injected exactly once');
    const agent = agents[0];
    assert.equal(agent?.restartPolicy, 'Always');
    assert.deepEqual(agent?.args, ['agent', '--auth-addr', 'kube-join-auth.kube-join.svc:3025', '--token-name', 'kube-token', '--cluster-name', 'k8s-test.kube-join', '--ca-file', '/var/run/kube-join/ca/ca.crt', '--out-dir', '/var/run/kube-join', '--health-addr', '0.0.0.0:8087', '--group', '101', '--roles', 'App', '--app', 'web=http://localhost:8080', '--notify-signal', 'SIGHUP', '--notify-process', 'nginx']);
    assert.equal(agent?.securityContext?.runAsUser, 101);
    assert.equal(stored.spec.shareProcessNamespace, true);
    const token = stored.spec.volumes?.find((v) => v.name === 'kube-join-token');
    assert.deepEqual(token?.projected?.sources[0]?.serviceAccountToken, { audience: 'k8s-test.kube-join', expirationSeconds: 600, path: 'kube-join' });
    assert.equal(stored.spec.volumes?.find((v) => v.name === 'kube-join-ca')?.configMap?.name, 'kube-join-ca-bundle');
    assert.deepEqual(stored.spec.containers[0]?.volumeMounts?.find((m) => m.name === 'kube-join-certs'), { name: 'kube-join-certs', mountPath: '/var/run/kube-join', readOnly: true });
  });

  it('leaves a pod without the annotation alone', async () => {
    const stored = await createPod(plainPod('plain'));
    assert.equal(stored.spec.initContainers, undefined);
    assert.equal(stored.metadata.annotations?.['kube-join.io/status'], undefined);
    assert.equal(stored.spec.volumes?.some((v) => v.name.startsWith('kube-join')), false);
  });

  it('refuses a pod with a bad annotation, with the injector\'s message', async () => {
    await assert.rejects(createPod(plainPod('bad-roles', { 'kube-join.io/inject': 'true', 'kube-join.io/roles': 'App,' })), (err: KubeApiError) => {
      assert.equal(err.status, 400);
      assert.match(err.apiMessage ?? '', /admission webhook "a\.inject\.kube-join\.io" denied the request: kube-join injector: kube-join\.io\/roles: must be role names separated by commas/);
      return true;
    });
  });

  describe('with the injector down', () => {
    before(async () => {
      await Promise.all(replicas.map((r) => r.stop()));
    });

    it('failurePolicy Fail: the pod is refused, naming the webhook that could not be called', async () => {
      await setFailurePolicy('Fail');
      await assert.rejects(createPod(plainPod('down-fail', { 'kube-join.io/inject': 'true' })), (err: KubeApiError) => {
        assert.equal(err.status, 500);
        assert.match(err.apiMessage ?? '', /failed calling webhook "a\.inject\.kube-join\.io".*connection refused/);
        return true;
      });
    });

    it('failurePolicy Ignore: the pod is created, uninjected', async () => {
      await setFailurePolicy('Ignore');
      const stored = await createPod(plainPod('down-ignore', { 'kube-join.io/inject': 'true' }));
      assert.equal(stored.metadata.annotations?.['kube-join.io/status'], undefined);
      assert.equal(stored.spec.initContainers, undefined);
    });
  });
});
