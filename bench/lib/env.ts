import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileStorage, parseProvisionToken } from '../../src/auth/index.ts';
import { createTokenIssuer, type TokenIssuer } from '../../src/demo/index.ts';
import { MAIN_JS, spawnLogged, waitForLog, type Child } from './proc.ts';

export const CLUSTER = 'bench';
export const NAMESPACE = 'bench';
export const SERVICE_ACCOUNT = 'agent';
export const TOKEN_NAME = 'bench-token';

/**
 * Scratch space: /dev/shm when present (a memory-backed emptyDir, as a sidecar's shared volume usually
 * is), so disk fsync latency of this machine does not enter the figures.
 */
export async function scratchDir(prefix: string): Promise<string> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtemp(join(base, `kube-join-bench-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The local ServiceAccount token issuer (RS256, as an apiserver signs by default). */
export async function newIssuer(): Promise<TokenIssuer> {
  return createTokenIssuer();
}

/** Writes the static_jwks provision token straight into the state directory through the storage API. */
export async function createProvisionToken(stateDir: string, issuer: TokenIssuer): Promise<void> {
  const yaml = [
    'kind: token',
    'version: v2',
    'metadata:',
    `  name: ${TOKEN_NAME}`,
    `  expires: "${new Date(Date.now() + 24 * 3600_000).toISOString()}"`,
    'spec:',
    '  roles: [App]',
    '  join_method: kubernetes',
    '  kubernetes:',
    '    type: static_jwks',
    '    allow:',
    `      - service_account: "${NAMESPACE}:${SERVICE_ACCOUNT}"`,
    '    static_jwks:',
    `      jwks: '${JSON.stringify(issuer.jwks())}'`,
    '',
  ].join('\n');
  const storage = await openFileStorage(stateDir, { serve: false, now: () => Date.now() });
  try {
    await storage.putToken(parseProvisionToken(yaml, Date.now()), { overwrite: true });
  } finally {
    await storage.close();
  }
}

/**
 * V8 flags of the auth process, as the CLI's runtime-flags table is to apply them for `auth`: a young
 * generation bounded at 4 MB per semi-space keeps RSS under join allocation pressure (RESULTS.md §3).
 */
export const AUTH_NODE_OPTIONS = '--max-semi-space-size=4';

export interface AuthProcess extends Child {
  port: number;
  /** When the auth service said it was listening (its own log timestamp, ms since the epoch). */
  listeningAt: number;
  addr: string;
  stateDir: string;
  caFile: string;
  logFile: string;
}

/**
 * Starts `kube-join auth` (the built CLI) on loopback and waits for "auth service listening". Port 0
 * picks a free port; a restart passes the port it had.
 */
export async function startAuth(options: { stateDir: string; logFile: string; port?: number; certTtl?: string; maxCertTtl?: string; extraArgs?: string[]; nodeArgs?: string[]; env?: NodeJS.ProcessEnv }): Promise<AuthProcess> {
  await mkdir(options.stateDir, { recursive: true });
  const args = [
    ...(options.nodeArgs ?? []),
    MAIN_JS, 'auth',
    '--state-dir', options.stateDir,
    '--listen', `127.0.0.1:${options.port ?? 0}`,
    '--metrics-addr', '127.0.0.1:0',
    '--cluster-name', CLUSTER,
    '--cert-ttl', options.certTtl ?? '1h',
    '--max-cert-ttl', options.maxCertTtl ?? '24h',
    ...(options.extraArgs ?? []),
  ];
  const before = await stat(options.logFile).then((s) => s.size, () => 0);
  const child = spawnLogged(args, options.logFile, options.env ?? { ...process.env, NODE_OPTIONS: AUTH_NODE_OPTIONS });
  try {
    const line = await waitForLog(options.logFile, 'auth service listening', child, 30_000, before);
    const port = Number(line.port);
    return { ...child, port, listeningAt: Date.parse(String(line.time)), addr: `127.0.0.1:${port}`, stateDir: options.stateDir, caFile: join(options.stateDir, 'ca.crt'), logFile: options.logFile };
  } catch (err) {
    await child.stop(1000);
    throw err;
  }
}

/** A pod-bound ServiceAccount token for agent `i`, audience = the cluster name, 10 minutes (the chart's). */
export function mintFor(issuer: TokenIssuer, i: number, ttlSeconds = 600): Promise<string> {
  return issuer.mint({ namespace: NAMESPACE, serviceAccount: SERVICE_ACCOUNT, podName: `pod-${i}`, audience: CLUSTER, ttlSeconds });
}

/**
 * What a measurement of agents needs: a scratch directory, a token issuer, and an auth service there
 * with the provision token created and the join rate limits lifted (every client comes from
 * 127.0.0.1). `close` stops the service and the issuer and removes the directory.
 */
export async function agentBenchEnv(name: string): Promise<{ dir: string; issuer: TokenIssuer; auth: AuthProcess; close(): Promise<void> }> {
  const dir = await scratchDir(name);
  const issuer = await newIssuer();
  const close = async (auth?: AuthProcess) => {
    await auth?.stop();
    await issuer.close();
    await removeDir(dir);
  };
  try {
    const stateDir = join(dir, 'state');
    await createProvisionToken(stateDir, issuer);
    const auth = await startAuth({ stateDir, logFile: join(dir, 'auth.log'), extraArgs: ['--join-rate-per-source', '1000000', '--join-rate-global', '1000000'] });
    return { dir, issuer, auth, close: () => close(auth) };
  } catch (err) {
    await close();
    throw err;
  }
}
