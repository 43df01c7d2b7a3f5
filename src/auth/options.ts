// The auth service's option table on its own, so that the CLI can register flags without loading the service.
import type { OptionSpec } from '../config/options.ts';
import { LOG_OPTIONS } from '../common/logger.ts';
import { IN_CLUSTER_DIR } from '../kube/in-cluster-env.ts';
import { DEFAULT_STATE_DIR } from '../protocol/admin.ts';

/** Every auth service option; the single home of its defaults. */
export const AUTH_OPTIONS: readonly OptionSpec[] = [
  { key: 'listen', flag: 'listen', kind: 'string', arg: '<host:port>', default: '0.0.0.0:3025', help: 'address of the HTTPS join endpoint' },
  { key: 'metricsAddr', flag: 'metrics-addr', kind: 'string', arg: '<host:port>', default: '0.0.0.0:3026', help: 'Prometheus /metrics listens here, over plain HTTP, apart from the join port ("off" to disable)' },
  { key: 'stateDir', flag: 'state-dir', kind: 'string', arg: '<dir>', default: DEFAULT_STATE_DIR, help: 'state directory: with file storage the CA, tokens and inventory; always the admin identity and auth.addr of this process' },
  { key: 'storage', flag: 'storage', kind: 'string', arg: '<file|kubernetes>', default: 'file', help: 'where the CA, tokens and inventory live: file (the state directory, one process) or kubernetes (Secrets and Leases in --storage-namespace, several replicas)' },
  { key: 'storageNamespace', flag: 'storage-namespace', kind: 'string', arg: '<namespace>', help: `namespace of the kubernetes storage (default: the pod's own, from ${IN_CLUSTER_DIR}/namespace); its ServiceAccount needs get, list, create, update, delete on secrets and leases there` },
  { key: 'clusterName', flag: 'cluster-name', kind: 'string', arg: '<name>', default: 'kube-join', help: 'cluster name: the audience ServiceAccount tokens must carry, and the SPIFFE trust domain' },
  { key: 'certTtl', flag: 'cert-ttl', kind: 'duration', arg: '<duration>', default: '1h', help: 'lifetime of issued certificates when the agent asks for none' },
  { key: 'maxCertTtl', flag: 'max-cert-ttl', kind: 'duration', arg: '<duration>', default: '24h', help: 'longest lifetime an agent may ask for' },
  { key: 'san', flag: 'san', kind: 'list', arg: '<name,...>', repeatable: true, default: ['localhost', '127.0.0.1', '::1'], help: 'DNS names and IPs of the serving certificate (repeatable)' },
  { key: 'kubeconfig', flag: 'kubeconfig', kind: 'string', arg: '<file>', help: 'kubeconfig for the Kubernetes API that in_cluster tokens are reviewed by and --storage kubernetes keeps its objects in (default: the pod\'s in-cluster config); a user with an exec or auth-provider plugin (EKS, GKE, AKS) gets its token from the plugin; its user needs the ClusterRole system:auth-delegator' },
  { key: 'kubeTimeout', flag: 'kube-timeout', kind: 'duration', arg: '<duration>', default: '5s', help: 'timeout of one Kubernetes API request (TokenReview, kubernetes storage) and of one oidc discovery or JWKS fetch' },
  { key: 'oidcCaFile', flag: 'oidc-ca-file', kind: 'string', arg: '<file>', help: 'PEM CA bundle trusted, besides the system roots, for oidc issuers (e.g. the cluster\'s own CA)' },
  { key: 'oidcJwksCooldown', flag: 'oidc-jwks-cooldown', kind: 'duration', arg: '<duration>', default: '30s', help: 'after fetching an oidc issuer\'s keys, wait this long before an unknown key ID may fetch them again' },
  { key: 'caKeyEncryptionKeyFile', flag: 'ca-key-encryption-key-file', kind: 'string', arg: '<file>', help: 'file with a 32-byte key (64 hex digits or base64) that encrypts the CA key at rest (AES-256-GCM, as a JWE)' },
  { key: 'caSyncInterval', flag: 'ca-sync-interval', kind: 'duration', arg: '<duration>', default: '10s', help: 'how often the CA record is read back from storage: replicas follow a rotation step another replica wrote within this, and a CA leaving the bundle goes within this after its time' },
  { key: 'caBundleConfigmap', flag: 'ca-bundle-configmap', kind: 'string', arg: '<name>', default: 'kube-join-ca-bundle', help: 'name of the ConfigMap (key ca.crt) the CA bundle is published into, in the namespaces of --ca-bundle-namespaces and --ca-bundle-namespace-selector' },
  { key: 'caBundleNamespaces', flag: 'ca-bundle-namespaces', kind: 'list', arg: '<namespace,...>', repeatable: true, help: 'publish the CA bundle ConfigMap into these namespaces, and keep it current on every change (repeatable); needs get, create and update on configmaps there' },
  { key: 'caBundleNamespaceSelector', flag: 'ca-bundle-namespace-selector', kind: 'string', arg: '<label selector>', help: 'publish the CA bundle ConfigMap also into every namespace matching this label selector (e.g. kube-join.io/ca-bundle=true), looked up on every change and every minute; needs list on namespaces' },
  { key: 'inventoryGrace', flag: 'inventory-grace', kind: 'duration', arg: '<duration>', default: '1h', help: 'how long a joined agent stays in the inventory after its certificate expired' },
  { key: 'inventoryCheckPods', flag: 'inventory-check-pods', kind: 'bool', default: false, help: "once a minute, look up each joined agent's pod in the Kubernetes API and stop listing the apps of pods that are gone (needs get on pods)" },
  { key: 'maxAgentsPerServiceAccount', flag: 'max-agents-per-service-account', kind: 'int', arg: '<n>', default: 1000, help: 'live inventory records one ServiceAccount may hold; the pods of a ServiceAccount past it still get certificates but are not recorded' },
  { key: 'joinRatePerSource', flag: 'join-rate-per-source', kind: 'number', arg: '<per second>', default: 5, help: 'joins per second one client address may make (bursts of twice that); more get 429 with Retry-After' },
  { key: 'joinRateGlobal', flag: 'join-rate-global', kind: 'number', arg: '<per second>', default: 0, help: 'joins per second this process accepts in all (bursts of --join-burst); more get 429 rate_limited with Retry-After, a cheap answer instead of a queue. 0: 80% of what this process serves, measured at start (a 50 ms self-benchmark of the leaf issue; the log line "join admission" says the figure)' },
  { key: 'joinBurst', flag: 'join-burst', kind: 'duration', arg: '<duration>', default: '2s', help: 'how much of --join-rate-global may arrive at once: the global bucket holds this many seconds of it (at least one join). Shorter keeps the first second after a restart nearer the rate' },
  { key: 'renewalReserve', flag: 'renewal-reserve', kind: 'number', arg: '<0..1>', default: 0.5, help: 'share of the global burst that renewals of certificates with more than a third of their life left may not use: under load they are refused first, before first joins and renewals close to expiry' },
  { key: 'retryAfterSpread', flag: 'retry-after-spread', kind: 'duration', arg: '<duration>', default: '60s', help: 'a refused join is told to come back after the wait for a free slot plus a random share of this, so refused agents do not return together' },
  { key: 'maxConcurrentReviews', flag: 'max-concurrent-reviews', kind: 'int', arg: '<n>', default: 32, help: 'in_cluster TokenReviews in flight at once; more get 503 kube_unavailable with Retry-After' },
  { key: 'podCertificateSigner', flag: 'pod-certificate-signer', kind: 'string', arg: '<signerName>', help: 'also act as the Kubernetes podCertificate signer of this name (e.g. kube-join.io/workload): answer its PodCertificateRequests by the pod_certificate provision tokens and publish its ClusterTrustBundle (Kubernetes >= 1.35; RBAC in the chart\'s podCertificateSigner values)' },
  ...LOG_OPTIONS,
];
