import assert from 'node:assert/strict';
import sinon from 'sinon';
import { createConfigMapPublisher } from '../../../src/auth/ca-publisher.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { KubeApiError, type KubeClient } from '../../../src/kube/index.ts';

const BUNDLE = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';

/** A Kubernetes API of ConfigMaps and namespaces in memory, answering as the apiserver does. */
function fakeApi(namespaces: Record<string, Record<string, string>>) {
  const maps = new Map<string, { data: Record<string, string>; resourceVersion: string }>();
  let rv = 1;
  const request = sinon.spy(async (method: string, path: string, opts: { body?: any; query?: Record<string, string> } = {}) => {
    if (path === '/api/v1/namespaces') {
      const [k, v] = (opts.query?.labelSelector ?? '').split('=');
      return { items: Object.entries(namespaces).filter(([, labels]) => labels[k as string] === v).map(([name]) => ({ metadata: { name } })) };
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/.exec(path) as RegExpExecArray;
    const ns = m[1] as string;
    if (!(ns in namespaces)) throw new KubeApiError(method, path, 404, 'NotFound', `namespaces "${ns}" not found`);
    const key = `${ns}/${m[2] ?? opts.body?.metadata.name}`;
    const current = maps.get(key);
    if (method === 'GET') {
      if (!current) throw new KubeApiError(method, path, 404, 'NotFound', 'not found');
      return { metadata: { name: m[2], resourceVersion: current.resourceVersion }, data: current.data };
    }
    if (method === 'POST' && current) throw new KubeApiError(method, path, 409, 'AlreadyExists', 'exists');
    if (method === 'PUT' && current?.resourceVersion !== opts.body.metadata.resourceVersion) throw new KubeApiError(method, path, 409, 'Conflict', 'the object has been modified');
    maps.set(key, { data: opts.body.data, resourceVersion: String(++rv) });
    return opts.body;
  });
  return { maps, request, client: { request, server: 'https://fake', source: 'test', tokenReview: async () => ({}), close() {} } as unknown as KubeClient };
}

describe('CA bundle ConfigMap publisher', () => {
  it('creates the ConfigMap (key ca.crt) in listed and selected namespaces, labelled as kube-join\'s', async () => {
    const api = fakeApi({ apps: {}, billing: { 'kube-join.io/ca-bundle': 'true' }, other: {} });
    const publisher = createConfigMapPublisher({ client: api.client, name: 'kube-join-ca-bundle', namespaces: ['apps'], namespaceSelector: 'kube-join.io/ca-bundle=true', logger: silentLogger() });
    const outcome = await publisher.publish(BUNDLE);
    assert.deepEqual(outcome, { written: ['apps', 'billing'], unchanged: [], failed: [] });
    assert.deepEqual([...api.maps.keys()].sort(), ['apps/kube-join-ca-bundle', 'billing/kube-join-ca-bundle']);
    assert.deepEqual(api.maps.get('apps/kube-join-ca-bundle')?.data, { 'ca.crt': BUNDLE });
    const created = api.request.getCalls().find((c) => c.args[0] === 'POST')?.args[2]?.body;
    assert.deepEqual(created.metadata.labels, { 'app.kubernetes.io/managed-by': 'kube-join', 'kube-join.dev/kind': 'ca-bundle' });
  });

  it('updates with the resourceVersion read, writes nothing when the content is the same, and a failing namespace does not stop the others', async () => {
    const api = fakeApi({ apps: {}, billing: {} });
    const publisher = createConfigMapPublisher({ client: api.client, name: 'kube-join-ca-bundle', namespaces: ['apps', 'gone', 'billing'], namespaceSelector: undefined, logger: silentLogger() });
    await publisher.publish(BUNDLE);
    const rotated = BUNDLE + BUNDLE.replace('AAAA', 'BBBB');
    const outcome = await publisher.publish(rotated);
    assert.deepEqual(outcome.written, ['apps', 'billing']);
    assert.deepEqual(outcome.failed.map((f) => f.namespace), ['gone']);
    assert.match(outcome.failed[0]?.error as string, /404/);
    assert.equal(api.maps.get('billing/kube-join-ca-bundle')?.data['ca.crt'], rotated);
    const writes = api.request.callCount;
    assert.deepEqual((await publisher.publish(rotated)).unchanged, ['apps', 'billing']);
    assert.equal(api.request.getCalls().slice(writes).filter((c) => c.args[0] !== 'GET' && !c.args[1].includes('/gone/')).length, 0, 'no write for an unchanged bundle');
  });

  it('a write that lost a race with another replica is read again, not overwritten blindly', async () => {
    const api = fakeApi({ apps: {} });
    const publisher = createConfigMapPublisher({ client: api.client, name: 'kube-join-ca-bundle', namespaces: ['apps'], namespaceSelector: undefined, logger: silentLogger() });
    await publisher.publish(BUNDLE);
    // Another replica writes the new bundle between our GET and our PUT.
    const rotated = BUNDLE + BUNDLE;
    const realRequest = api.request;
    let raced = false;
    const client = { ...api.client, request: async (method: string, path: string, opts?: any) => {
      if (method === 'PUT' && !raced) {
        raced = true;
        const current = await realRequest('GET', path);
        await realRequest('PUT', path, { body: { metadata: { name: 'kube-join-ca-bundle', resourceVersion: (current as any).metadata.resourceVersion }, data: { 'ca.crt': rotated } } });
      }
      return realRequest(method, path, opts);
    } } as unknown as KubeClient;
    const racing = createConfigMapPublisher({ client, name: 'kube-join-ca-bundle', namespaces: ['apps'], namespaceSelector: undefined, logger: silentLogger() });
    assert.deepEqual(await racing.publish(rotated), { written: [], unchanged: ['apps'], failed: [] });
    assert.equal(api.maps.get('apps/kube-join-ca-bundle')?.data['ca.crt'], rotated);
  });
});
