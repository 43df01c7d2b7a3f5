import assert from 'node:assert/strict';
import { resolveInjectorConfig } from '../../../src/injector/index.ts';
import { assertConfigError } from '../../support/options.ts';

const IN_POD = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
const resolve = (flags: Record<string, unknown>, env: Record<string, string> = IN_POD) => resolveInjectorConfig({ flags: { authAddr: 'auth.kube-join.svc:3025', ...flags }, env });

describe('resolveInjectorConfig', () => {
  it('defaults: the agent chart\'s figures, the CA bundle contract, the caBundle kept every minute', () => {
    const config = resolve({});
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8443 });
    assert.deepEqual(config.webhook, { configName: 'kube-join-injector', syncIntervalMs: 60_000 });
    assert.deepEqual(config.kube.inCluster, { host: '10.96.0.1', port: '443' });
    assert.deepEqual(config.defaults, {
      authAddr: 'auth.kube-join.svc:3025',
      clusterName: 'kube-join',
      image: 'kube-join:0.1.0',
      imagePullPolicy: 'IfNotPresent',
      tokenName: undefined,
      outDir: '/var/run/kube-join',
      caBundleConfigMap: 'kube-join-ca-bundle',
      healthPort: 8087,
      resources: { requests: { cpu: '10m', memory: '120Mi' }, limits: { memory: '160Mi' } },
    });
  });

  it('--webhook-config-name off leaves the caBundle alone', () => {
    assert.equal(resolve({ webhookConfigName: 'off' }, {}).webhook, undefined);
  });

  const bad: [string, Record<string, unknown>, string, string][] = [
    ['no auth address', { authAddr: '' }, 'authAddr', '--auth-addr (or KUBE_JOIN_AUTH_ADDR) is required: the address every injected agent joins'],
    ['an auth address without a port', { authAddr: 'auth' }, 'authAddr', '--auth-addr must be host:port (got "auth")'],
    ['an upper-case cluster name', { clusterName: 'Prod' }, 'clusterName', '--cluster-name must be a lower-case DNS name, the auth service\'s --cluster-name (got "Prod")'],
    ['a relative out dir', { outDir: 'certs' }, 'outDir', '--out-dir must be an absolute, normalised directory path other than / (got "certs")'],
    ['a memory figure that is not a quantity', { agentMemoryLimit: '128MB' }, 'agentMemoryLimit', '--agent-memory-limit must be a Kubernetes quantity such as 10m or 64Mi (got "128MB")'],
    ['a pull policy Kubernetes does not have', { imagePullPolicy: 'Sometimes' }, 'imagePullPolicy', '--image-pull-policy must be one of Always, IfNotPresent, Never (got "Sometimes")'],
    ['a sync interval under a second', { webhookSyncInterval: '100ms' }, 'webhookSyncInterval', '--webhook-sync-interval must be at least 1s'],
  ];
  for (const [what, flags, option, message] of bad) {
    it(`refuses ${what}, naming the flag`, () => assertConfigError(() => resolve(flags), option, message));
  }
});
