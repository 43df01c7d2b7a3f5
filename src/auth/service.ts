import { readFile } from 'node:fs/promises';
import type { Logger } from '../common/logger.ts';
import { ConfigError } from '../common/errors.ts';
import { createKubeClient, loadInClusterConfig, loadKubeconfig, type KubeClient } from '../kube/index.ts';
import { spkiPin } from '../common/crypto.ts';
import { createCa, issueServingCert, loadCa, type CertificateAuthority } from './ca.ts';
import type { ResolvedAuthConfig } from './config.ts';
import { createAuthMetrics, type AuthMetrics } from './metrics.ts';
import { startAuthServer, type AuthServer } from './server.ts';
import { openFileStorage } from './storage/file.ts';
import type { AuthStorage } from './storage/types.ts';
import { createStaticJwksValidator } from './validators/static-jwks.ts';
import { createInClusterValidator } from './validators/in-cluster.ts';
import { createOidcValidator } from './validators/oidc.ts';
import type { ValidatorSet } from './validators/types.ts';

export interface AuthService {
  address: { host: string; port: number };
  /** `sha256:<hex>` of the CA's public key, for agents' --ca-pin. */
  caPin: string;
  ca: CertificateAuthority;
  storage: AuthStorage;
  metrics: AuthMetrics;
  close(): Promise<void>;
}

export interface AuthDeps {
  logger: Logger;
  now: () => number;
  /** Extra or replacement validators by kubernetes type (in_cluster, oidc). */
  validators?: ValidatorSet;
  processMetrics?: boolean;
}

/** The Kubernetes API client for in_cluster TokenReviews: --kubeconfig, else the pod's own config, else none. */
async function kubeClientFor(config: ResolvedAuthConfig, logger: Logger): Promise<KubeClient | undefined> {
  const kube = config.kube;
  if (kube === undefined) return undefined;
  const connection = kube.kubeconfig !== undefined
    ? await loadKubeconfig(kube.kubeconfig)
    : kube.inCluster !== undefined
      ? await loadInClusterConfig({ env: { KUBERNETES_SERVICE_HOST: kube.inCluster.host, KUBERNETES_SERVICE_PORT: kube.inCluster.port } })
      : undefined;
  if (connection === undefined) {
    logger.info('no Kubernetes API access (not in a pod, no --kubeconfig): in_cluster tokens will be refused');
    return undefined;
  }
  logger.info('Kubernetes API for in_cluster TokenReviews', { server: connection.server, source: connection.source });
  return createKubeClient(connection, { timeoutMs: kube.timeoutMs });
}

/** Validators by kubernetes type: static_jwks always, in_cluster and oidc when the config has their part. */
async function validatorsFor(config: ResolvedAuthConfig, deps: AuthDeps, kube: KubeClient | undefined): Promise<ValidatorSet> {
  const now = () => new Date(deps.now());
  const validators: ValidatorSet = { static_jwks: createStaticJwksValidator({ audience: config.clusterName, now }) };
  if (config.kube !== undefined) validators.in_cluster = createInClusterValidator({ audience: config.clusterName, client: kube, now: deps.now });
  if (config.oidc !== undefined) {
    let caPem: string | undefined;
    if (config.oidc.caFile !== undefined) {
      try {
        caPem = await readFile(config.oidc.caFile, 'utf8');
      } catch (err) {
        throw new ConfigError('oidcCaFile', `--oidc-ca-file ${config.oidc.caFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    validators.oidc = createOidcValidator({ audience: config.clusterName, caPem, timeoutMs: config.oidc.timeoutMs, jwksCooldownMs: config.oidc.jwksCooldownMs, now: deps.now });
  }
  return { ...validators, ...deps.validators };
}

/** Opens storage, loads (or on first start creates) the CA, and serves. */
export async function startAuthService(config: ResolvedAuthConfig, deps: AuthDeps): Promise<AuthService> {
  const storage = await openFileStorage(config.stateDir, { serve: true, now: deps.now });
  let server: AuthServer | undefined;
  let kube: KubeClient | undefined;
  try {
    let stored = await storage.getCa();
    if (stored === undefined) {
      stored = await storage.createCa(await createCa(config.clusterName, deps.now()));
      deps.logger.info('created a new CA', { stateDir: config.stateDir });
    }
    const ca = await loadCa(stored);
    const tls = await issueServingCert(ca, config.sans, deps.now());
    const metrics = createAuthMetrics({ processMetrics: deps.processMetrics ?? true });
    kube = await kubeClientFor(config, deps.logger);
    const validators = await validatorsFor(config, deps, kube);
    server = await startAuthServer({
      host: config.listen.host,
      port: config.listen.port,
      tls,
      logger: deps.logger,
      metrics,
      join: { storage, validators, ca, clusterName: config.clusterName, certTtlMs: config.certTtlMs, maxCertTtlMs: config.maxCertTtlMs, now: deps.now },
    });
    const caPin = spkiPin(ca.cert);
    deps.logger.info('auth service listening', { addr: `${server.address.host}:${server.address.port}`, port: server.address.port, caPin, clusterName: config.clusterName });
    const running = server;
    const runningKube = kube;
    return {
      address: running.address,
      caPin,
      ca,
      storage,
      metrics,
      async close() {
        await running.close();
        runningKube?.close();
        await storage.close();
      },
    };
  } catch (err) {
    await server?.close();
    kube?.close();
    await storage.close();
    throw err;
  }
}
