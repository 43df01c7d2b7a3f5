import { ConfigError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { createKubeClient, loadInClusterConfig, loadKubeconfig, type KubeClient } from '../kube/index.ts';
import { loadOrCreateSharedCa } from './ca-secret.ts';
import type { ResolvedInjectorConfig } from './config.ts';
import { startInjectorServer } from './server.ts';
import { startServingRenewal } from './renewal.ts';
import { createInjectorCa, issueServingTls, type InjectorCa } from './tls.ts';
import { startCaBundleSync, type CaBundleSync } from './webhook-config.ts';

export interface RunningInjector {
  address: { host: string; port: number };
  /** The CA of the serving certificate (what the caBundle is set to). */
  caPem: string;
  close(): Promise<void>;
}

async function kubeClientFor(config: ResolvedInjectorConfig): Promise<KubeClient> {
  const { kube } = config;
  const connection = kube.kubeconfig !== undefined
    ? await loadKubeconfig(kube.kubeconfig)
    : kube.inCluster !== undefined
      ? await loadInClusterConfig({ env: { KUBERNETES_SERVICE_HOST: kube.inCluster.host, KUBERNETES_SERVICE_PORT: kube.inCluster.port } })
      : undefined;
  if (connection === undefined) throw new ConfigError('kubeconfig', 'keeping the webhook\'s caBundle (and --tls-secret) needs the Kubernetes API: run in a pod or give --kubeconfig (or --webhook-config-name off)');
  return createKubeClient(connection, { timeoutMs: kube.timeoutMs });
}

/** The CA to sign with: the replicas' shared one from --tls-secret, else a new one of this process's own. */
async function caFor(config: ResolvedInjectorConfig, client: KubeClient | undefined, now: number, logger: Logger): Promise<InjectorCa> {
  const secret = config.tlsSecret;
  if (secret === undefined || client === undefined) return createInjectorCa(now);
  const ca = await loadOrCreateSharedCa(client, secret.namespace, secret.name, () => createInjectorCa(now));
  logger.info('injector CA from Secret', { secret: `${secret.namespace}/${secret.name}` });
  return ca;
}

/**
 * Starts the webhook: its serving certificate (from the shared or a fresh CA), the HTTPS server, then
 * the caBundle sync that makes the apiserver trust it. The server listens first, so that the apiserver
 * can call it as soon as the caBundle lands.
 */
export async function runInjector(config: ResolvedInjectorConfig, deps: { logger: Logger; now: () => number }): Promise<RunningInjector> {
  const { logger } = deps;
  const client = config.webhook === undefined && config.tlsSecret === undefined ? undefined : await kubeClientFor(config);
  let sync: CaBundleSync | undefined;
  try {
    const ca = await caFor(config, client, deps.now(), logger);
    const tls = await issueServingTls(ca, config.sans, deps.now());
    const server = await startInjectorServer({
      host: config.listen.host,
      port: config.listen.port,
      tls,
      defaults: config.defaults,
      logger,
      ready: () => sync?.state() ?? { ready: true },
    });
    logger.info('injector listening', { addr: `${server.address.host}:${server.address.port}`, port: server.address.port, sans: config.sans });
    const renewal = startServingRenewal({ ca, names: config.sans, current: tls, now: deps.now, install: (next) => server.setTls(next), logger });
    if (client !== undefined && config.webhook !== undefined) {
      sync = startCaBundleSync({ client, name: config.webhook.configName, caPem: tls.caPem, intervalMs: config.webhook.syncIntervalMs, logger });
    }
    return {
      address: server.address,
      caPem: tls.caPem,
      async close() {
        renewal.stop();
        sync?.stop();
        client?.close();
        await server.close();
      },
    };
  } catch (err) {
    client?.close();
    throw err;
  }
}
