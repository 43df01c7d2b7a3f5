import assert from 'node:assert/strict';
import sinon from 'sinon';
import { syncCaBundle, startCaBundleSync, CaBundleSyncError } from '../../../src/injector/index.ts';
import { KubeApiError, type KubeClient } from '../../../src/kube/index.ts';
import { silentLogger } from '../../../src/common/logger.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const B64 = Buffer.from(CA).toString('base64');
const PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/kube-join-injector';

/** A KubeClient whose GET answers `config` and whose PATCH is recorded (or fails with `patchError`). */
function fakeClient(config: unknown, patchError?: Error) {
  const request = sinon.stub().callsFake(async (method: string) => {
    if (method === 'GET') return structuredClone(config);
    if (patchError) throw patchError;
    return {};
  });
  return { client: { request } as unknown as KubeClient, request };
}

describe('syncCaBundle', () => {
  it('patches every webhook whose caBundle differs, guarded by the resourceVersion it read', async () => {
    const { client, request } = fakeClient({ metadata: { resourceVersion: '42' }, webhooks: [{ name: 'a', clientConfig: {} }, { name: 'b', clientConfig: { caBundle: 'b2xk' } }] });
    assert.equal(await syncCaBundle(client, 'kube-join-injector', CA), 'patched');
    assert.deepEqual(request.secondCall.args, ['PATCH', PATH, {
      body: [
        { op: 'test', path: '/metadata/resourceVersion', value: '42' },
        { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: B64 },
        { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: B64 },
      ],
      contentType: 'application/json-patch+json',
    }]);
  });

  it('leaves a current caBundle alone', async () => {
    const { client, request } = fakeClient({ metadata: { resourceVersion: '1' }, webhooks: [{ name: 'a', clientConfig: { caBundle: B64 } }] });
    assert.equal(await syncCaBundle(client, 'kube-join-injector', CA), 'unchanged');
    assert.equal(request.callCount, 1);
  });

  it('names the object when the API refuses (RBAC, absent)', async () => {
    const { client } = fakeClient({ metadata: { resourceVersion: '1' }, webhooks: [{ name: 'a', clientConfig: {} }] }, new KubeApiError('PATCH', PATH, 403, 'Forbidden', 'no'));
    await assert.rejects(syncCaBundle(client, 'kube-join-injector', CA), (err: CaBundleSyncError) => {
      assert.equal(err.code, 'ERR_CA_BUNDLE_SYNC');
      assert.equal(err.message, `cannot set the caBundle of MutatingWebhookConfiguration kube-join-injector: Kubernetes API PATCH ${PATH} answered 403 Forbidden: no`);
      return true;
    });
  });
});

describe('startCaBundleSync', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  it('is not ready until a sync succeeds, then checks again every interval', async () => {
    const config = { metadata: { resourceVersion: '1' }, webhooks: [{ name: 'a', clientConfig: {} }] };
    const { client, request } = fakeClient(config, new KubeApiError('PATCH', PATH, 403, 'Forbidden', 'no'));
    const sync = startCaBundleSync({ client, name: 'kube-join-injector', caPem: CA, intervalMs: 60_000, logger: silentLogger() });
    await clock.tickAsync(0);
    assert.deepEqual(sync.state(), { ready: false, reason: `cannot set the caBundle of MutatingWebhookConfiguration kube-join-injector: Kubernetes API PATCH ${PATH} answered 403 Forbidden: no` });
    assert.equal(request.callCount, 2);
    request.callsFake(async (method: string) => (method === 'GET' ? { ...config, webhooks: [{ name: 'a', clientConfig: { caBundle: B64 } }] } : {}));
    await clock.tickAsync(59_999);
    assert.equal(request.callCount, 2);
    await clock.tickAsync(1);
    assert.deepEqual(sync.state(), { ready: true });
    sync.stop();
    await clock.tickAsync(600_000);
    assert.equal(request.callCount, 3);
  });
});
