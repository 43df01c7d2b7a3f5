import { ConfigError } from '../common/errors.ts';
import { parseHostPort, resolveOptions, type OptionSources } from '../config/options.ts';
import { AUTH_OPTIONS } from './options.ts';
import { resolveLogSettings, type LogFormat, type LogLevel } from '../common/logger.ts';
import { isInCluster } from '../kube/in-cluster-env.ts';
import { CLUSTER_NAME_PATTERN } from '../protocol/index.ts';
import { NAMESPACE_NAME, SUBDOMAIN_NAME } from './kube-names.ts';


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

/** Where the CA bundle is published; undefined: nowhere (no namespace named or selected). */
export interface CaBundlePublishConfig {
  configMap: string;
  namespaces: string[];
  namespaceSelector: string | undefined;
}

export interface ResolvedAuthConfig {
  listen: { host: string; port: number };
  /** Plain-HTTP /metrics (--metrics-addr); undefined: not served ("off"). */
  metricsListen: { host: string; port: number } | undefined;
  stateDir: string;
  clusterName: string;
  certTtlMs: number;
  maxCertTtlMs: number;
  sans: string[];
  logLevel: LogLevel;
  logFormat: LogFormat;
  caKeyEncryptionKeyFile: string | undefined;
  /** How often the CA record is read back from storage (--ca-sync-interval). */
  caSyncIntervalMs: number;
  caBundlePublish: CaBundlePublishConfig | undefined;
  inventoryGraceMs: number;
  /** Look up joined agents' pods and mark the records of pods that are gone. */
  inventoryCheckPods: boolean;
  /** Live inventory records one ServiceAccount may hold. */
  maxAgentsPerServiceAccount: number;
  /** Joins per second per source address and in all (0: measured at start, see measureJoinCapacity). */
  joinRate: { perSource: number; global: number; burstMs: number; renewalReserve: number; retryAfterSpreadMs: number };
  maxConcurrentReviews: number;
  storage: StorageConfig;
  /** The Kubernetes API; with neither --kubeconfig nor a pod to run in, there is none and in_cluster tokens are refused. */
  kube: KubeApiConfig;
  oidc: OidcConfig;
  /** --pod-certificate-signer: the signer name to answer PodCertificateRequests for; undefined: off. */
  podCertificateSigner: string | undefined;
}

// A signer name is `<domain>/<path>`; names under kubernetes.io are the Kubernetes project's.
const SIGNER_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]{0,250}[A-Za-z0-9])?$/;

function resolveSigner(name: string | undefined, kubeAccess: boolean): string | undefined {
  if (name === undefined) return undefined;
  if (!SIGNER_NAME.test(name)) throw new ConfigError('podCertificateSigner', `--pod-certificate-signer must be a signer name "<domain>/<name>", such as kube-join.io/workload (got ${JSON.stringify(name)})`);
  const domain = name.slice(0, name.indexOf('/'));
  if (domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io')) throw new ConfigError('podCertificateSigner', `--pod-certificate-signer ${name}: signer names under kubernetes.io are reserved for Kubernetes; use your own domain, such as kube-join.io/workload`);
  if (!kubeAccess) throw new ConfigError('podCertificateSigner', '--pod-certificate-signer needs the Kubernetes API: run in a pod or give --kubeconfig');
  return name;
}


function resolveStorage(type: string, namespace: string | undefined, kubeAccess: boolean, inCluster: boolean): StorageConfig {
  if (type === 'file') return { type };
  if (type !== 'kubernetes') throw new ConfigError('storage', `--storage must be file or kubernetes (got ${JSON.stringify(type)})`);
  if (namespace !== undefined && !NAMESPACE_NAME.test(namespace)) throw new ConfigError('storageNamespace', `--storage-namespace must be a namespace name (a DNS-1123 label; got ${JSON.stringify(namespace)})`);
  if (!kubeAccess) throw new ConfigError('storage', '--storage kubernetes needs the Kubernetes API: run in a pod or give --kubeconfig');
  if (namespace === undefined && !inCluster) throw new ConfigError('storageNamespace', '--storage kubernetes needs --storage-namespace when not running in a pod');
  return { type, namespace };
}

function resolveCaBundlePublish(v: Record<string, unknown>): CaBundlePublishConfig | undefined {
  const configMap = v.caBundleConfigmap as string;
  const namespaces = (v.caBundleNamespaces as string[] | undefined) ?? [];
  const namespaceSelector = (v.caBundleNamespaceSelector as string | undefined)?.trim() || undefined;
  if (!SUBDOMAIN_NAME.test(configMap)) throw new ConfigError('caBundleConfigmap', `--ca-bundle-configmap must be a ConfigMap name (a lower-case DNS subdomain; got ${JSON.stringify(configMap)})`);
  const bad = namespaces.find((ns) => !NAMESPACE_NAME.test(ns));
  if (bad !== undefined) throw new ConfigError('caBundleNamespaces', `--ca-bundle-namespaces must name namespaces (DNS-1123 labels; got ${JSON.stringify(bad)})`);
  if (namespaces.length === 0 && namespaceSelector === undefined) return undefined;
  return { configMap, namespaces, namespaceSelector };
}

export function resolveAuthConfig(sources: OptionSources): ResolvedAuthConfig {
  const v = resolveOptions(AUTH_OPTIONS, sources);
  const listen = parseHostPort(v.listen as string, 'listen', 'listen');
  const metricsText = v.metricsAddr as string;
  const metricsListen = metricsText === '' || metricsText === 'off' ? undefined : parseHostPort(metricsText, 'metricsAddr', 'metrics-addr');
  // Port 0 picks a free port for each; any other shared address would fail to bind, and a bind error could not say which flag it was.
  if (metricsListen !== undefined && metricsListen.port !== 0 && metricsListen.host === listen.host && metricsListen.port === listen.port) {
    throw new ConfigError('metricsAddr', `--metrics-addr must not be the join port --listen (both ${metricsText})`);
  }
  const clusterName = v.clusterName as string;
  if (!CLUSTER_NAME_PATTERN.test(clusterName)) throw new ConfigError('clusterName', `--cluster-name must be a lower-case DNS name, as it becomes the SPIFFE trust domain (got ${JSON.stringify(clusterName)})`);
  const certTtlMs = v.certTtl as number;
  const maxCertTtlMs = v.maxCertTtl as number;
  if (certTtlMs < 1000) throw new ConfigError('certTtl', '--cert-ttl must be at least 1s');
  if (maxCertTtlMs < certTtlMs) throw new ConfigError('maxCertTtl', '--max-cert-ttl must not be below --cert-ttl');
  const { logLevel, logFormat } = resolveLogSettings(v);
  const kubeTimeoutMs = v.kubeTimeout as number;
  if (kubeTimeoutMs < 100) throw new ConfigError('kubeTimeout', '--kube-timeout must be at least 100ms');
  const jwksCooldownMs = v.oidcJwksCooldown as number;
  const env = sources.env ?? {};
  const perSource = v.joinRatePerSource as number;
  const global = v.joinRateGlobal as number;
  if (!(perSource > 0)) throw new ConfigError('joinRatePerSource', '--join-rate-per-source must be positive');
  if (!(global >= 0)) throw new ConfigError('joinRateGlobal', '--join-rate-global must be positive, or 0 to measure it at start');
  const renewalReserve = v.renewalReserve as number;
  if (!(renewalReserve >= 0 && renewalReserve <= 1)) throw new ConfigError('renewalReserve', '--renewal-reserve must be between 0 and 1');
  const maxAgentsPerServiceAccount = v.maxAgentsPerServiceAccount as number;
  if (maxAgentsPerServiceAccount < 1) throw new ConfigError('maxAgentsPerServiceAccount', '--max-agents-per-service-account must be at least 1');
  const maxConcurrentReviews = v.maxConcurrentReviews as number;
  if (maxConcurrentReviews < 1) throw new ConfigError('maxConcurrentReviews', '--max-concurrent-reviews must be at least 1');
  const caSyncIntervalMs = v.caSyncInterval as number;
  if (caSyncIntervalMs < 100) throw new ConfigError('caSyncInterval', '--ca-sync-interval must be at least 100ms');
  const inCluster = isInCluster(env);
  const caBundlePublish = resolveCaBundlePublish(v);
  const storage = resolveStorage(v.storage as string, v.storageNamespace as string | undefined, v.kubeconfig !== undefined || inCluster, inCluster);
  if (v.inventoryCheckPods === true && v.kubeconfig === undefined && !inCluster) throw new ConfigError('inventoryCheckPods', '--inventory-check-pods needs the Kubernetes API: run in a pod or give --kubeconfig');
  return {
    listen,
    metricsListen,
    stateDir: v.stateDir as string,
    clusterName,
    certTtlMs,
    maxCertTtlMs,
    sans: v.san as string[],
    logLevel,
    logFormat,
    caKeyEncryptionKeyFile: v.caKeyEncryptionKeyFile as string | undefined,
    caSyncIntervalMs,
    caBundlePublish,
    inventoryGraceMs: v.inventoryGrace as number,
    inventoryCheckPods: v.inventoryCheckPods as boolean,
    maxAgentsPerServiceAccount,
    joinRate: { perSource, global, burstMs: v.joinBurst as number, renewalReserve, retryAfterSpreadMs: v.retryAfterSpread as number },
    maxConcurrentReviews,
    storage,
    kube: {
      kubeconfig: v.kubeconfig as string | undefined,
      inCluster: inCluster ? { host: env.KUBERNETES_SERVICE_HOST as string, port: env.KUBERNETES_SERVICE_PORT as string } : undefined,
      timeoutMs: kubeTimeoutMs,
    },
    oidc: { caFile: v.oidcCaFile as string | undefined, timeoutMs: kubeTimeoutMs, jwksCooldownMs },
    podCertificateSigner: resolveSigner(v.podCertificateSigner as string | undefined, v.kubeconfig !== undefined || inCluster),
  };
}
