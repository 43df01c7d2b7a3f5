import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadKubeconfig } from '../../../src/kube/config.ts';
import { KubeConfigError } from '../../../src/kube/errors.ts';

describe('loadKubeconfig with a credential plugin (EKS, GKE, AKS kubeconfigs)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kj-kubeconfig-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function kubeconfigWithExec(script: string): Promise<string> {
    const plugin = join(dir, `plugin-${Math.random().toString(36).slice(2)}.mjs`);
    await writeFile(plugin, script);
    const path = join(dir, `${Math.random().toString(36).slice(2)}.kubeconfig`);
    await writeFile(path, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'eks', cluster: { server: 'https://127.0.0.1:6443' } }],
      users: [{ name: 'iam', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], interactiveMode: 'Never' } } }],
      contexts: [{ name: 'eks', context: { cluster: 'eks', user: 'iam' } }],
      'current-context': 'eks',
    }));
    return path;
  }

  it('runs the exec plugin for the bearer token, instead of refusing the kubeconfig', async () => {
    const path = await kubeconfigWithExec(`process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'plugin-token' } }));`);
    const connection = await loadKubeconfig(path);
    assert.equal(connection.server, 'https://127.0.0.1:6443');
    assert.equal(await connection.bearerToken?.(), 'plugin-token');
  });

  it('names the kubeconfig and context when the plugin gives no token', async () => {
    const path = await kubeconfigWithExec(`process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: {} }));`);
    const connection = await loadKubeconfig(path);
    const err = await connection.bearerToken?.().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof KubeConfigError);
    assert.match(err.message, new RegExp(`^kubeconfig ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(context eks\\): the credential plugin`));
  });
});
