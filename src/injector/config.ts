import { posix } from 'node:path';
import { ConfigError } from '../common/errors.ts';
import { formatHostPort } from '../common/host-port.ts';
import { envNameOf, parseHostPort, resolveOptions, type HostPort, type OptionSources } from '../config/options.ts';
import { resolveLogSettings, type LogFormat, type LogLevel } from '../common/logger.ts';
import { isInCluster } from '../kube/in-cluster-env.ts';
import { CLUSTER_NAME_PATTERN } from '../protocol/index.ts';
import type { InjectionDefaults } from './inject.ts';
import { INJECTOR_OPTIONS } from './options.ts';

export interface ResolvedInjectorConfig {
  listen: HostPort;
  sans: string[];
  /** The Secret with the CA the replicas share; undefined: a CA of this process's own. */
  tlsSecret: { namespace: string; name: string } | undefined;
  /** undefined: the caBundle is left alone (--webhook-config-name off). */
  webhook: { configName: string; syncIntervalMs: number } | undefined;
  kube: { kubeconfig: string | undefined; inCluster: { host: string; port: string } | undefined; timeoutMs: number };
  defaults: InjectionDefaults;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** A Kubernetes resource quantity, e.g. 10m, 64Mi, 1.5Gi. */
const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Resolves `kube-join injector`'s options: flags > environment > config file > defaults. Throws ConfigError naming the flag. */
export function resolveInjectorConfig(sources: OptionSources): ResolvedInjectorConfig {
  const v = resolveOptions(INJECTOR_OPTIONS, sources);
  const str = (k: string) => v[k] as string | undefined;
  const listen = parseHostPort(str('listen') as string, 'listen', 'listen');
  const authText = str('authAddr');
  if (authText === undefined || authText === '') throw new ConfigError('authAddr', `--auth-addr (or ${envNameOf('authAddr')}) is required: the address every injected agent joins`);
  const auth = parseHostPort(authText, 'authAddr', 'auth-addr');
  const clusterName = str('clusterName') as string;
  if (!CLUSTER_NAME_PATTERN.test(clusterName)) throw new ConfigError('clusterName', `--cluster-name must be a lower-case DNS name, the auth service's --cluster-name (got ${JSON.stringify(clusterName)})`);
  const tokenName = str('tokenName') || undefined;
  if (tokenName !== undefined && !OBJECT_NAME.test(tokenName)) throw new ConfigError('tokenName', `--token-name must be a provision token name (got ${JSON.stringify(tokenName)})`);
  const outDir = str('outDir') as string;
  if (!posix.isAbsolute(outDir) || posix.normalize(outDir) !== outDir || outDir === '/') throw new ConfigError('outDir', `--out-dir must be an absolute, normalised directory path other than / (got ${JSON.stringify(outDir)})`);
  const caBundleConfigMap = str('caBundleConfigmap') as string;
  if (!OBJECT_NAME.test(caBundleConfigMap)) throw new ConfigError('caBundleConfigmap', `--ca-bundle-configmap must be a ConfigMap name (got ${JSON.stringify(caBundleConfigMap)})`);
  const healthPort = v.agentHealthPort as number;
  if (healthPort < 1 || healthPort > 65535) throw new ConfigError('agentHealthPort', `--agent-health-port must be 1..65535 (got ${healthPort})`);
  const quantity = (key: string, flag: string) => {
    const q = str(key) as string;
    if (!QUANTITY.test(q)) throw new ConfigError(key, `--${flag} must be a Kubernetes quantity such as 10m or 64Mi (got ${JSON.stringify(q)})`);
    return q;
  };
  const sans = v.san as string[];
  if (sans.length === 0) throw new ConfigError('san', '--san needs at least one DNS name or IP');
  const tlsSecretName = str('tlsSecret') || undefined;
  const tlsSecretNamespace = str('tlsSecretNamespace') || undefined;
  if (tlsSecretName !== undefined && !OBJECT_NAME.test(tlsSecretName)) throw new ConfigError('tlsSecret', `--tls-secret must be a Secret name (got ${JSON.stringify(tlsSecretName)})`);
  if ((tlsSecretName === undefined) !== (tlsSecretNamespace === undefined)) throw new ConfigError('tlsSecretNamespace', '--tls-secret and --tls-secret-namespace go together');
  if (tlsSecretNamespace !== undefined && !NAMESPACE.test(tlsSecretNamespace)) throw new ConfigError('tlsSecretNamespace', `--tls-secret-namespace must be a namespace name (got ${JSON.stringify(tlsSecretNamespace)})`);
  const configName = str('webhookConfigName') as string;
  if (configName !== 'off' && !OBJECT_NAME.test(configName)) throw new ConfigError('webhookConfigName', `--webhook-config-name must be an object name or "off" (got ${JSON.stringify(configName)})`);
  const syncIntervalMs = v.webhookSyncInterval as number;
  if (syncIntervalMs < 1000) throw new ConfigError('webhookSyncInterval', '--webhook-sync-interval must be at least 1s');
  const timeoutMs = v.kubeTimeout as number;
  if (timeoutMs < 100) throw new ConfigError('kubeTimeout', '--kube-timeout must be at least 100ms');
  const env = sources.env ?? {};
  const { logLevel, logFormat } = resolveLogSettings(v);
  return {
    listen,
    sans,
    tlsSecret: tlsSecretName !== undefined && tlsSecretNamespace !== undefined ? { namespace: tlsSecretNamespace, name: tlsSecretName } : undefined,
    webhook: configName === 'off' ? undefined : { configName, syncIntervalMs },
    kube: {
      kubeconfig: str('kubeconfig'),
      inCluster: isInCluster(env) ? { host: env.KUBERNETES_SERVICE_HOST as string, port: env.KUBERNETES_SERVICE_PORT as string } : undefined,
      timeoutMs,
    },
    defaults: {
      authAddr: formatHostPort(auth.host, auth.port),
      clusterName,
      image: str('image') as string,
      imagePullPolicy: str('imagePullPolicy') as string,
      tokenName,
      outDir,
      caBundleConfigMap,
      healthPort,
      resources: {
        requests: { cpu: quantity('agentCpuRequest', 'agent-cpu-request'), memory: quantity('agentMemoryRequest', 'agent-memory-request') },
        limits: { memory: quantity('agentMemoryLimit', 'agent-memory-limit') },
      },
    },
    logLevel,
    logFormat,
  };
}
