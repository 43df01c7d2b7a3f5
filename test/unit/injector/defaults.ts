import type { InjectionDefaults } from '../../../src/injector/index.ts';

/** The injector's defaults as its flags would resolve them, for the unit tests. */
export const DEFAULTS: InjectionDefaults = {
  authAddr: 'kube-join-auth.kube-join.svc:3025',
  clusterName: 'prod',
  image: 'registry.example/kube-join:1.2.3',
  imagePullPolicy: 'IfNotPresent',
  tokenName: 'kube-token',
  outDir: '/var/run/kube-join',
  caBundleConfigMap: 'kube-join-ca-bundle',
  healthPort: 8087,
  resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } },
};
