import { ConfigError } from '../common/errors.ts';
import { envNameOf, parseHostPort, resolveOptions, type HostPort, type OptionSources } from '../config/options.ts';

export type { HostPort };
import { AGENT_OPTIONS, LEGACY_TOKEN_PATH, PROJECTED_TOKEN_PATH } from './options.ts';
import { resolveLogSettings, type LogFormat, type LogLevel } from '../common/logger.ts';
import { CLUSTER_NAME_PATTERN, parseAppSpec, type AppSpec } from '../protocol/index.ts';
import type { RenewalPolicy } from '../common/renewal.ts';
import type { BackoffPolicy } from '../common/backoff.ts';
import type { KeyAlgorithm } from './keys.ts';

/** How the agent trusts the auth service. Exactly one is configured. */
export type TrustConfig = { kind: 'ca-file'; path: string } | { kind: 'ca-pin'; pins: readonly string[] } | { kind: 'insecure' };

export interface ResolvedAgentConfig {
  authAddr: HostPort;
  tokenName: string;
  /** Candidates in order; the first that exists is read on each attempt. */
  tokenPaths: readonly string[];
  trust: TrustConfig;
  /** Trust domain of the auth service's identity, `spiffe://<clusterName>/kube-join/auth`. */
  clusterName: string;
  outDir: string;
  roles: readonly string[] | undefined;
  nodeName: string | undefined;
  apps: readonly AppSpec[];
  keyAlgorithm: KeyAlgorithm;
  ttlMs: number | undefined;
  renewal: RenewalPolicy;
  backoff: BackoffPolicy;
  requestTimeoutMs: number;
  once: boolean;
  onceTimeoutMs: number;
  exitOnExpiry: boolean;
  writeBundle: boolean;
  group: number | undefined;
  notify: { signal: NodeJS.Signals | undefined; pidFile: string | undefined; process: string | undefined; exec: string | undefined; execTimeoutMs: number };
  health: HostPort | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'rsa-2048', 'rsa-3072'];
const PIN = /^sha256:[0-9a-f]{64}$/;

/** `name=uri` → `{ name, uri }`, validated like the wire schema. */
export function parseAppFlag(text: string): AppSpec {
  const app = parseAppSpec(text);
  if (app === undefined) throw new ConfigError('apps', `"apps" entries must be name=uri with a DNS-1123 name (got ${JSON.stringify(text)})`);
  return app;
}

/**
 * Resolves the agent's configuration: flags > environment (`KUBE_JOIN_*`) > config file > defaults,
 * then checks what must hold together. Throws ConfigError naming the option. `fileExists` decides the
 * token path order when none is given.
 */
export function resolveAgentConfig(sources: OptionSources, env: { fileExists: (p: string) => boolean } = { fileExists: () => false }): ResolvedAgentConfig {
  const v = resolveOptions(AGENT_OPTIONS, sources);
  const str = (k: string) => v[k] as string | undefined;
  const num = (k: string) => v[k] as number;
  const need = (k: string, flag: string) => {
    const value = str(k);
    if (value === undefined || value === '') throw new ConfigError(k, `--${flag} (or ${envNameOf(k)}) is required`);
    return value;
  };

  const authAddr = parseHostPort(need('authAddr', 'auth-addr'), 'authAddr', 'auth-addr');
  const tokenName = need('tokenName', 'token-name');
  const clusterName = str('clusterName') as string;
  if (!CLUSTER_NAME_PATTERN.test(clusterName)) throw new ConfigError('clusterName', `--cluster-name must be a lower-case DNS name, the auth service's --cluster-name (got ${JSON.stringify(clusterName)})`);

  const trusts: TrustConfig[] = [];
  if (str('caFile')) trusts.push({ kind: 'ca-file', path: str('caFile') as string });
  const pins = ((v.caPin as string[] | undefined) ?? []).map((p) => p.toLowerCase());
  if (pins.length > 0) {
    const bad = pins.find((p) => !PIN.test(p));
    if (bad !== undefined) throw new ConfigError('caPin', `--ca-pin must be sha256:<64 hex digits> (got ${JSON.stringify(bad)})`);
    trusts.push({ kind: 'ca-pin', pins });
  }
  if (v.insecure === true) trusts.push({ kind: 'insecure' });
  if (trusts.length !== 1) {
    throw new ConfigError('caFile', trusts.length === 0
      ? 'the auth service must be verified: give --ca-file or --ca-pin (--insecure exists for development only)'
      : 'give only one of --ca-file, --ca-pin and --insecure');
  }

  const explicitToken = str('tokenPath');
  const tokenPaths = explicitToken
    ? [explicitToken]
    : env.fileExists(PROJECTED_TOKEN_PATH) ? [PROJECTED_TOKEN_PATH, LEGACY_TOKEN_PATH] : [LEGACY_TOKEN_PATH, PROJECTED_TOKEN_PATH];

  const keyAlgorithm = str('keyAlgorithm') as KeyAlgorithm;
  if (!KEY_ALGORITHMS.includes(keyAlgorithm)) throw new ConfigError('keyAlgorithm', `--key-algorithm must be one of ${KEY_ALGORITHMS.join(', ')} (got ${JSON.stringify(keyAlgorithm)})`);
  const { logLevel, logFormat } = resolveLogSettings(v);

  const fraction = num('renewFraction');
  if (!(fraction > 0 && fraction < 1)) throw new ConfigError('renewFraction', `--renew-fraction must be between 0 and 1, exclusive (got ${fraction})`);
  const jitter = num('renewJitter');
  if (!(jitter >= 0 && jitter < 1)) throw new ConfigError('renewJitter', `--renew-jitter must be at least 0 and below 1 (got ${jitter})`);
  const baseMs = num('retryBase');
  const capMs = num('retryCap');
  if (baseMs <= 0) throw new ConfigError('retryBase', '--retry-base must be positive');
  if (capMs < baseMs) throw new ConfigError('retryCap', `--retry-cap (${capMs} ms) must not be below --retry-base (${baseMs} ms)`);

  const signal = str('notifySignal')?.toUpperCase();
  if (signal !== undefined && !/^SIG[A-Z0-9]+$/.test(signal)) throw new ConfigError('notifySignal', `--notify-signal must be a signal name like SIGHUP (got ${JSON.stringify(str('notifySignal'))})`);
  const targets = [str('pidFile'), str('notifyProcess')].filter((t) => t !== undefined).length;
  if (targets > 1) throw new ConfigError('notifyProcess', '--pid-file and --notify-process are two ways to find the app: give one');
  if ((signal === undefined) !== (targets === 0)) throw new ConfigError('notifySignal', '--notify-signal goes with --pid-file or --notify-process');

  const group = v.group as number | undefined;
  if (group !== undefined && group < 0) throw new ConfigError('group', '--group must be a non-negative gid');

  const healthText = str('healthAddr');
  const health = healthText === undefined || healthText === '' || healthText === 'off' ? undefined : parseHostPort(healthText, 'healthAddr', 'health-addr');

  return {
    authAddr,
    tokenName,
    tokenPaths,
    trust: trusts[0] as TrustConfig,
    clusterName,
    outDir: str('outDir') as string,
    roles: (v.roles as string[] | undefined)?.length ? (v.roles as string[]) : undefined,
    nodeName: str('nodeName'),
    apps: ((v.apps as string[] | undefined) ?? []).map(parseAppFlag),
    keyAlgorithm,
    ttlMs: v.ttl as number | undefined,
    renewal: { fraction, jitter, renewBeforeMs: num('renewBefore') },
    backoff: { baseMs, capMs },
    requestTimeoutMs: num('requestTimeout'),
    once: v.once as boolean,
    onceTimeoutMs: num('onceTimeout'),
    exitOnExpiry: v.exitOnExpiry as boolean,
    writeBundle: v.bundle as boolean,
    group,
    notify: { signal: signal as NodeJS.Signals | undefined, pidFile: str('pidFile'), process: str('notifyProcess'), exec: str('exec'), execTimeoutMs: num('execTimeout') },
    health,
    logLevel,
    logFormat,
  };
}
