import assert from 'node:assert/strict';
import { resolveAuthConfig } from '../../../src/auth/config.ts';

describe('resolveAuthConfig', () => {
  it('fills storage, kube, oidc and metricsListen every time: the service has no defaults of its own for them', () => {
    const c = resolveAuthConfig({ flags: {}, env: {} });
    assert.deepEqual(c.storage, { type: 'file' });
    assert.deepEqual(c.kube, { kubeconfig: undefined, inCluster: undefined, timeoutMs: 5000 });
    assert.deepEqual(c.oidc, { caFile: undefined, timeoutMs: 5000, jwksCooldownMs: 30_000 });
    assert.deepEqual(c.metricsListen, { host: '0.0.0.0', port: 3026 });
    assert.ok('metricsListen' in resolveAuthConfig({ flags: { metricsAddr: 'off' }, env: {} }), 'present, undefined, when off');
  });

  it('takes the Kubernetes API of the pod it runs in, and --kube-timeout for both kube and oidc', () => {
    const c = resolveAuthConfig({ flags: { kubeTimeout: '2s' }, env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' } });
    assert.deepEqual(c.kube, { kubeconfig: undefined, inCluster: { host: '10.0.0.1', port: '443' }, timeoutMs: 2000 });
    assert.equal(c.oidc.timeoutMs, 2000);
  });

  it('refuses --metrics-addr on the join port, which could only fail to bind (port 0 is two free ports)', () => {
    assert.throws(() => resolveAuthConfig({ flags: { listen: '127.0.0.1:3025', metricsAddr: '127.0.0.1:3025' }, env: {} }), { code: 'ERR_CONFIG', message: '--metrics-addr must not be the join port --listen (both 127.0.0.1:3025)' });
    assert.deepEqual(resolveAuthConfig({ flags: { listen: '127.0.0.1:0', metricsAddr: '127.0.0.1:0' }, env: {} }).metricsListen, { host: '127.0.0.1', port: 0 });
  });

  it('refuses --inventory-check-pods without Kubernetes API access, and takes it with a kubeconfig or in a pod', () => {
    assert.throws(() => resolveAuthConfig({ flags: { inventoryCheckPods: true }, env: {} }), { code: 'ERR_CONFIG', message: '--inventory-check-pods needs the Kubernetes API: run in a pod or give --kubeconfig' });
    assert.equal(resolveAuthConfig({ flags: { inventoryCheckPods: true, kubeconfig: '/etc/kube/config' }, env: {} }).inventoryCheckPods, true);
    assert.equal(resolveAuthConfig({ flags: {}, env: { KUBE_JOIN_INVENTORY_CHECK_PODS: 'true', KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' } }).inventoryCheckPods, true);
    assert.equal(resolveAuthConfig({ flags: {}, env: {} }).inventoryCheckPods, false);
  });
});
