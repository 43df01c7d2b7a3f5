import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { stringify } from 'yaml';
import { renderChart, seedValues, type Manifest, type Values } from '../support/helm.ts';
import { k8sBinary } from '../support/k8s-bin.ts';
import { sharedKubeCluster, type KubeCluster } from './harness.ts';

/** `kubectl apply --dry-run=server`: the apiserver validates and admits every object, and stores none. */
function dryRunApply(cluster: KubeCluster, manifests: readonly Manifest[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(k8sBinary('kubectl'), ['--kubeconfig', cluster.adminKubeconfig, 'apply', '--dry-run=server', '--validate=strict', '-o', 'name', '-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(manifests.map((m) => stringify(m)).join('---\n'));
  });
}

describe('k8s: rendered charts pass server-side dry-run on a real kube-apiserver', function () {
  this.timeout(120_000);
  let cluster: KubeCluster;

  before(async () => {
    cluster = await sharedKubeCluster();
    await cluster.createNamespace('kube-join');
    await cluster.createNamespace('teleport-agent');
  });

  const cases: { chart: string; namespace: string; extra?: Values; kinds: string[] }[] = [
    { chart: 'kube-join-auth', namespace: 'kube-join', kinds: ['Deployment', 'Service', 'ServiceAccount', 'ClusterRoleBinding', 'PersistentVolumeClaim', 'ConfigMap'] },
    { chart: 'kube-join-auth', namespace: 'kube-join', extra: { storage: { type: 'kubernetes' }, replicaCount: 2 }, kinds: ['Deployment', 'Role', 'RoleBinding'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', kinds: ['Deployment', 'ServiceAccount'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', extra: { kind: 'Job', mode: 'init' }, kinds: ['Job'] },
    { chart: 'kube-join-auth', namespace: 'kube-join', extra: { podCertificateSigner: { signerName: 'kube-join.io/workload' } }, kinds: ['ClusterRole', 'ClusterRoleBinding'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', extra: { mode: 'podCertificate' }, kinds: ['Deployment'] },
  ];
  for (const c of cases) {
    it(`${c.chart} with the seed's values${c.extra ? ` and ${JSON.stringify(c.extra)}` : ''}`, async () => {
      const manifests = await renderChart(c.chart, { ...(await seedValues(c.chart)), ...c.extra }, { namespace: c.namespace });
      for (const kind of c.kinds) assert.ok(manifests.some((m) => m.kind === kind), `renders a ${kind}`);
      const r = await dryRunApply(cluster, manifests.map((m) => ({ ...m, metadata: { ...m.metadata, namespace: m.metadata.namespace ?? (['ClusterRoleBinding', 'ClusterRole'].includes(m.kind) ? undefined : c.namespace) } })));
      assert.equal(r.code, 0, r.stderr);
      const applied = r.stdout.trim().split('\n');
      assert.equal(applied.length, manifests.length, r.stdout);
    });
  }
});
