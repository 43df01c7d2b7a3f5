/**
 * The podCertificate signer against the k8s tier's real kube-apiserver: PodCertificateRequests created
 * as a kubelet creates them, by the node's own identity (system:node:<name>, node authorizer and
 * NodeRestriction on), for Pods bound to that Node; auth replicas in this process with the kubernetes
 * storage and a ServiceAccount holding exactly the signer's RBAC.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { sharedKubeCluster, type KubeCluster, type PodRef } from './harness.ts';
import { parseProvisionToken, resolveAuthConfig, startAuthService, type AuthService } from '../../src/auth/index.ts';
import { decodeRoles } from '../../src/auth/ca.ts';
import { agentKey } from '../../src/auth/inventory.ts';
import { clusterTrustBundleName, servedVersion } from '../../src/kube/cluster-trust-bundle.ts';
import { createLogger, silentLogger, type Logger } from '../../src/common/logger.ts';
import { SubjectAlternativeNameExtension, X509Certificate } from '../../src/common/x509.ts';
import { createKubeClient, loadKubeconfig, KubeApiError, type KubeClient } from '../../src/kube/index.ts';
import { appRows } from '../../src/cli/apps.ts';
import { corruptSignature, pkixWithProof, stubCsr, type KeyType } from '../support/pcr-keys.ts';

const run = promisify(execFile);
const CLUSTER = 'pcr-test.kube-join';
const SIGNER = 'kube-join.io/pcr-test';
const NS = 'kj-pcr';
const AUTH_NS = 'kj-pcr-auth';
const NODE = 'pcr-node-1';
const GROUP = 'certificates.k8s.io';
// The chart's signer rules (chart/kube-join-auth templates/rbac.yaml), for this signer name.
const SIGNER_RULES = [
  { apiGroups: [GROUP], resources: ['signers'], resourceNames: [SIGNER], verbs: ['sign', 'attest'] },
  { apiGroups: [GROUP], resources: ['podcertificaterequests'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: ['podcertificaterequests/status'], verbs: ['update'] },
  { apiGroups: [GROUP], resources: ['clustertrustbundles'], verbs: ['get', 'create', 'update'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
];
const STORAGE_RULES = [
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
];

interface Pcr {
  metadata: { name: string; namespace: string };
  spec: { unverifiedUserAnnotations?: Record<string, string> };
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[]; certificateChain?: string; notBefore?: string; notAfter?: string; beginRefreshAt?: string };
}

describe('k8s: podCertificate signer (PodCertificateRequests from a node)', function () {
  this.timeout(120_000);
  let cluster: KubeCluster;
  let node: KubeClient;
  let dir: string;
  let kubeconfig: string;
  let nodeUid: string;
  const saUids = new Map<string, string>();
  const replicas: AuthService[] = [];
  let podSeq = 0;

  async function startReplica(name: string, logger: Logger = silentLogger()): Promise<AuthService> {
    const flags = { stateDir: join(dir, name), listen: '127.0.0.1:0', metricsAddr: 'off', clusterName: CLUSTER, kubeconfig, storage: 'kubernetes', storageNamespace: AUTH_NS, podCertificateSigner: SIGNER };
    const service = await startAuthService(resolveAuthConfig({ flags, env: {} }), { logger, now: () => Date.now(), processMetrics: false });
    replicas.push(service);
    return service;
  }
  async function stopReplica(service: AuthService): Promise<void> {
    replicas.splice(replicas.indexOf(service), 1);
    await service.close();
  }

  /** A Pod bound to NODE that mounts a podCertificate volume for SIGNER (NodeRestriction requires it). */
  async function createPod(serviceAccount: string, userAnnotations: Record<string, string>, keyType: KeyType = 'ECDSAP256'): Promise<PodRef> {
    const name = `pcr-pod-${++podSeq}`;
    const pod = await cluster.admin.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${NS}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          nodeName: NODE,
          serviceAccountName: serviceAccount,
          automountServiceAccountToken: false,
          containers: [{ name: 'app', image: 'registry.invalid/app:test', volumeMounts: [{ name: 'kube-join', mountPath: '/var/run/kube-join', readOnly: true }] }],
          volumes: [{ name: 'kube-join', projected: { sources: [{ podCertificate: { signerName: SIGNER, keyType, credentialBundlePath: 'bundle.pem', userAnnotations } }] } }],
        },
      },
    });
    return { namespace: NS, name, uid: pod.metadata.uid };
  }

  type KeyFields = { stubPKCS10Request: string } | { pkixPublicKey: string; proofOfPossession: string };

  /** Creates a PodCertificateRequest as the kubelet of NODE does; retries while NodeRestriction's caches catch up (never on 403/422). */
  async function createPcr(version: 'v1' | 'v1beta1', pod: PodRef, serviceAccount: string, key: KeyFields, userAnnotations: Record<string, string>): Promise<Pcr> {
    const body = {
      apiVersion: `${GROUP}/${version}`,
      kind: 'PodCertificateRequest',
      metadata: { generateName: `${pod.name}-` },
      spec: {
        signerName: SIGNER,
        podName: pod.name,
        podUID: pod.uid,
        serviceAccountName: serviceAccount,
        serviceAccountUID: saUids.get(serviceAccount),
        nodeName: NODE,
        nodeUID: nodeUid,
        maxExpirationSeconds: 86400,
        ...key,
        unverifiedUserAnnotations: userAnnotations,
      },
    };
    for (const deadline = Date.now() + 15_000; ; ) {
      try {
        return await node.request<Pcr>('POST', `/apis/${GROUP}/${version}/namespaces/${NS}/podcertificaterequests`, { body });
      } catch (err) {
        if (!(err instanceof KubeApiError) || [403, 422].includes(err.status) || Date.now() > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Polls (bounded) until the request holds Issued, Denied or Failed. */
  async function decided(version: string, pcr: Pcr, timeoutMs = 20_000): Promise<Pcr> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await cluster.admin.request<Pcr>('GET', `/apis/${GROUP}/${version}/namespaces/${NS}/podcertificaterequests/${pcr.metadata.name}`);
      if ((now.status?.conditions ?? []).length > 0) return now;
      if (Date.now() > deadline) throw new Error(`PodCertificateRequest ${pcr.metadata.name} undecided after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const conditionOf = (pcr: Pcr) => {
    assert.equal(pcr.status?.conditions?.length, 1, JSON.stringify(pcr.status));
    return pcr.status?.conditions?.[0] as { type: string; reason: string; message: string };
  };

  /** Checks an issued request: chain verifies against the published ClusterTrustBundle; SPIFFE ID, CN, roles, times. */
  async function assertIssued(pcr: Pcr, pod: PodRef, serviceAccount: string, roles: string[]): Promise<X509Certificate> {
    const condition = conditionOf(pcr);
    assert.equal(condition.type, 'Issued', condition.message);
    const bundleVersion = await servedVersion(cluster.admin, 'clustertrustbundles', ['v1', 'v1beta1']);
    const bundle = await cluster.admin.request<{ spec: { signerName: string; trustBundle: string } }>('GET', `/apis/${GROUP}/${bundleVersion}/clustertrustbundles/${clusterTrustBundleName(SIGNER)}`);
    assert.equal(bundle.spec.signerName, SIGNER);
    const leafFile = join(dir, `${pcr.metadata.name}.crt`);
    const bundleFile = join(dir, `${pcr.metadata.name}-bundle.crt`);
    await writeFile(leafFile, pcr.status?.certificateChain as string);
    await writeFile(bundleFile, bundle.spec.trustBundle);
    const verified = await run('openssl', ['verify', '-CAfile', bundleFile, '-purpose', 'sslclient', leafFile]);
    assert.equal(verified.stdout.trim(), `${leafFile}: OK`);
    const leaf = new X509Certificate(pcr.status?.certificateChain as string);
    assert.deepEqual(leaf.getExtension(SubjectAlternativeNameExtension)?.names.items.map((n) => [n.type, n.value]), [['url', `spiffe://${CLUSTER}/ns/${NS}/sa/${serviceAccount}`]]);
    assert.deepEqual(leaf.subjectName.getField('CN'), [pod.name]);
    assert.deepEqual(decodeRoles(leaf), roles);
    const [notBefore, notAfter, refresh] = [pcr.status?.notBefore, pcr.status?.notAfter, pcr.status?.beginRefreshAt].map((t) => Date.parse(t as string)) as [number, number, number];
    assert.equal(notBefore, leaf.notBefore.getTime());
    assert.equal(notAfter, leaf.notAfter.getTime());
    // The agent's policy: half the lifetime ±10 % (a second of rounding either way).
    const lifetime = notAfter - notBefore;
    assert.ok(refresh >= notBefore + lifetime * 0.45 - 1000 && refresh <= notBefore + lifetime * 0.55 + 1000, `beginRefreshAt ${pcr.status?.beginRefreshAt}`);
    return leaf;
  }

  before(async function () {
    this.timeout(180_000);
    dir = await mkdtemp(join(tmpdir(), 'kube-join-pcr-test-'));
    cluster = await sharedKubeCluster();
    await cluster.createNamespace(NS);
    await cluster.createNamespace(AUTH_NS);
    for (const sa of ['web', 'other']) {
      await cluster.createServiceAccount(NS, sa);
      saUids.set(sa, (await cluster.admin.request<{ metadata: { uid: string } }>('GET', `/api/v1/namespaces/${NS}/serviceaccounts/${sa}`)).metadata.uid);
    }
    const created = await cluster.admin.request<{ metadata: { uid: string } }>('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } } });
    nodeUid = created.metadata.uid;
    node = await cluster.clientAs(`system:node:${NODE}`, ['system:nodes']);

    await cluster.createServiceAccount(AUTH_NS, 'auth');
    await cluster.createRole(AUTH_NS, 'storage', STORAGE_RULES);
    await cluster.createRoleBinding(AUTH_NS, 'storage', 'storage', [{ namespace: AUTH_NS, name: 'auth' }]);
    await cluster.admin.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'kj-pcr-signer' }, rules: SIGNER_RULES } });
    await cluster.createClusterRoleBinding('kj-pcr-signer', 'kj-pcr-signer', [{ kind: 'ServiceAccount', name: 'auth', namespace: AUTH_NS }]);
    kubeconfig = join(dir, 'auth.kubeconfig');
    await cluster.writeKubeconfig(kubeconfig, await cluster.requestToken(AUTH_NS, 'auth', { audiences: [cluster.server], expirationSeconds: 3600 }));
    // RBAC reaches the authorizer through an informer: wait (bounded) until the signer may watch.
    const probe = createKubeClient(await loadKubeconfig(kubeconfig), { timeoutMs: 5000 });
    try {
      for (const deadline = Date.now() + 10_000; ; ) {
        try {
          await probe.request('GET', `/apis/${GROUP}/v1beta1/podcertificaterequests`, { query: { limit: '1' } });
          await probe.request('GET', `/api/v1/namespaces/${AUTH_NS}/secrets`, { query: { limit: '1' } });
          break;
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 403) || Date.now() > deadline) throw err;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      probe.close();
    }
    const first = await startReplica('a');
    const token = (name: string, type: string) =>
      parseProvisionToken(`kind: token\nversion: v2\nmetadata: { name: ${name}, expires: "2099-01-01T00:00:00Z" }\nspec:\n  roles: [App, Db]\n  join_method: kubernetes\n  kubernetes:\n    type: ${type}\n    allow:\n      - service_account: "${NS}:web"\n`, Date.now());
    await first.storage.putToken(token('pods', 'pod_certificate'), { overwrite: true });
    await first.storage.putToken(token('agents', 'in_cluster'), { overwrite: true });
  });

  after(async function () {
    for (const r of [...replicas]) await stopReplica(r);
    node?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves v1 and v1beta1 PodCertificateRequests on 1.37, and the signer reads v1', async () => {
    for (const version of ['v1', 'v1beta1']) {
      const resources = await cluster.admin.request<{ resources: { name: string }[] }>('GET', `/apis/${GROUP}/${version}`);
      assert.ok(resources.resources.some((r) => r.name === 'podcertificaterequests'), `${version} serves podcertificaterequests`);
    }
  });

  it('issues a v1 request (stub PKCS#10): chain verifies against the ClusterTrustBundle, SPIFFE ID, CN = pod, narrowed roles; the pod is in the inventory', async () => {
    const annotations = { 'kube-join.io/token-name': 'pods', 'kube-join.io/roles': 'App', 'kube-join.io/apps': 'grafana=http://localhost:3000' };
    const pod = await createPod('web', annotations);
    const pcr = await decided('v1', await createPcr('v1', pod, 'web', await stubCsr('ECDSAP256'), annotations));
    await assertIssued(pcr, pod, 'web', ['App']);
    const record = await (replicas[0] as AuthService).storage.getAgent(agentKey(NS, pod.name, pod.uid));
    assert.equal(record?.agentVersion, 'podCertificate');
    assert.equal(record?.nodeName, NODE);
    assert.deepEqual(appRows([record!]).map((r) => [r.name, r.uri, r.podName, r.roles]), [['grafana', 'http://localhost:3000', pod.name, ['App']]]);
  });

  it('issues a v1beta1 request with pkixPublicKey + proofOfPossession (an older kubelet\'s shape, which v1 does not show), every role of the token when none is asked for', async () => {
    const annotations = { 'kube-join.io/token-name': 'pods' };
    const pod = await createPod('web', annotations);
    const pcr = await decided('v1beta1', await createPcr('v1beta1', pod, 'web', pkixWithProof(pod.uid), annotations));
    await assertIssued(pcr, pod, 'web', ['App', 'Db']);
  });

  const denials: [string, string, Record<string, string>, string, string][] = [
    ['a ServiceAccount the token does not allow', 'other', { 'kube-join.io/token-name': 'pods' }, 'ServiceAccountNotAllowed', `ServiceAccount ${NS}:other is not in the allow list of provision token "pods"`],
    ['roles the token does not grant', 'web', { 'kube-join.io/token-name': 'pods', 'kube-join.io/roles': 'App,Kube' }, 'RolesNotAllowed', 'provision token "pods" does not grant role Kube (it grants App, Db); narrow kube-join.io/roles'],
    ['a token for agents', 'web', { 'kube-join.io/token-name': 'agents' }, 'JoinMethodMismatch', 'provision token "agents" is of type in_cluster, for agents; podCertificate requests need a token of type pod_certificate'],
  ];
  for (const [what, sa, annotations, reason, message] of denials) {
    it(`denies ${what}: Denied ${reason}, with no certificate`, async () => {
      const pod = await createPod(sa, annotations);
      const pcr = await decided('v1', await createPcr('v1', pod, sa, await stubCsr('ECDSAP256'), annotations));
      assert.deepEqual({ ...conditionOf(pcr), lastTransitionTime: undefined, status: undefined }, { type: 'Denied', status: undefined, reason, message, lastTransitionTime: undefined });
      assert.equal(pcr.status?.certificateChain, undefined);
    });
  }

  it('denies an unsupported key type (ECDSAP521) with UnsupportedKeyType, naming the supported ones', async () => {
    const annotations = { 'kube-join.io/token-name': 'pods' };
    const pod = await createPod('web', annotations, 'ECDSAP521');
    const condition = conditionOf(await decided('v1', await createPcr('v1', pod, 'web', await stubCsr('ECDSAP521'), annotations)));
    assert.equal(condition.type, 'Denied');
    assert.equal(condition.reason, 'UnsupportedKeyType');
    assert.match(condition.message, /^key type ECDSAP521 is not issued by kube-join; set keyType to one of ECDSAP256, ECDSAP384, RSA3072, RSA4096/);
  });

  it('never sees a bad proof of possession: kube-apiserver refuses the request (422) in v1 and v1beta1', async () => {
    const annotations = { 'kube-join.io/token-name': 'pods' };
    const pod = await createPod('web', annotations);
    const refused = async (version: 'v1' | 'v1beta1', key: KeyFields) => {
      const err = await createPcr(version, pod, 'web', key, annotations).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof KubeApiError && err.status === 422, `expected 422, got ${String(err)}`);
      return err.apiMessage ?? '';
    };
    assert.match(await refused('v1', { stubPKCS10Request: corruptSignature((await stubCsr('ECDSAP256')).stubPKCS10Request) }), /spec.stubPKCS10Request: Invalid value: .*invalid signature/);
    const { pkixPublicKey, proofOfPossession } = pkixWithProof(pod.uid, 'another-pod-uid');
    assert.match(await refused('v1beta1', { pkixPublicKey, proofOfPossession }), /spec.proofOfPossession: Invalid value: .*could not verify proof-of-possession signature/);
  });

  it('denies a request whose pod was deleted before it was signed (PodNotFound); a signer started later lists and answers it', async () => {
    const annotations = { 'kube-join.io/token-name': 'pods' };
    for (const r of [...replicas]) await stopReplica(r);
    const pod = await createPod('web', annotations);
    const pcr = await createPcr('v1', pod, 'web', await stubCsr('ECDSAP256'), annotations);
    await cluster.deletePod(NS, pod.name);
    await startReplica('a');
    const condition = conditionOf(await decided('v1', pcr));
    assert.deepEqual([condition.type, condition.reason, condition.message], ['Denied', 'PodNotFound', `pod ${NS}/${pod.name} no longer exists`]);
  });

  it('two replicas racing answer every request once; the loser of a conflict moves on', async () => {
    for (const r of [...replicas]) await stopReplica(r);
    const lines: string[] = [];
    const capture = (component: string) => {
      const destination = new PassThrough();
      destination.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter((l) => l !== '')));
      return createLogger({ level: 'debug', component, destination });
    };
    await startReplica('a', capture('a'));
    await startReplica('b', capture('b'));
    const annotations = { 'kube-join.io/token-name': 'pods' };
    const pods = await Promise.all([1, 2, 3, 4].map(() => createPod('web', annotations)));
    const pcrs = await Promise.all(pods.map(async (pod) => createPcr('v1', pod, 'web', await stubCsr('ECDSAP256'), annotations)));
    for (const [i, pcr] of pcrs.entries()) await assertIssued(await decided('v1', pcr), pods[i] as PodRef, 'web', ['App', 'Db']);
    const events = lines.map((l) => JSON.parse(l) as { msg: string; name?: string; component: string });
    // Exactly one status update per request went through; every other attempt saw 409 and moved on, none failed.
    const issued = events.filter((e) => e.msg === 'PodCertificateRequest issued').map((e) => e.name).sort();
    assert.deepEqual(issued, pcrs.map((p) => p.metadata.name).sort());
    assert.deepEqual(events.filter((e) => e.msg === 'PodCertificateRequest not answered yet'), []);
    const conflicts = events.filter((e) => e.msg === 'PodCertificateRequest answered by another replica').length;
    // At most one loser per request (a replica that saw the decision first does not even try).
    assert.ok(conflicts <= pcrs.length, `${conflicts} conflicts`);
  });

  it('keeps answering after the watch broke (kube-apiserver restarted): it reconnects and relists', async () => {
    await cluster.rotateSigningKey();
    const annotations = { 'kube-join.io/token-name': 'pods' };
    const pod = await createPod('web', annotations);
    const pcr = await decided('v1', await createPcr('v1', pod, 'web', await stubCsr('ECDSAP256'), annotations), 60_000);
    await assertIssued(pcr, pod, 'web', ['App', 'Db']);
  });
});
