import { ConfigError } from '../common/errors.ts';
import { parseHostPort, resolveOptions, type OptionSources } from '../config/options.ts';
import { AUTH_OPTIONS } from './options.ts';
import { resolveLogSettings, type LogFormat, type LogLevel } from '../common/logger.ts';
import { isInCluster } from '../kube/in-cluster-env.ts';
import { CLUSTER_NAME_PATTERN } from '../protocol/index.ts';
import { NAMESPACE_NAME } from './kube-names.ts';


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
  inventoryGraceMs: number;
  /** Live inventory records one ServiceAccount may hold. */
  maxAgentsPerServiceAccount: number;
  /** Joins per second per source address and in all (0: measured at start, see measureJoinCapacity). */
  joinRate: { perSource: number; global: number; burstMs: number; renewalReserve: number; retryAfterSpreadMs: number };
  maxConcurrentReviews: number;
  storage: StorageConfig;
  /** The Kubernetes API; with neither --kubeconfig nor a pod to run in, there is none and in_cluster tokens are refused. */
  kube: KubeApiConfig;
  oidc: OidcConfig;
}


function resolveStorage(type: string, namespace: string | undefined, kubeAccess: boolean, inCluster: boolean): StorageConfig {
  if (type === 'file') return { type };
  if (type !== 'kubernetes') throw new ConfigError('storage', `--storage must be file or kubernetes (got ${JSON.stringify(type)})`);
  if (namespace !== undefined && !NAMESPACE_NAME.test(namespace)) throw new ConfigError('storageNamespace', `--storage-namespace must be a namespace name (a DNS-1123 label; got ${JSON.stringify(namespace)})`);
  if (!kubeAccess) throw new ConfigError('storage', '--storage kubernetes needs the Kubernetes API: run in a pod or give --kubeconfig');
  if (namespace === undefined && !inCluster) throw new ConfigError('storageNamespace', '--storage kubernetes needs --storage-namespace when not running in a pod');
  return { type, namespace };
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
  const inCluster = isInCluster(env);
  const storage = resolveStorage(v.storage as string, v.storageNamespace as string | undefined, v.kubeconfig !== undefined || inCluster, inCluster);
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
    inventoryGraceMs: v.inventoryGrace as number,
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
  };
}
