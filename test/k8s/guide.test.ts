/**
 * The Teleport guide's five steps ("Joining Services via Kubernetes ServiceAccount Token"), done the
 * kube-join way against a real kube-apiserver, with the guide's token.yaml and values.yaml as written
 * (examples/guide/) and a real `helm install` / `helm uninstall` of the agent chart.
 *
 * No kubelet runs here, so the test plays its part for the agent's pod: it creates the Pod the
 * rendered Deployment describes, mints a TokenRequest token bound to it with the projected volume's
 * audience, "mounts" the rendered volumes under a local root (the token, the published CA bundle, the
 * shared emptyDir), and runs the rendered container args as a local `kube-join agent` process. The only
 * other overrides are what a pod's network gives: the auth address (the guide's proxyAddr is a
 * placeholder its reader replaces) and a loopback health port; and a short --ttl, so renewals come
 * within the test.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { sharedKubeCluster, type KubeCluster, type PodRef } from './harness.ts';
import { kubeJoin, kubeJoinRun } from '../support/kube-join.ts';
import { chartDir, helm, REPO_ROOT } from '../support/helm.ts';
import { k8sBinary } from '../support/k8s-bin.ts';
import type { KubeJoinProcess } from '../../src/cli/process.ts';
import { resolveAuthConfig, startAuthService, type AuthService } from '../../src/auth/index.ts';
import { apiPodLookup, markGonePods } from '../../src/auth/pods-gone.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { createKubeClient, KubeApiError, loadKubeconfig } from '../../src/kube/index.ts';

const GUIDE = join(REPO_ROOT, 'examples', 'guide');
const AUTH_NS = 'kube-join';
const AUTH_SA = 'guide-auth';
const AGENT_NS = 'teleport-agent';
const RELEASE = 'teleport-app-service';
/** The auth chart's default cluster name, which the agent chart's default (and so the guide's values) uses. */
const CLUSTER = 'kube-join';

type Obj = Record<string, any>;

function kubectl(cluster: KubeCluster, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(k8sBinary('kubectl'), ['--kubeconfig', cluster.adminKubeconfig, ...args], (err, stdout, stderr) => (err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout)));
  });
}

async function absent(cluster: KubeCluster, path: string): Promise<boolean> {
  try {
    await cluster.admin.request('GET', path);
    return false;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return true;
    throw err;
  }
}

describe('k8s: the Teleport guide\'s five steps, with its token.yaml and values.yaml as written', function () {
  this.timeout(120_000);
  let cluster: KubeCluster;
  let dir: string;
  let auth: AuthService;
  let installed = false;
  let deployment: Obj;
  let agent: KubeJoinProcess | undefined;
  const pods: string[] = [];
  const admin = (args: string[]) => kubeJoinRun([...args, '--state-dir', join(dir, 'auth-state')]);

  before(async function () {
    this.timeout(180_000);
    dir = await mkdtemp(join(tmpdir(), 'kube-join-guide-'));
    cluster = await sharedKubeCluster();
    // The prerequisite the guide names: the auth service's ServiceAccount may create TokenReviews.
    await cluster.createNamespace(AUTH_NS);
    await cluster.createServiceAccount(AUTH_NS, AUTH_SA);
    await cluster.createClusterRoleBinding('kube-join-guide:auth-delegator', 'system:auth-delegator', [{ kind: 'ServiceAccount', name: AUTH_SA, namespace: AUTH_NS }]);
    const kubeconfig = join(dir, 'auth.kubeconfig');
    await cluster.writeKubeconfig(kubeconfig, await cluster.requestToken(AUTH_NS, AUTH_SA, { audiences: [cluster.server], expirationSeconds: 3600 }));
    const config = resolveAuthConfig({ flags: { listen: '127.0.0.1:0', metricsAddr: 'off', stateDir: join(dir, 'auth-state'), clusterName: CLUSTER, kubeconfig, inventoryCheckPods: true, logLevel: 'error' }, env: {} });
    auth = await startAuthService(config, { logger: silentLogger(), now: () => Date.now(), processMetrics: false });
  });

  after(async function () {
    this.timeout(60_000);
    await agent?.stop();
    for (const name of pods) await cluster.deletePod(AGENT_NS, name).catch(() => undefined);
    if (installed) await helm(['uninstall', RELEASE, '-n', AGENT_NS, '--kubeconfig', cluster.adminKubeconfig]).catch(() => undefined);
    await auth?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A Pod as the Deployment's ReplicaSet would make it: the template's labels and spec, a generated name. */
  async function podOf(template: Obj, suffix: string): Promise<PodRef> {
    const name = `${deployment.metadata.name}-5f7d9c8b4-${suffix}`;
    const pod = await cluster.admin.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${AGENT_NS}/pods`, {
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: template.metadata.labels }, spec: template.spec },
    });
    pods.push(name);
    return { namespace: AGENT_NS, name, uid: pod.metadata.uid };
  }

  /**
   * What the kubelet gives the agent container of `pod`: its volumes under a local root (the projected
   * token, the CA bundle ConfigMap, the shared emptyDir), and the rendered args with paths under a
   * mount moved there. Returns the args to run.
   */
  async function kubeletFor(pod: PodRef, root: string, extra: string[]): Promise<string[]> {
    const spec = deployment.spec.template.spec as Obj;
    const container = (spec.containers as Obj[]).find((c) => c.name === 'kube-join') as Obj;
    const mounts = container.volumeMounts as Obj[];
    const local = (path: string) => join(root, path);
    let tokenPath = '';
    for (const mount of mounts) {
      const volume = (spec.volumes as Obj[]).find((v) => v.name === mount.name) as Obj;
      await mkdir(local(mount.mountPath), { recursive: true });
      const projected = volume.projected?.sources?.[0]?.serviceAccountToken as Obj | undefined;
      if (projected) {
        tokenPath = join(local(mount.mountPath), projected.path);
        const token = await cluster.requestToken(pod.namespace, spec.serviceAccountName, { audiences: [projected.audience], expirationSeconds: projected.expirationSeconds, pod });
        await writeFile(tokenPath, token, { mode: 0o600 });
      }
      if (volume.configMap) {
        const configMap = await cluster.admin.request<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${pod.namespace}/configmaps/${volume.configMap.name}`);
        for (const item of volume.configMap.items as { key: string; path: string }[]) await writeFile(join(local(mount.mountPath), item.path), configMap.data[item.key] as string);
      }
    }
    const under = (arg: string) => mounts.some((m) => arg === m.mountPath || arg.startsWith(`${m.mountPath}/`));
    const args = (container.args as string[]).map((a) => (under(a) ? local(a) : a));
    return [...args, '--token-path', tokenPath, ...extra];
  }

  it('step 1: creates the guide\'s token.yaml as written, and gets it back in the guide\'s shape', async () => {
    const created = await admin(['token', 'create', join(GUIDE, 'token.yaml')]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stderr, '', 'no short-lived warning: the guide sets expires 2050');
    const got = await admin(['token', 'get', 'token/kubernetes-token']);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /^kind: token\nversion: v2\nmetadata:\n  name: kubernetes-token\n  expires: "2050-01-01T00:00:00Z"\nspec:\n  roles:\n    - App\n  join_method: kubernetes\n/);
    assert.match(got.stdout, /service_account: teleport-agent:teleport-app-service/);
  });

  it('step 2: deploys the demonstration app with kubectl, as the guide does', async () => {
    await kubectl(cluster, ['create', 'namespace', 'demo-app']);
    await kubectl(cluster, ['create', 'deployment', '--image=nginx', '--namespace', 'demo-app', '--port=80', 'demo-app']);
    await kubectl(cluster, ['expose', 'deployment', 'demo-app', '-n', 'demo-app', '--port=80', '--target-port=80', '--selector=app=demo-app']);
    assert.equal(await absent(cluster, '/api/v1/namespaces/demo-app/services/demo-app'), false);
  });

  it('steps 3 and 4: `helm install teleport-app-service ... -f values.yaml` deploys the agent alone as teleport-agent:teleport-app-service', async () => {
    const out = await helm(['install', RELEASE, chartDir('kube-join-agent'), '-n', AGENT_NS, '--create-namespace', '-f', join(GUIDE, 'values.yaml'), '--kubeconfig', cluster.adminKubeconfig]);
    installed = true;
    assert.match(out, /^STATUS: deployed$/m);
    assert.equal(await absent(cluster, `/api/v1/namespaces/${AGENT_NS}/serviceaccounts/${RELEASE}`), false);
    const list = await cluster.admin.request<{ items: Obj[] }>('GET', `/apis/apps/v1/namespaces/${AGENT_NS}/deployments?labelSelector=app.kubernetes.io/instance%3D${RELEASE}`);
    assert.equal(list.items.length, 1);
    deployment = list.items[0] as Obj;
    const spec = deployment.spec.template.spec as Obj;
    assert.equal(spec.serviceAccountName, RELEASE);
    assert.deepEqual(spec.containers.map((c: Obj) => c.name), ['kube-join']);
    assert.equal(spec.initContainers, undefined);
  });

  it('step 4: the agent joins with the projected token of that pod, asks for "app", is granted App; `apps ls` lists demo-app with its expiry', async () => {
    // What kube-join auth publishes (the CA lifecycle): the CA bundle ConfigMap the chart mounts.
    await cluster.admin.request('POST', `/api/v1/namespaces/${AGENT_NS}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-join-ca-bundle' }, data: { 'ca.crt': await readFile(join(dir, 'auth-state', 'ca.crt'), 'utf8') } },
    });
    const pod = await podOf(deployment.spec.template, 'aaaaa');
    const root = join(dir, 'pod-a');
    const args = await kubeletFor(pod, root, ['--auth-addr', `127.0.0.1:${auth.address.port}`, '--health-addr', '127.0.0.1:0', '--group', String(process.getgid?.() ?? 0), '--ttl', '4s', '--retry-base', '200ms']);
    agent = kubeJoin(args);
    const written = await agent.waitFor('credential set written');
    assert.deepEqual(written.roles, ['App']);
    assert.equal(written.spiffeId, `spiffe://${CLUSTER}/ns/${AGENT_NS}/sa/${RELEASE}`);
    const identity = JSON.parse(await readFile(join(root, 'var/run/kube-join/identity.json'), 'utf8')) as Obj;
    assert.equal(identity.podName, pod.name);

    const apps = await admin(['apps', 'ls']);
    assert.equal(apps.code, 0, apps.stderr);
    const rows = apps.stdout.split('\n').filter((l) => l.startsWith('demo-app '));
    assert.equal(rows.length, 1, apps.stdout);
    assert.match(rows[0] as string, new RegExp(`^demo-app +${AGENT_NS}/${pod.name} \\(App\\) +HTTP +http://demo-app\\.demo-app\\.svc\\.cluster\\.local:80 +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +kube-join/namespace=${AGENT_NS}$`));
  });

  it('the provision token expires: the joined agent keeps renewing by identity, while a new pod\'s first join is refused', async () => {
    assert.ok(agent);
    const before = agent.lines.filter((l) => l.msg === 'credential set written').length;
    const stored = await auth.storage.getToken('kubernetes-token');
    assert.ok(stored);
    await auth.storage.putToken({ ...stored, metadata: { ...stored.metadata, expires: new Date(Date.now() - 1000) } }, { overwrite: true });
    const renewed = await agent.waitFor('credential set written', () => agent!.lines.filter((l) => l.msg === 'credential set written').length >= before + 2);
    assert.deepEqual(renewed.roles, ['App']);

    const other = await podOf(deployment.spec.template, 'bbbbb');
    const args = await kubeletFor(other, join(dir, 'pod-b'), ['--auth-addr', `127.0.0.1:${auth.address.port}`, '--health-addr', 'off', '--once', '--once-timeout', '20s']);
    const first = await kubeJoinRun(args);
    assert.equal(first.code, 1);
    assert.match(first.stderr, /join rejected \(401 token_expired\): provision token "kubernetes-token" expired at 20\d\d-/);
  });

  it('`token rm` revokes: the next renewal is refused with token_not_found', async () => {
    assert.ok(agent);
    const removed = await admin(['token', 'rm', 'kubernetes-token']);
    assert.equal(removed.code, 0, removed.stderr);
    const refused = await agent.waitFor('join rejected; waiting the long back-off before trying again', (l) => l.reason === 'token_not_found');
    assert.equal(refused.code, 'ERR_JOIN_REJECTED');
  });

  it('step 5: `helm uninstall` removes the release\'s Deployment and ServiceAccount', async () => {
    await agent?.stop();
    agent = undefined;
    const out = await helm(['uninstall', RELEASE, '-n', AGENT_NS, '--kubeconfig', cluster.adminKubeconfig]);
    installed = false;
    assert.match(out, new RegExp(`release "${RELEASE}" uninstalled`));
    assert.equal(await absent(cluster, `/apis/apps/v1/namespaces/${AGENT_NS}/deployments/${deployment.metadata.name}`), true);
    assert.equal(await absent(cluster, `/api/v1/namespaces/${AGENT_NS}/serviceaccounts/${RELEASE}`), true);
    // The guide then deletes the namespaces; no namespace controller runs here, so that would never finish.
  });

  it('with --inventory-check-pods (get on pods), the deleted pod\'s app leaves `apps ls`', async () => {
    assert.match((await admin(['apps', 'ls'])).stdout, /^demo-app /m, 'listed until the pod is found gone');
    await cluster.createRole(AGENT_NS, 'guide-auth-pods', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]);
    await cluster.createRoleBinding(AGENT_NS, 'guide-auth-pods', 'guide-auth-pods', [{ namespace: AUTH_NS, name: AUTH_SA }]);
    const kube = createKubeClient(await loadKubeconfig(join(dir, 'auth.kubeconfig')), { timeoutMs: 10_000 });
    try {
      const lookup = apiPodLookup(kube);
      assert.deepEqual(await markGonePods(auth.storage, lookup, Date.now()), [], 'the pod still exists');
      const [name] = pods.splice(0, 1) as [string];
      await cluster.deletePod(AGENT_NS, name);
      const marked = await markGonePods(auth.storage, lookup, Date.now());
      assert.equal(marked.length, 1);
      assert.match(marked[0] as string, new RegExp(`^${AGENT_NS}/${name}/`));
      const apps = await admin(['apps', 'ls']);
      assert.equal(apps.code, 0, apps.stderr);
      assert.doesNotMatch(apps.stdout, /^demo-app /m);
    } finally {
      kube.close();
    }
  });
});
