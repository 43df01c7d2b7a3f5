import { readFile } from 'node:fs/promises';
import type { Logger } from '../common/logger.ts';
import { ConfigError, errorLogFields } from '../common/errors.ts';
import { createKubeClient, loadInClusterConfig, loadKubeconfig, IN_CLUSTER_DIR, type KubeClient, type KubeConnection } from '../kube/index.ts';
import { spkiPin } from '../common/crypto.ts';
import type { CertificateAuthority } from './ca.ts';
import { loadOrCreateCa, readKeyEncryptionKey } from './ca-bootstrap.ts';
import { startCaKeeper, type CaKeeper } from './ca-keeper.ts';
import { createConfigMapPublisher } from './ca-publisher.ts';
import { join } from 'node:path';
import { makeDirs, writeFileAtomic } from '../common/fs.ts';
import type { Listening } from '../common/listen.ts';
import { stateDirError } from './errors.ts';
import { isRecordLive } from './inventory.ts';
import { apiPodLookup, gonePodSweeper } from './pods-gone.ts';
import { createJoinRateLimiter } from './rate-limit.ts';
import { ADMITTED_SHARE_OF_CAPACITY, measureJoinCapacity } from './capacity.ts';
import { tokenReviewReadiness } from './readiness.ts';
import { limitConcurrency } from './validators/limit.ts';
import type { ResolvedAuthConfig } from './config.ts';
import { createAuthMetrics, startMetricsServer, type AuthMetrics } from './metrics.ts';
import { startAuthServer, type AuthServer } from './server.ts';
import { openFileStorage } from './storage/file.ts';
import { openKubernetesStorage } from './storage/kubernetes.ts';
import type { AuthStorage } from './storage/types.ts';
import { createStaticJwksValidator } from './validators/static-jwks.ts';
import { createInClusterValidator } from './validators/in-cluster.ts';
import { createOidcValidator } from './validators/oidc.ts';
import type { ValidatorSet } from './validators/types.ts';
import { AUTH_ADDRESS_FILE, stateDirPaths } from '../protocol/index.ts';
import { formatHostPort } from '../common/host-port.ts';
import type { PodCertificateSigner } from './pod-certificate/signer.ts';
import { readFailure } from '../common/read-file.ts';

export interface AuthService {
  address: { host: string; port: number };
  /** Where plain-HTTP /metrics listens; undefined with --metrics-addr off. */
  metricsAddress: { host: string; port: number } | undefined;
  /** `sha256:<hex>` of the signing CA's public key at start, for agents' --ca-pin. */
  caPin: string;
  /** The CA that signs now (it changes during a rotation). */
  readonly ca: CertificateAuthority;
  /** The CA rotation: status, steps, and the one change event of the bundle. */
  caKeeper: CaKeeper;
  storage: AuthStorage;
  metrics: AuthMetrics;
  close(): Promise<void>;
}

export interface AuthDeps {
  logger: Logger;
  now: () => number;
  /** Uniform in [0, 1): the Retry-After spread and the jitter of podCertificate refresh times (default Math.random). */
  random?: () => number;
  /** Extra or replacement validators by kubernetes type (in_cluster, oidc). */
  validators?: ValidatorSet;
  processMetrics?: boolean;
  /** The start-up self-benchmark behind --join-rate-global 0 (default measureJoinCapacity). */
  measureCapacity?: () => Promise<{ leafCpuMs: number; joinsPerSecond: number }>;
}

/** The Kubernetes API connection (TokenReviews, kubernetes storage): --kubeconfig, else the pod's own config, else none. */
async function kubeConnectionFor(config: ResolvedAuthConfig): Promise<KubeConnection | undefined> {
  const kube = config.kube;
  return kube.kubeconfig !== undefined
    ? await loadKubeconfig(kube.kubeconfig)
    : kube.inCluster !== undefined
      ? await loadInClusterConfig({ env: { KUBERNETES_SERVICE_HOST: kube.inCluster.host, KUBERNETES_SERVICE_PORT: kube.inCluster.port } })
      : undefined;
}

/** The Kubernetes API client for in_cluster TokenReviews, when there is a connection. */
function kubeClientFor(config: ResolvedAuthConfig, connection: KubeConnection | undefined, logger: Logger): KubeClient | undefined {
  if (connection === undefined) {
    logger.info('no Kubernetes API access (not in a pod, no --kubeconfig): in_cluster tokens will be refused');
    return undefined;
  }
  logger.info('Kubernetes API for in_cluster TokenReviews', { server: connection.server, source: connection.source });
  return createKubeClient(connection, { timeoutMs: config.kube.timeoutMs });
}

/** The pod's namespace, as the kubelet mounts it beside the ServiceAccount token. */
async function podNamespace(): Promise<string> {
  const path = join(IN_CLUSTER_DIR, 'namespace');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new ConfigError('storageNamespace', `the pod's namespace cannot be read from ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give --storage-namespace`);
  }
}

/**
 * The configured backend: file (the state directory, locked so one process serves it) or kubernetes
 * (objects in the namespace, through its own client on the same connection; several replicas).
 */
async function openStorage(config: ResolvedAuthConfig, deps: AuthDeps, connection: KubeConnection | undefined): Promise<AuthStorage> {
  const storage = config.storage;
  if (storage.type === 'file') return openFileStorage(config.stateDir, { serve: true, now: deps.now });
  if (connection === undefined) throw new ConfigError('storage', '--storage kubernetes needs the Kubernetes API: run in a pod or give --kubeconfig');
  const namespace = storage.namespace ?? (await podNamespace());
  // The state directory still holds this replica's admin identity and auth.addr.
  await makeDirs(config.stateDir, 0o700).catch((err: unknown) => {
    throw stateDirError(config.stateDir, 'cannot be created', err);
  });
  const client = createKubeClient(connection, { timeoutMs: config.kube.timeoutMs });
  try {
    const opened = await openKubernetesStorage({ client, namespace, now: deps.now });
    deps.logger.info('storage: Kubernetes objects', { namespace, server: connection.server, source: connection.source });
    return opened;
  } catch (err) {
    client.close();
    throw err;
  }
}

/** Validators by kubernetes type: static_jwks, in_cluster (refusing all without Kubernetes API access) and oidc. */
async function validatorsFor(config: ResolvedAuthConfig, deps: AuthDeps, kube: KubeClient | undefined): Promise<ValidatorSet> {
  const now = () => new Date(deps.now());
  const validators: ValidatorSet = { static_jwks: createStaticJwksValidator({ audience: config.clusterName, now }) };
  validators.in_cluster = limitConcurrency(createInClusterValidator({ audience: config.clusterName, client: kube, now: deps.now }), config.maxConcurrentReviews);
  let caPem: string | undefined;
  if (config.oidc.caFile !== undefined) {
    try {
      caPem = await readFile(config.oidc.caFile, 'utf8');
    } catch (err) {
      throw new ConfigError('oidcCaFile', readFailure('--oidc-ca-file', config.oidc.caFile, err));
    }
  }
  validators.oidc = createOidcValidator({ audience: config.clusterName, caPem, timeoutMs: config.oidc.timeoutMs, jwksCooldownMs: config.oidc.jwksCooldownMs, now: deps.now });
  return { ...validators, ...deps.validators };
}

/** --join-rate-global, or with 0 a share of the capacity measured now; logged either way. */
async function globalJoinRate(config: ResolvedAuthConfig, deps: AuthDeps): Promise<number> {
  if (config.joinRate.global > 0) {
    deps.logger.info('join admission', { joinsPerSecond: config.joinRate.global, source: '--join-rate-global' });
    return config.joinRate.global;
  }
  const measured = await (deps.measureCapacity ?? measureJoinCapacity)();
  const rate = Math.max(1, Math.round(ADMITTED_SHARE_OF_CAPACITY * measured.joinsPerSecond));
  deps.logger.info('join admission', { joinsPerSecond: rate, source: 'measured', capacityPerSecond: Math.round(measured.joinsPerSecond), leafCpuMs: Math.round(measured.leafCpuMs * 1000) / 1000 });
  return rate;
}

const INVENTORY_SWEEP_MS = 60_000;
/** Besides every bundle change, the bundle is published this often: namespaces created since get it. */
const BUNDLE_REPUBLISH_MS = 60_000;

/**
 * Publishes the CA bundle into the configured ConfigMaps now, on every change the keeper reports, and
 * every minute. Never blocks start-up or the keeper: failures are logged by the publisher.
 */
function startBundlePublishing(config: ResolvedAuthConfig, connection: KubeConnection | undefined, keeper: CaKeeper, logger: Logger): { close(): void } | undefined {
  const publish = config.caBundlePublish;
  if (publish === undefined) return undefined;
  if (connection === undefined) {
    // As for in_cluster tokens: the service runs, and says what it cannot do.
    logger.warn('no Kubernetes API access (not in a pod, no --kubeconfig): the CA bundle ConfigMap is not published', { configMap: publish.configMap });
    return undefined;
  }
  const client = createKubeClient(connection, { timeoutMs: config.kube.timeoutMs });
  const publisher = createConfigMapPublisher({ client, name: publish.configMap, namespaces: publish.namespaces, namespaceSelector: publish.namespaceSelector, logger });
  const publishing = (bundlePem: string) => {
    publisher.publish(bundlePem).catch((err: unknown) => logger.warn('CA bundle: publishing failed', errorLogFields(err)));
  };
  keeper.onChange((m) => publishing(m.bundlePem));
  publishing(keeper.material().bundlePem);
  const timer = setInterval(() => publishing(keeper.material().bundlePem), BUNDLE_REPUBLISH_MS);
  timer.unref();
  return {
    close() {
      clearInterval(timer);
      client.close();
    },
  };
}

/**
 * Drops inventory entries past their grace period. The agents gauge is not this sweep's: it is counted
 * from storage on scrape (createAuthMetrics), so it is fresh and the same on every replica.
 */
async function sweepInventory(storage: AuthStorage, now: number, logger: Logger): Promise<void> {
  let deleted = 0;
  for (const { key, record } of await storage.listAgents()) {
    if (isRecordLive(record, now)) continue;
    await storage.deleteAgent(key);
    deleted++;
  }
  logger.debug('inventory swept', { deleted });
}

/** Opens storage, loads (or on first start creates) the CA, and serves. */
export async function startAuthService(config: ResolvedAuthConfig, deps: AuthDeps): Promise<AuthService> {
  const connection = await kubeConnectionFor(config);
  const storage = await openStorage(config, deps, connection);
  let server: AuthServer | undefined;
  let metricsServer: Listening | undefined;
  let kube: KubeClient | undefined;
  let keeper: CaKeeper | undefined;
  let signer: PodCertificateSigner | undefined;
  try {
    const kek = await readKeyEncryptionKey(config.caKeyEncryptionKeyFile);
    const where = { stateDir: config.stateDir, storage: config.storage.type };
    // Creates the first CA (once, whichever replica wins) and proves the key-encryption key opens it.
    await loadOrCreateCa(storage, { clusterName: config.clusterName, kek, now: deps.now(), logger: deps.logger, where });
    const caKeeper = await startCaKeeper({ storage, kek, clusterName: config.clusterName, sans: config.sans, maxCertTtlMs: config.maxCertTtlMs, syncIntervalMs: config.caSyncIntervalMs, stateDir: config.stateDir, now: deps.now, logger: deps.logger });
    keeper = caKeeper;
    const globalRate = await globalJoinRate(config, deps);
    const metrics = createAuthMetrics({ processMetrics: deps.processMetrics ?? true, storage, caStatus: () => caKeeper.status(), now: deps.now, logger: deps.logger });
    kube = kubeClientFor(config, connection, deps.logger);
    const validators = await validatorsFor(config, deps, kube);
    server = await startAuthServer({
      host: config.listen.host,
      port: config.listen.port,
      ca: caKeeper,
      logger: deps.logger,
      metrics,
      join: { storage, validators, authority: () => caKeeper.material(), clusterName: config.clusterName, certTtlMs: config.certTtlMs, maxCertTtlMs: config.maxCertTtlMs, now: deps.now, inventory: { graceMs: config.inventoryGraceMs, maxPerServiceAccount: config.maxAgentsPerServiceAccount } },
      rateLimiter: createJoinRateLimiter({
        perSource: { perSecond: config.joinRate.perSource, burst: 2 * config.joinRate.perSource },
        global: { perSecond: globalRate, burst: Math.max(1, (globalRate * config.joinRate.burstMs) / 1000) },
        renewalReserve: config.joinRate.renewalReserve,
        retryAfterSpreadMs: config.joinRate.retryAfterSpreadMs,
        now: deps.now,
        random: deps.random ?? Math.random,
      }),
      readiness: kube ? [tokenReviewReadiness(kube, config.clusterName)] : [],
    });
    metricsServer = config.metricsListen === undefined ? undefined : await startMetricsServer(config.metricsListen, metrics.registry);
    const local = ['0.0.0.0', '::'].includes(server.address.host) ? '127.0.0.1' : server.address.host;
    await writeFileAtomic(stateDirPaths(config.stateDir).authAddress, `${formatHostPort(local, server.address.port)}\n`, 0o644).catch((err: unknown) => {
      throw stateDirError(config.stateDir, `cannot be written (${AUTH_ADDRESS_FILE})`, err);
    });
    const publishing = startBundlePublishing(config, connection, caKeeper, deps.logger);
    // resolveAuthConfig refuses --inventory-check-pods without Kubernetes API access.
    const markGone = config.inventoryCheckPods && kube !== undefined ? gonePodSweeper(storage, apiPodLookup(kube), deps.logger) : undefined;
    const sweep = async () => {
      await sweepInventory(storage, deps.now(), deps.logger);
      await markGone?.(deps.now());
    };
    await sweep();
    if (config.podCertificateSigner !== undefined && kube !== undefined && connection !== undefined) {
      // Loaded only when asked for: @kubernetes/client-node stays out of an auth service without the signer.
      const { startPodCertificateSigner } = await import('./pod-certificate/signer.ts');
      signer = await startPodCertificateSigner({
        signerName: config.podCertificateSigner,
        connection,
        client: kube,
        storage,
        keeper: caKeeper,
        clusterName: config.clusterName,
        certTtlMs: config.certTtlMs,
        maxCertTtlMs: config.maxCertTtlMs,
        inventory: { graceMs: config.inventoryGraceMs, maxPerServiceAccount: config.maxAgentsPerServiceAccount },
        now: deps.now,
        random: deps.random ?? Math.random,
        logger: deps.logger,
      });
    }
    const sweeper = setInterval(() => {
      sweep().catch((err: unknown) => deps.logger.warn('inventory sweep failed', errorLogFields(err)));
    }, INVENTORY_SWEEP_MS);
    sweeper.unref();
    const caPin = spkiPin(caKeeper.material().signing.cert);
    const metricsAddr = metricsServer === undefined ? 'off' : formatHostPort(metricsServer.address.host, metricsServer.address.port);
    deps.logger.info('auth service listening', { addr: formatHostPort(server.address.host, server.address.port), port: server.address.port, metricsAddr, caPin, clusterName: config.clusterName });
    const running = server;
    const runningMetrics = metricsServer;
    const runningKube = kube;
    const runningSigner = signer;
    return {
      address: running.address,
      metricsAddress: runningMetrics?.address,
      caPin,
      get ca() {
        return caKeeper.material().signing;
      },
      caKeeper,
      storage,
      metrics,
      async close() {
        clearInterval(sweeper);
        caKeeper.close();
        publishing?.close();
        await runningSigner?.close();
        await running.close();
        await runningMetrics?.close();
        runningKube?.close();
        await storage.close();
      },
    };
  } catch (err) {
    await signer?.close();
    keeper?.close();
    await server?.close();
    await metricsServer?.close();
    kube?.close();
    await storage.close();
    throw err;
  }
}
