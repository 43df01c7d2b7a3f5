// The injector's option table on its own, so that the CLI can register flags without loading the injector.
import type { OptionSpec } from '../config/options.ts';
import { LOG_OPTIONS } from '../common/logger.ts';
import { CA_BUNDLE_CONFIGMAP, DEFAULT_OUT_DIR } from '../protocol/pod-layout.ts';
import { AGENT_VERSION } from '../protocol/version.ts';

/** Every injector option; the single home of its defaults, and of the defaults of the agents it injects. */
export const INJECTOR_OPTIONS: readonly OptionSpec[] = [
  { key: 'listen', flag: 'listen', kind: 'string', arg: '<host:port>', default: '0.0.0.0:8443', help: 'address of the HTTPS webhook (POST /mutate, GET /healthz, /readyz)' },
  { key: 'san', flag: 'san', kind: 'list', arg: '<name,...>', repeatable: true, default: ['localhost', '127.0.0.1'], help: 'DNS names and IPs of the webhook\'s serving certificate, e.g. its Service\'s NAME.NAMESPACE.svc (repeatable)' },
  { key: 'tlsSecret', flag: 'tls-secret', kind: 'string', arg: '<name>', help: 'Secret (in --tls-secret-namespace) holding the CA the serving certificate is signed with: the first replica creates it, every replica uses it, so several agree on one caBundle (default: none, a CA of this process\'s own); needs get and create on it' },
  { key: 'tlsSecretNamespace', flag: 'tls-secret-namespace', kind: 'string', arg: '<namespace>', help: 'namespace of --tls-secret (required with it)' },
  { key: 'webhookConfigName', flag: 'webhook-config-name', kind: 'string', arg: '<name>', default: 'kube-join-injector', help: 'MutatingWebhookConfiguration whose caBundle the injector keeps set to its own CA ("off": leave it alone)' },
  { key: 'webhookSyncInterval', flag: 'webhook-sync-interval', kind: 'duration', arg: '<duration>', default: '1m', help: 'how often the caBundle is checked and put back (e.g. after helm upgrade resets it)' },
  { key: 'kubeconfig', flag: 'kubeconfig', kind: 'string', arg: '<file>', help: 'kubeconfig for the Kubernetes API the MutatingWebhookConfiguration is in (default: the pod\'s in-cluster config); its user needs get and patch on it, and with --tls-secret get and create on that Secret' },
  { key: 'kubeTimeout', flag: 'kube-timeout', kind: 'duration', arg: '<duration>', default: '5s', help: 'timeout of one Kubernetes API request' },
  { key: 'authAddr', flag: 'auth-addr', kind: 'string', arg: '<host:port>', help: 'address of the kube-join auth service, given to every injected agent (required)' },
  { key: 'clusterName', flag: 'cluster-name', kind: 'string', arg: '<name>', default: 'kube-join', help: 'the auth service\'s cluster name: the audience of the projected token and the agents\' --cluster-name' },
  { key: 'tokenName', flag: 'token-name', kind: 'string', arg: '<name>', help: 'provision token of pods without the kube-join.io/token-name annotation (default: none, the annotation is required)' },
  { key: 'image', flag: 'image', kind: 'string', arg: '<image>', default: `kube-join:${AGENT_VERSION}`, help: 'image of the injected agent container' },
  { key: 'imagePullPolicy', flag: 'image-pull-policy', kind: 'string', arg: '<policy>', default: 'IfNotPresent', choices: ['Always', 'IfNotPresent', 'Never'], help: 'imagePullPolicy of the injected agent container' },
  { key: 'outDir', flag: 'out-dir', kind: 'string', arg: '<dir>', default: DEFAULT_OUT_DIR, help: 'where the credentials are mounted when a pod has no kube-join.io/output-path annotation' },
  { key: 'caBundleConfigmap', flag: 'ca-bundle-configmap', kind: 'string', arg: '<name>', default: CA_BUNDLE_CONFIGMAP, help: 'ConfigMap (key ca.crt) in the pod\'s namespace with the auth CA bundle, mounted into the agent as its --ca-file' },
  { key: 'agentHealthPort', flag: 'agent-health-port', kind: 'int', arg: '<port>', default: 8087, help: 'port of the injected agent\'s /livez, /readyz and /metrics (in the pod\'s network namespace)' },
  { key: 'agentCpuRequest', flag: 'agent-cpu-request', kind: 'string', arg: '<quantity>', default: '10m', help: 'CPU request of the injected agent container' },
  { key: 'agentMemoryRequest', flag: 'agent-memory-request', kind: 'string', arg: '<quantity>', default: '120Mi', help: 'memory request of the injected agent container (as in the agent chart, from measured figures: bench/RESULTS.md)' },
  { key: 'agentMemoryLimit', flag: 'agent-memory-limit', kind: 'string', arg: '<quantity>', default: '160Mi', help: 'memory limit of the injected agent container (as in the agent chart)' },
  ...LOG_OPTIONS,
];
