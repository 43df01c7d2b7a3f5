import { ConfigError } from '../common/errors.ts';
import { resolveOptions, type OptionSpec, type OptionSources } from '../common/options.ts';
import type { LogLevel } from '../common/logger.ts';
import { isInCluster, IN_CLUSTER_DIR } from '../kube/index.ts';

/** Every auth service option; the single home of its defaults. */
export const AUTH_OPTIONS: readonly OptionSpec[] = [
  { key: 'listen', flag: 'listen', kind: 'string', arg: '<host:port>', default: '0.0.0.0:3025', help: 'address of the HTTPS join endpoint' },
  { key: 'stateDir', flag: 'state-dir', kind: 'string', arg: '<dir>', default: '/var/lib/kube-join', help: 'state directory: with file storage the CA, tokens and inventory; always the admin identity and auth.addr of this process' },
  { key: 'storage', flag: 'storage', kind: 'string', arg: '<file|kubernetes>', default: 'file', help: 'where the CA, tokens and inventory live: file (the state directory, one process) or kubernetes (Secrets and Leases in --storage-namespace, several replicas)' },
  { key: 'storageNamespace', flag: 'storage-namespace', kind: 'string', arg: '<namespace>', help: `namespace of the kubernetes storage (default: the pod's own, from ${IN_CLUSTER_DIR}/namespace); its ServiceAccount needs get, list, create, update, delete on secrets and leases there` },
  { key: 'clusterName', flag: 'cluster-name', kind: 'string', arg: '<name>', default: 'kube-join', help: 'cluster name: the audience ServiceAccount tokens must carry, and the SPIFFE trust domain' },
  { key: 'certTtl', flag: 'cert-ttl', kind: 'duration', arg: '<duration>', default: '1h', help: 'lifetime of issued certificates when the agent asks for none' },
  { key: 'maxCertTtl', flag: 'max-cert-ttl', kind: 'duration', arg: '<duration>', default: '24h', help: 'longest lifetime an agent may ask for' },
  { key: 'san', flag: 'san', kind: 'list', arg: '<name,...>', repeatable: true, default: ['localhost', '127.0.0.1', '::1'], help: 'DNS names and IPs of the serving certificate (repeatable)' },
  { key: 'kubeconfig', flag: 'kubeconfig', kind: 'string', arg: '<file>', help: 'kubeconfig for the Kubernetes API that in_cluster tokens are reviewed by and --storage kubernetes keeps its objects in (default: the pod\'s in-cluster config); its user needs the ClusterRole system:auth-delegator' },
  { key: 'kubeTimeout', flag: 'kube-timeout', kind: 'duration', arg: '<duration>', default: '5s', help: 'timeout of one Kubernetes API request (TokenReview, kubernetes storage) and of one oidc discovery or JWKS fetch' },
  { key: 'oidcCaFile', flag: 'oidc-ca-file', kind: 'string', arg: '<file>', help: 'PEM CA bundle trusted, besides the system roots, for oidc issuers (e.g. the cluster\'s own CA)' },
  { key: 'oidcJwksCooldown', flag: 'oidc-jwks-cooldown', kind: 'duration', arg: '<duration>', default: '30s', help: 'after fetching an oidc issuer\'s keys, wait this long before an unknown key ID may fetch them again' },
  { key: 'caKeyEncryptionKeyFile', flag: 'ca-key-encryption-key-file', kind: 'string', arg: '<file>', help: 'file with a 32-byte key (64 hex digits or base64) that encrypts the CA key at rest (AES-256-GCM, as a JWE)' },
  { key: 'inventoryGrace', flag: 'inventory-grace', kind: 'duration', arg: '<duration>', default: '1h', help: 'how long a joined agent stays in the inventory after its certificate expired' },
  { key: 'joinRatePerSource', flag: 'join-rate-per-source', kind: 'number', arg: '<per second>', default: 5, help: 'joins per second one client address may make (bursts of twice that); more get 429 with Retry-After' },
  { key: 'joinRateGlobal', flag: 'join-rate-global', kind: 'number', arg: '<per second>', default: 500, help: 'joins per second the service accepts in all (bursts of twice that); more get 429 with Retry-After' },
  { key: 'maxConcurrentReviews', flag: 'max-concurrent-reviews', kind: 'int', arg: '<n>', default: 32, help: 'in_cluster TokenReviews in flight at once; more get 503 kube_unavailable with Retry-After' },
  { key: 'logLevel', flag: 'log-level', kind: 'string', arg: '<level>', default: 'info', help: 'error, warn, info or debug' },
];

/** Kubernetes API access of the auth service (in_cluster TokenReviews). */
export interface KubeApiConfig {
  /** --kubeconfig; wins over the in-cluster config. */
  kubeconfig: string | undefined;
  /** The pod's API address (KUBERNETES_SERVICE_HOST/PORT) when running in one. */
  inCluster: { host: string; port: string } | undefined;
  timeoutMs: number;
}

/**
 * Where the CA, tokens and inventory live. `namespace` undefined (kubernetes): the pod's own, read from
 * the in-cluster namespace file at start.
 */
export type StorageConfig = { type: 'file' } | { type: 'kubernetes'; namespace: string | undefined };

export interface OidcConfig {
  caFile: string | undefined;
  timeoutMs: number;
  jwksCooldownMs: number;
}

export interface ResolvedAuthConfig {
  listen: { host: string; port: number };
  stateDir: string;
  clusterName: string;
  certTtlMs: number;
  maxCertTtlMs: number;
  sans: string[];
  logLevel: LogLevel;
  caKeyEncryptionKeyFile: string | undefined;
  inventoryGraceMs: number;
  joinRate: { perSource: number; global: number };
  maxConcurrentReviews: number;
  /** Filled by resolveAuthConfig; a hand-built config without it uses the file storage. */
  storage?: StorageConfig;
  /** Filled by resolveAuthConfig; a hand-built config without it has no in_cluster validator. */
  kube?: KubeApiConfig;
  /** Filled by resolveAuthConfig; a hand-built config without it has no oidc validator. */
  oidc?: OidcConfig;
}

const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function resolveStorage(type: string, namespace: string | undefined, kubeAccess: boolean, inCluster: boolean): StorageConfig {
  if (type === 'file') return { type };
  if (type !== 'kubernetes') throw new ConfigError('storage', `--storage must be file or kubernetes (got ${JSON.stringify(type)})`);
  if (namespace !== undefined && !NAMESPACE.test(namespace)) throw new ConfigError('storageNamespace', `--storage-namespace must be a namespace name (a DNS-1123 label; got ${JSON.stringify(namespace)})`);
  if (!kubeAccess) throw new ConfigError('storage', '--storage kubernetes needs the Kubernetes API: run in a pod or give --kubeconfig');
  if (namespace === undefined && !inCluster) throw new ConfigError('storageNamespace', '--storage kubernetes needs --storage-namespace when not running in a pod');
  return { type, namespace };
}

export function resolveAuthConfig(sources: OptionSources): ResolvedAuthConfig {
  const v = resolveOptions(AUTH_OPTIONS, sources);
  const listenText = v.listen as string;
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listenText);
  if (!m || Number(m[3]) > 65535) throw new ConfigError('listen', `--listen must be host:port (got ${JSON.stringify(listenText)})`);
  const clusterName = v.clusterName as string;
  if (!CLUSTER_NAME.test(clusterName)) throw new ConfigError('clusterName', `--cluster-name must be a lower-case DNS name, as it becomes the SPIFFE trust domain (got ${JSON.stringify(clusterName)})`);
  const certTtlMs = v.certTtl as number;
  const maxCertTtlMs = v.maxCertTtl as number;
  if (certTtlMs < 1000) throw new ConfigError('certTtl', '--cert-ttl must be at least 1s');
  if (maxCertTtlMs < certTtlMs) throw new ConfigError('maxCertTtl', '--max-cert-ttl must not be below --cert-ttl');
  const logLevel = v.logLevel as LogLevel;
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) throw new ConfigError('logLevel', `--log-level must be error, warn, info or debug (got ${JSON.stringify(logLevel)})`);
  const kubeTimeoutMs = v.kubeTimeout as number;
  if (kubeTimeoutMs < 100) throw new ConfigError('kubeTimeout', '--kube-timeout must be at least 100ms');
  const jwksCooldownMs = v.oidcJwksCooldown as number;
  const env = sources.env ?? {};
  const perSource = v.joinRatePerSource as number;
  const global = v.joinRateGlobal as number;
  if (!(perSource > 0)) throw new ConfigError('joinRatePerSource', '--join-rate-per-source must be positive');
  if (!(global > 0)) throw new ConfigError('joinRateGlobal', '--join-rate-global must be positive');
  const maxConcurrentReviews = v.maxConcurrentReviews as number;
  if (maxConcurrentReviews < 1) throw new ConfigError('maxConcurrentReviews', '--max-concurrent-reviews must be at least 1');
  const inCluster = isInCluster(env);
  const storage = resolveStorage(v.storage as string, v.storageNamespace as string | undefined, v.kubeconfig !== undefined || inCluster, inCluster);
  return {
    listen: { host: (m[1] ?? m[2]) as string, port: Number(m[3]) },
    stateDir: v.stateDir as string,
    clusterName,
    certTtlMs,
    maxCertTtlMs,
    sans: v.san as string[],
    logLevel,
    caKeyEncryptionKeyFile: v.caKeyEncryptionKeyFile as string | undefined,
    inventoryGraceMs: v.inventoryGrace as number,
    joinRate: { perSource, global },
    maxConcurrentReviews,
    storage,
    kube: {
      kubeconfig: v.kubeconfig as string | undefined,
      inCluster: inCluster ? { host: env.KUBERNETES_SERVICE_HOST as string, port: env.KUBERNETES_SERVICE_PORT as string } : undefined,
      timeoutMs: kubeTimeoutMs,
    },
    oidc: { caFile: v.oidcCaFile as string | undefined, timeoutMs: kubeTimeoutMs, jwksCooldownMs },
  };
}
