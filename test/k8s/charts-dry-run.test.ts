import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT, renderChart, seedValues, type Manifest, type Values } from '../support/helm.ts';
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

  const guideValues = async () => parse(await readFile(join(REPO_ROOT, 'examples', 'guide', 'values.yaml'), 'utf8')) as Values;
  const cases: { chart: string; namespace: string; extra?: Values; guide?: boolean; release?: string; kinds: string[] }[] = [
    { chart: 'kube-join-auth', namespace: 'kube-join', kinds: ['Deployment', 'Service', 'ServiceAccount', 'ClusterRoleBinding', 'PersistentVolumeClaim', 'ConfigMap'] },
    { chart: 'kube-join-auth', namespace: 'kube-join', extra: { storage: { type: 'kubernetes' }, replicaCount: 2, rbac: { tokenReviewRole: 'minimal' }, inventory: { checkPods: true }, priorityClassName: 'system-cluster-critical', topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }] }, kinds: ['Deployment', 'Role', 'RoleBinding', 'ClusterRole', 'PodDisruptionBudget'] },
    { chart: 'kube-join-auth', namespace: 'kube-join', extra: { injector: { enabled: true } }, kinds: ['MutatingWebhookConfiguration', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service', 'Deployment'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', kinds: ['Deployment', 'ServiceAccount'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', extra: { kind: 'Job', mode: 'init' }, kinds: ['Job'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', extra: { notify: { signal: 'SIGHUP', process: 'grafana', addCapKill: true }, extraEnv: [{ name: 'A', value: 'b' }] }, kinds: ['Deployment'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', guide: true, release: 'teleport-app-service', kinds: ['Deployment', 'ServiceAccount'] },
    { chart: 'kube-join-auth', namespace: 'kube-join', extra: { podCertificateSigner: { signerName: 'kube-join.io/workload' } }, kinds: ['ClusterRole', 'ClusterRoleBinding'] },
    { chart: 'kube-join-agent', namespace: 'teleport-agent', extra: { mode: 'podCertificate' }, kinds: ['Deployment'] },
  ];
  for (const c of cases) {
    it(`${c.chart} with ${c.guide ? 'the Teleport guide\'s values.yaml (standalone)' : 'the seed\'s values'}${c.extra ? ` and ${JSON.stringify(c.extra)}` : ''}`, async () => {
      const values = c.guide ? await guideValues() : { ...(await seedValues(c.chart)), ...c.extra };
      const manifests = await renderChart(c.chart, values, { namespace: c.namespace, ...(c.release ? { release: c.release } : {}) });
      for (const kind of c.kinds) assert.ok(manifests.some((m) => m.kind === kind), `renders a ${kind}`);
      const r = await dryRunApply(cluster, manifests.map((m) => ({ ...m, metadata: { ...m.metadata, namespace: m.metadata.namespace ?? (['ClusterRoleBinding', 'ClusterRole', 'MutatingWebhookConfiguration'].includes(m.kind) ? undefined : c.namespace) } })));
      assert.equal(r.code, 0, r.stderr);
      const applied = r.stdout.trim().split('\n');
      assert.equal(applied.length, manifests.length, r.stdout);
    });
  }
});
