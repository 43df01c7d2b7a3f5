import type { Logger } from '../common/logger.ts';
import { AGENT_VERSION, type JoinRequest } from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import type { ResolvedAgentConfig } from './config.ts';
import { prepareCredentialSet, type HeldCredential } from './credentials.ts';
import { logFieldsOf } from './errors.ts';
import type { JoinClient } from './join-client.ts';
import { createCsrPem, generateKey, type KeyMaterial } from './keys.ts';
import type { AgentMetrics } from './metrics.ts';
import { notifyApp } from './notify.ts';
import { isExpired } from '../common/renewal.ts';
import { readServiceAccountToken } from './token.ts';
import { writeCredentialSet, type WriterFs } from './writer.ts';

/** The CN of the agent's CSR: informational only, as the auth service sets the subject itself. */
const CSR_SUBJECT = 'kube-join-agent';

/** A key and its CSR, made once per renewal and reused by that renewal's retries. */
export interface Keyed {
  material: KeyMaterial;
  csr: string;
}

export async function newKeyed(config: Pick<ResolvedAgentConfig, 'keyAlgorithm'>): Promise<Keyed> {
  const material = await generateKey(config.keyAlgorithm);
  return { material, csr: await createCsrPem(material, CSR_SUBJECT) };
}

export interface AttemptDeps {
  clock: Clock;
  logger: Logger;
  metrics: AgentMetrics;
  joinClient: JoinClient;
  /** Replaces node:fs for the writer (tests inject a full disk). */
  writerFs?: WriterFs;
}

/** The join request of one attempt: the token read now, the renewal's CSR, the configured extras. */
export function joinRequestOf(config: ResolvedAgentConfig, token: string, csr: string): JoinRequest {
  return {
    tokenName: config.tokenName,
    joinMethod: 'kubernetes',
    kubernetesToken: token,
    csr,
    agentVersion: AGENT_VERSION,
    ...(config.roles ? { roles: [...config.roles] } : {}),
    ...(config.nodeName ? { nodeName: config.nodeName } : {}),
    ...(config.apps.length ? { apps: [...config.apps] } : {}),
    ...(config.ttlMs ? { ttlSeconds: Math.ceil(config.ttlMs / 1000) } : {}),
  };
}

/**
 * One join attempt, start to end: re-read the token (the kubelet rotates it), join, check what was
 * issued against the key before touching disk, write the set atomically, tell the app. Returns what
 * is now held; throws an agent error (the retry table decides what follows). `signal` aborts the
 * request but not a write in progress. `held` is what the agent holds now: nothing (a first join), or
 * the set a renewal replaces.
 */
export async function joinAttempt(config: ResolvedAgentConfig, deps: AttemptDeps, keyed: Keyed, signal: AbortSignal, held: HeldCredential | undefined): Promise<HeldCredential> {
  const { clock, logger, metrics } = deps;
  const counter = held === undefined ? metrics.firstJoins : metrics.renewals;
  // While the held certificate is valid it is presented: the renewal is then by identity, which the
  // provision token's expiry does not end (see decideJoin). An expired one would only fail TLS.
  const clientTls = held !== undefined && !isExpired(held, clock.now()) ? held.tls : undefined;
  const started = clock.now();
  try {
    const { token, path } = await readServiceAccountToken(config.tokenPaths);
    const response = await deps.joinClient.join(joinRequestOf(config, token, keyed.csr), signal, { ...(clientTls ? { clientTls } : {}), ...(held ? { caBundlePem: held.caBundlePem } : {}) });
    const { files, held: issued } = await prepareCredentialSet(response, keyed.material, { now: clock.now(), group: config.group, writeBundle: config.writeBundle });
    await writeCredentialSet(config.outDir, files, { now: clock.now(), gid: config.group, ...(deps.writerFs ? { fs: deps.writerFs } : {}) });
    metrics.certExpiry.set(issued.notAfter / 1000);
    counter.inc({ result: 'success', code: '' });
    metrics.joinDuration.observe({ result: 'success' }, (clock.now() - started) / 1000);
    logger.info('credential set written', {
      outDir: config.outDir,
      serial: issued.serial,
      spiffeId: issued.spiffeId,
      roles: issued.roles,
      notAfter: new Date(issued.notAfter).toISOString(),
      tokenPath: path,
    });
    await notifyApp(config.notify, { outDir: config.outDir, logger });
    return issued;
  } catch (err) {
    if (!signal.aborted) {
      counter.inc({ result: 'failure', code: logFieldsOf(err).code });
      metrics.joinDuration.observe({ result: 'failure' }, (clock.now() - started) / 1000);
    }
    throw err;
  }
}
