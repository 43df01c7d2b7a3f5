// The agent's option table on its own, so that the CLI can register flags without loading the agent.
import type { OptionSpec } from '../config/options.ts';
import { LOG_OPTIONS } from '../common/logger.ts';
import { DEFAULT_OUT_DIR, PROJECTED_TOKEN_PATH } from '../protocol/pod-layout.ts';

/** Where the agent looks for the ServiceAccount token when neither flag nor environment names a path. */
export { PROJECTED_TOKEN_PATH };
export const LEGACY_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Every agent option, in `--help` order. This table is the single home of the agent's defaults; the
 * chart's values feed the same flags.
 */
export const AGENT_OPTIONS: readonly OptionSpec[] = [
  { key: 'authAddr', flag: 'auth-addr', kind: 'string', arg: '<host:port>', help: 'address of the kube-join auth service (the chart\'s proxyAddr)' },
  { key: 'tokenName', flag: 'token-name', kind: 'string', arg: '<name>', help: 'name of the provision token to join with (not a secret)' },
  { key: 'tokenPath', flag: 'token-path', kind: 'string', arg: '<file>', extraEnv: ['KUBERNETES_TOKEN_PATH'], help: `ServiceAccount token file, re-read on every attempt (default: ${PROJECTED_TOKEN_PATH} if present, else ${LEGACY_TOKEN_PATH})` },
  { key: 'caFile', flag: 'ca-file', kind: 'string', arg: '<file>', help: 'PEM CA bundle that the auth service\'s certificate must chain to' },
  { key: 'caPin', flag: 'ca-pin', kind: 'list', arg: '<sha256:hex,...>', repeatable: true, help: 'SHA-256 of the auth CA\'s SubjectPublicKeyInfo (repeatable, for a CA rotation); the CA bundle is fetched and only the pinned certificates are trusted' },
  { key: 'clusterName', flag: 'cluster-name', kind: 'string', arg: '<name>', default: 'kube-join', help: 'the auth service\'s cluster name: before a token is sent, the server must prove the identity spiffe://<cluster-name>/kube-join/auth' },
  { key: 'insecure', flag: 'insecure', kind: 'bool', default: false, help: 'DEVELOPMENT ONLY: skip TLS verification of the auth service (the token is sent to whoever answers)' },
  { key: 'outDir', flag: 'out-dir', kind: 'string', arg: '<dir>', default: DEFAULT_OUT_DIR, help: 'directory (shared volume) for tls.key, tls.crt, ca.crt, identity.json' },
  { key: 'roles', flag: 'roles', kind: 'list', arg: '<role,...>', repeatable: true, help: 'roles to request (default: all the provision token allows)' },
  { key: 'nodeName', flag: 'node-name', kind: 'string', arg: '<name>', extraEnv: ['NODE_NAME'], help: 'Kubernetes node the pod runs on, for the inventory' },
  { key: 'apps', flag: 'app', kind: 'list', arg: '<name=uri>', repeatable: true, help: 'an app this pod serves, for the inventory (repeatable)' },
  { key: 'keyAlgorithm', flag: 'key-algorithm', kind: 'string', arg: '<alg>', default: 'ecdsa-p256', help: 'key type: ecdsa-p256, rsa-2048 or rsa-3072' },
  { key: 'ttl', flag: 'ttl', kind: 'duration', arg: '<duration>', help: 'certificate lifetime to ask for (the auth service caps it; default: its own)' },
  { key: 'renewFraction', flag: 'renew-fraction', kind: 'number', arg: '<0..1>', default: 0.5, help: 'renew after this fraction of the certificate\'s lifetime' },
  { key: 'renewJitter', flag: 'renew-jitter', kind: 'number', arg: '<0..1>', default: 0.1, help: 'relative jitter (±) on the renewal time' },
  { key: 'renewBefore', flag: 'renew-before', kind: 'duration', arg: '<duration>', default: '10m', help: 'renew at the latest this long before expiry' },
  { key: 'retryBase', flag: 'retry-base', kind: 'duration', arg: '<duration>', default: '1s', help: 'first retry delay (doubles per attempt, full jitter)' },
  { key: 'retryCap', flag: 'retry-cap', kind: 'duration', arg: '<duration>', default: '2m', help: 'longest retry delay; also the wait after a final rejection' },
  { key: 'requestTimeout', flag: 'request-timeout', kind: 'duration', arg: '<duration>', default: '15s', help: 'timeout of one request to the auth service' },
  { key: 'once', flag: 'once', kind: 'bool', default: false, help: 'join once, write the files and exit (init containers, Jobs)' },
  { key: 'onceTimeout', flag: 'once-timeout', kind: 'duration', arg: '<duration>', default: '5m', help: 'with --once: give up retrying transient errors after this long' },
  { key: 'exitOnExpiry', flag: 'exit-on-expiry', kind: 'bool', default: false, help: 'exit non-zero when the certificate expires and renewal keeps failing' },
  { key: 'bundle', flag: 'bundle', kind: 'bool', default: false, help: 'also write bundle.pem (key, then chain) in one file' },
  { key: 'group', flag: 'group', kind: 'int', arg: '<gid>', help: 'group that may read the key: tls.key becomes 0640 with this group' },
  { key: 'notifySignal', flag: 'notify-signal', kind: 'string', arg: '<SIGNAL>', help: 'signal sent to the app after each new set (e.g. SIGHUP): to the pid in --pid-file, or to the processes named --notify-process' },
  { key: 'pidFile', flag: 'pid-file', kind: 'string', arg: '<file>', help: 'file holding the pid of the app to signal' },
  { key: 'notifyProcess', flag: 'notify-process', kind: 'string', arg: '<name>', help: "name of the app's process to signal (its comm or argv[0]), found in the pod's shared PID namespace (shareProcessNamespace: true); the agent needs the app's uid, or CAP_KILL" },
  { key: 'exec', flag: 'exec', kind: 'string', arg: '<command>', help: "shell command run after each new set, in the agent's own container (not the app's)" },
  { key: 'execTimeout', flag: 'exec-timeout', kind: 'duration', arg: '<duration>', default: '30s', help: 'kill --exec after this long' },
  { key: 'healthAddr', flag: 'health-addr', kind: 'string', arg: '<host:port>', default: '0.0.0.0:8087', help: '/livez, /readyz and /metrics listen here ("off" to disable)' },
  ...LOG_OPTIONS,
];
