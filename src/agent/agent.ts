import { channel } from 'node:diagnostics_channel';
import pRetry from 'p-retry';
import { KubeJoinError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { AGENT_VERSION, dispositionOf, type JoinRequest } from '../protocol/index.ts';
import { retryDelayMs } from './backoff.ts';
import type { Clock, Random } from './clock.ts';
import type { ResolvedAgentConfig } from './config.ts';
import { inspectExistingSet, prepareCredentialSet, type HeldCredential } from './credentials.ts';
import { CertExpiredError, JoinRejectedError, OnceFailedError, TokenReadError } from './errors.ts';
import { createFailureLog } from './failure-log.ts';
import { createJoinClient, type JoinClient } from './join-client.ts';
import { createCsrPem, generateKey, type KeyMaterial } from './keys.ts';
import type { AgentMetrics } from './metrics.ts';
import { notifyApp } from './notify.ts';
import { isExpired, renewAt } from './renew.ts';
import { readServiceAccountToken } from './token.ts';
import { writeCredentialSet, type WriterFs } from './writer.ts';

/** Read-only view of the agent, served as JSON by /readyz. */
export interface AgentStatus {
  ready: boolean;
  /** Why the agent is (not) ready, in words. */
  reason: string;
  renewing: boolean;
  notAfter?: string;
  nextRenewalAt?: string;
  serial?: string;
  spiffeId?: string;
  consecutiveFailures: number;
  lastError?: { code: string; message: string; at: string };
}

export interface AgentDeps {
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: AgentMetrics;
  /** Replaces the HTTPS join client (tests). */
  joinClient?: JoinClient;
  /** Replaces node:fs for the writer (tests inject a full disk). */
  writerFs?: WriterFs;
}

export interface Agent {
  /**
   * Runs until `signal` aborts (then resolves, after any write in progress has finished). With
   * `once`, resolves after the first set is written. Rejects with OnceFailedError or CertExpiredError.
   */
  run(signal: AbortSignal): Promise<void>;
  status(): AgentStatus;
}

/**
 * Typed events on node:diagnostics_channel, for observers and tests: `parked` fires just before the
 * loop sleeps (so a test advances its fake clock only once the loop waits, like SPIRE's
 * WaitForAfterCh), `written` after each new set, `failed` after each failed attempt.
 */
export const AGENT_CHANNELS = {
  parked: 'kube-join:agent:parked',
  written: 'kube-join:agent:written',
  failed: 'kube-join:agent:failed',
} as const;
export interface ParkedEvent { reason: 'renewal' | 'retry'; ms: number }
export interface WrittenEvent { serial: string; notAfter: number }
export interface FailedEvent { code: string; attempt: number; retry: boolean; delayMs: number }
const parkedChannel = channel(AGENT_CHANNELS.parked);
const writtenChannel = channel(AGENT_CHANNELS.written);
const failedChannel = channel(AGENT_CHANNELS.failed);

/** What to do after a failed attempt. */
interface Decision {
  retry: boolean;
  delayMs: number;
  /** A rejection that will repeat until something changes (token, provision token, CA): logged once per change. */
  final: boolean;
}

const FINAL_AGENT_CODES = new Set(['ERR_TLS_VERIFY', 'ERR_CA_PIN_MISMATCH', 'ERR_AUTH_IDENTITY', 'ERR_CA_FILE', 'ERR_ISSUED_CERT_INVALID', 'ERR_AUTH_PROTOCOL']);

function isFinal(err: unknown): boolean {
  if (err instanceof JoinRejectedError) return dispositionOf(err.reason) === 'final';
  // A projected token volume can be mounted, or its first token written, after the agent starts.
  if (err instanceof TokenReadError) return err.reason !== 'missing' && err.reason !== 'empty';
  return err instanceof KubeJoinError && FINAL_AGENT_CODES.has(err.code);
}

/** The CN of the agent's CSR: informational only, as the auth service sets the subject itself. */
const CSR_SUBJECT = 'kube-join-agent';

function describe(err: unknown): { code: string; message: string } {
  if (err instanceof JoinRejectedError) return { code: err.reason, message: err.message };
  if (err instanceof KubeJoinError) return { code: err.code, message: err.message };
  return { code: 'ERR_UNEXPECTED', message: (err as Error)?.message ?? String(err) };
}

export function createAgent(config: ResolvedAgentConfig, deps: AgentDeps): Agent {
  const { clock, random, logger, metrics } = deps;
  const joinClient = deps.joinClient ?? createJoinClient({ addr: config.authAddr, trust: config.trust, clusterName: config.clusterName, timeoutMs: config.requestTimeoutMs });
  const failureLog = createFailureLog();
  let held: HeldCredential | undefined;
  let nextRenewalAt: number | undefined;
  let renewing = false;
  let consecutiveFailures = 0;
  let lastError: AgentStatus['lastError'];

  function status(): AgentStatus {
    const now = clock.now();
    const base = { renewing, consecutiveFailures, ...(lastError ? { lastError } : {}) };
    if (held === undefined) return { ready: false, reason: 'no certificate written yet', ...base };
    const facts = {
      notAfter: new Date(held.notAfter).toISOString(),
      serial: held.serial,
      spiffeId: held.spiffeId,
      ...(nextRenewalAt !== undefined ? { nextRenewalAt: new Date(nextRenewalAt).toISOString() } : {}),
    };
    if (isExpired(held, now)) return { ready: false, reason: `certificate expired at ${facts.notAfter} and renewal has not succeeded`, ...facts, ...base };
    return { ready: true, reason: 'certificate valid', ...facts, ...base };
  }

  /** A key and its CSR, made once per renewal and reused by that renewal's retries. */
  interface Keyed {
    material: KeyMaterial;
    csr: string;
  }

  async function attempt(signal: AbortSignal, keyed: Keyed): Promise<void> {
    const started = clock.now();
    try {
      const { token, path } = await readServiceAccountToken(config.tokenPaths);
      const { material, csr } = keyed;
      const request: JoinRequest = {
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
      const response = await joinClient.join(request, signal);
      const { files, held: issued } = await prepareCredentialSet(response, material, { now: clock.now(), group: config.group, writeBundle: config.writeBundle });
      // Not given the abort signal: a SIGTERM during a write lets the write finish.
      await writeCredentialSet(config.outDir, files, { now: clock.now(), gid: config.group, ...(deps.writerFs ? { fs: deps.writerFs } : {}) });
      held = issued;
      consecutiveFailures = 0;
      failureLog.reset();
      lastError = undefined;
      metrics.certExpiry.set(issued.notAfter / 1000);
      metrics.renewals.inc({ result: 'success' });
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
      writtenChannel.publish({ serial: issued.serial, notAfter: issued.notAfter } satisfies WrittenEvent);
    } catch (err) {
      if (!signal.aborted) {
        metrics.renewals.inc({ result: 'failure' });
        metrics.joinDuration.observe({ result: 'failure' }, (clock.now() - started) / 1000);
      }
      throw err;
    }
  }

  function decide(err: unknown, attemptNumber: number, deadline: number | undefined): Decision {
    const final = isFinal(err);
    const retryAfter = err instanceof JoinRejectedError ? err.retryAfterMs : undefined;
    const delayMs = final ? config.backoff.capMs : retryDelayMs(attemptNumber, random(), config.backoff, retryAfter);
    if (config.once) {
      const retry = !final && deadline !== undefined && clock.now() + delayMs < deadline;
      return { retry, delayMs, final };
    }
    if (config.exitOnExpiry && held !== undefined && isExpired(held, clock.now())) return { retry: false, delayMs, final };
    return { retry: true, delayMs, final };
  }

  /** Joins until it succeeds, with capped, jittered back-off; p-retry counts attempts, our clock sleeps. */
  async function joinWithRetry(signal: AbortSignal): Promise<void> {
    const deadline = config.once ? clock.now() + config.onceTimeoutMs : undefined;
    let decision: Decision = { retry: true, delayMs: 0, final: false };
    // A new key per renewal, not per attempt: during an outage every retry of a fleet would otherwise
    // burn a key generation and a CSR signature for nothing. The key never leaves this process.
    let keyed: Keyed | undefined;
    renewing = true;
    try {
      await pRetry(async () => {
        if (keyed === undefined) {
          const material = await generateKey(config.keyAlgorithm);
          keyed = { material, csr: await createCsrPem(material, CSR_SUBJECT) };
        }
        await attempt(signal, keyed);
      }, {
        retries: Number.POSITIVE_INFINITY,
        // Delays come from retryDelayMs and clock.sleep in onFailedAttempt, so p-retry adds none.
        minTimeout: 0,
        maxTimeout: 0,
        randomize: false,
        signal,
        onFailedAttempt: async ({ error, attemptNumber }) => {
          consecutiveFailures++;
          const what = describe(error);
          lastError = { ...what, at: new Date(clock.now()).toISOString() };
          decision = decide(error, attemptNumber, deadline);
          const fields = { code: what.code, error: what.message, attempt: attemptNumber, retryInMs: decision.retry ? decision.delayMs : undefined };
          const entry = failureLog.record(`${what.code}:${what.message}`, clock.now());
          if (!decision.retry) logger.error(config.once ? 'join failed; exiting (--once)' : 'join failed; giving up', fields);
          else if (entry.kind === 'first') {
            if (decision.final) logger.error('join rejected; waiting the long back-off before trying again', fields);
            else logger.warn('join attempt failed', fields);
          } else if (entry.kind === 'summary') {
            logger.warn('join still failing', { ...fields, failures: entry.failures, since: new Date(entry.since).toISOString() });
          } else logger.debug('join attempt failed again', fields);
          failedChannel.publish({ code: what.code, attempt: attemptNumber, retry: decision.retry, delayMs: decision.delayMs } satisfies FailedEvent);
          if (decision.retry) {
            parkedChannel.publish({ reason: 'retry', ms: decision.delayMs } satisfies ParkedEvent);
            await clock.sleep(decision.delayMs, signal);
          }
        },
        shouldRetry: () => decision.retry,
      });
    } catch (err) {
      if (signal.aborted) return;
      if (config.once) {
        const why = decision.final ? 'join failed' : `join did not succeed within ${Math.round(config.onceTimeoutMs / 1000)}s`;
        throw new OnceFailedError(`${why}: ${describe(err).message}`, err);
      }
      if (held !== undefined && isExpired(held, clock.now())) throw new CertExpiredError(new Date(held.notAfter), err);
      throw err;
    } finally {
      renewing = false;
    }
  }

  async function run(signal: AbortSignal): Promise<void> {
    if (config.once) return joinWithRetry(signal);
    const existing = await inspectExistingSet(config.outDir, clock.now());
    switch (existing.state) {
      case 'valid':
        held = existing.held;
        metrics.certExpiry.set(held.notAfter / 1000);
        logger.info('reusing the valid credential set on disk', { serial: held.serial, notAfter: new Date(held.notAfter).toISOString() });
        break;
      case 'expired':
        logger.info('credential set on disk has expired; joining', { serial: existing.held.serial });
        break;
      case 'mismatched':
        logger.warn('key and certificate on disk do not match; joining');
        break;
      case 'unreadable':
        logger.warn('credential set on disk is unreadable; joining', { reason: existing.reason });
        break;
      case 'none':
        logger.info('no credential set on disk; joining', { outDir: config.outDir });
        break;
    }
    while (!signal.aborted) {
      if (held !== undefined) {
        nextRenewalAt = renewAt(held, random(), config.renewal);
        logger.info('renewal scheduled', { at: new Date(nextRenewalAt).toISOString(), notAfter: new Date(held.notAfter).toISOString() });
        // At least the retry base between two joins, whatever the certificate says: a lifetime shorter
        // than expected (or a skewed clock) must not turn into a join loop against the auth service.
        const ms = Math.max(nextRenewalAt - clock.now(), config.backoff.baseMs);
        parkedChannel.publish({ reason: 'renewal', ms } satisfies ParkedEvent);
        await clock.sleep(ms, signal);
        if (signal.aborted) break;
      }
      await joinWithRetry(signal);
    }
  }

  return { run, status };
}
