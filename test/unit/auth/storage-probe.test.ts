import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageError } from '../../../src/auth/errors.ts';
import { openFileStorage } from '../../../src/auth/storage/file.ts';
import { PROBE_SECRET, openKubernetesStorage } from '../../../src/auth/storage/kubernetes.ts';
import { KubeApiError } from '../../../src/kube/index.ts';
import { fakeKubeClient, type FakeCall } from '../../support/fake-kube-client.ts';

describe('storage write probes (readiness)', () => {
  describe('file', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kj-probe-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('writes and removes a probe file in the state directory, leaving nothing behind', async () => {
      const storage = await openFileStorage(dir, { serve: false, now: () => Date.now() });
      try {
        await storage.probeWrite();
        await storage.probeWrite();
        assert.deepEqual((await readdir(dir)).sort(), ['agents', 'tokens']);
      } finally {
        await storage.close();
      }
    });
  });

  describe('kubernetes', () => {
    it('creates a Secret as a server-side dry run (dryRun=All): checks RBAC and admission, stores nothing', async () => {
      const client = fakeKubeClient(() => Promise.resolve({}));
      const storage = await openKubernetesStorage({ client, namespace: 'kube-join', now: () => Date.now() });
      await storage.probeWrite();
      assert.equal(client.calls.length, 1);
      const [call] = client.calls as [FakeCall];
      assert.equal(call.method, 'POST');
      assert.equal(call.path, '/api/v1/namespaces/kube-join/secrets');
      assert.deepEqual(call.options?.query, { dryRun: 'All' });
      assert.deepEqual(call.options?.body, { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: PROBE_SECRET, labels: { 'app.kubernetes.io/managed-by': 'kube-join' } } });
    });

    it('counts 409 AlreadyExists as writable (creating was authorized)', async () => {
      const client = fakeKubeClient(() => Promise.reject(new KubeApiError('POST', '/api/v1/namespaces/kube-join/secrets', 409, 'AlreadyExists', 'secrets "kube-join-readiness-probe" already exists')));
      const storage = await openKubernetesStorage({ client, namespace: 'kube-join', now: () => Date.now() });
      await storage.probeWrite();
    });

    it('fails with a StorageError naming the missing permission when the ServiceAccount may not create Secrets', async () => {
      const apiMessage = 'secrets is forbidden: User "system:serviceaccount:kube-join:auth" cannot create resource "secrets" in API group "" in the namespace "kube-join"';
      const client = fakeKubeClient(() => Promise.reject(new KubeApiError('POST', '/api/v1/namespaces/kube-join/secrets', 403, 'Forbidden', apiMessage)));
      const storage = await openKubernetesStorage({ client, namespace: 'kube-join', now: () => Date.now() });
      await assert.rejects(storage.probeWrite(), (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.equal(err.code, 'ERR_STORAGE');
        assert.equal(
          err.message,
          `Kubernetes storage: the auth service may not create secrets in namespace kube-join; grant the auth service's ServiceAccount a Role in namespace kube-join with verbs get, list, create, update and delete on secrets and on leases (API group coordination.k8s.io), and a RoleBinding to it (apiserver: ${apiMessage})`,
        );
        return true;
      });
    });
  });
});
