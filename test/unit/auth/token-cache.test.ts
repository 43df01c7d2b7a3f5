import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProvisionToken, parseProvisionToken, type ProvisionToken } from '../../../src/auth/tokens.ts';
import { openFileStorage } from '../../../src/auth/storage/file.ts';
import { openKubernetesStorage, tokenObjectName, TOKEN_NAME_ANNOTATION } from '../../../src/auth/storage/kubernetes.ts';
import { KubeApiError } from '../../../src/kube/index.ts';
import { fakeKubeClient } from '../../support/fake-kube-client.ts';

const NOW = Date.UTC(2026, 0, 1);
const tokenYaml = (roles: string) => `kind: token
version: v2
metadata:
  name: kube-token
  expires: "2027-01-01T00:00:00Z"
spec:
  roles: [${roles}]
  join_method: kubernetes
  kubernetes:
    type: in_cluster
    allow:
      - service_account: "ns:sa"
`;

describe('parsed provision tokens are cached per stored version', () => {
  describe('kubernetes storage', () => {
    /** An apiserver holding one token Secret, which another replica may rewrite (`stored.yaml`). */
    function apiserver(initial: string) {
      const stored: { yaml: string | undefined; version: number } = { yaml: initial, version: 1 };
      const client = fakeKubeClient(async (call) => {
        if (call.method === 'GET' && call.path.endsWith(`/secrets/${tokenObjectName('kube-token')}`)) {
          if (stored.yaml === undefined) throw new KubeApiError('GET', call.path, 404, 'NotFound', 'not found');
          return { metadata: { name: tokenObjectName('kube-token'), resourceVersion: String(stored.version), annotations: { [TOKEN_NAME_ANNOTATION]: 'kube-token' } }, data: { 'token.yaml': Buffer.from(stored.yaml).toString('base64') } };
        }
        if (call.method === 'PUT' || call.method === 'POST') {
          const body = call.options?.body as { data: Record<string, string> };
          stored.yaml = Buffer.from(body.data['token.yaml'] as string, 'base64').toString('utf8');
          stored.version++;
          return {};
        }
        if (call.method === 'DELETE') {
          stored.yaml = undefined;
          return {};
        }
        throw new Error(`unexpected ${call.method} ${call.path}`);
      });
      return { client, stored };
    }

    it('reads the Secret on every join but parses its YAML once while its bytes stay the same', async () => {
      const { client } = apiserver(tokenYaml('App'));
      const storage = await openKubernetesStorage({ client, namespace: 'kube-join', now: () => NOW });
      const first = await storage.getToken('kube-token');
      const second = await storage.getToken('kube-token');
      assert.equal(client.calls.length, 2);
      assert.ok(first !== undefined);
      assert.equal(second, first, 'the same parsed object: no second parse');
    });

    it('sees a rewrite by another replica at the next read, and a deletion', async () => {
      const { client, stored } = apiserver(tokenYaml('App'));
      const storage = await openKubernetesStorage({ client, namespace: 'kube-join', now: () => NOW });
      assert.deepEqual((await storage.getToken('kube-token'))?.spec.roles, ['App']);
      stored.yaml = tokenYaml('App, Db');
      stored.version++;
      assert.deepEqual((await storage.getToken('kube-token'))?.spec.roles, ['App', 'Db']);
      stored.yaml = undefined;
      assert.equal(await storage.getToken('kube-token'), undefined);
    });

    it('drops the entry on its own write, even one that leaves the same bytes', async () => {
      const { client } = apiserver(tokenYaml('App'));
      const storage = await openKubernetesStorage({ client, namespace: 'kube-join', now: () => NOW });
      const before = await storage.getToken('kube-token') as ProvisionToken;
      await storage.putToken(parseProvisionToken(formatProvisionToken(before), NOW), { overwrite: true });
      const after = await storage.getToken('kube-token');
      assert.notEqual(after, before, 'parsed anew');
      assert.deepEqual(after, before);
    });
  });

  describe('file storage', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kj-token-cache-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('parses a token file once while it is unchanged, and anew after a write by another process', async () => {
      const serving = await openFileStorage(dir, { serve: true, now: () => NOW });
      const admin = await openFileStorage(dir, { serve: false, now: () => NOW });
      try {
        await admin.putToken(parseProvisionToken(tokenYaml('App'), NOW), { overwrite: false });
        const first = await serving.getToken('kube-token');
        assert.equal(await serving.getToken('kube-token'), first);
        await admin.putToken(parseProvisionToken(tokenYaml('App, Db'), NOW), { overwrite: true });
        assert.deepEqual((await serving.getToken('kube-token'))?.spec.roles, ['App', 'Db']);
        await admin.deleteToken('kube-token');
        assert.equal(await serving.getToken('kube-token'), undefined);
      } finally {
        await admin.close();
        await serving.close();
      }
    });
  });
});
