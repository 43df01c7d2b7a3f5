import { channel } from 'node:diagnostics_channel';
import pRetry from 'p-retry';
import type { Logger } from '../common/logger.ts';
import { joinAttempt, newKeyed, type Keyed } from './attempt.ts';
import type { Clock, Random } from './clock.ts';
import type { ResolvedAgentConfig } from './config.ts';
import { inspectExistingSet } from './credentials.ts';
import { CertExpiredError, OnceFailedError, logFieldsOf } from './errors.ts';
import { createFailureLog } from './failure-log.ts';
import { createJoinClient, type JoinClient } from './join-client.ts';
import type { AgentMetrics } from './metrics.ts';
import { isExpired, renewAt } from '../common/renewal.ts';
import { planRetry, type RetryPlan } from './retry-policy.ts';
import { statusOf, type AgentState, type AgentStatus } from './status.ts';
import type { WriterFs } from './writer.ts';

export type { AgentStatus } from './status.ts';

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

/**
 * The agent: joins, then renews before expiry for as long as it runs. Each renewal is one p-retry run
 * over joinAttempt; what follows a failure is planRetry's (the retry table), and the waits go through
 * the injected clock, so tests drive them with fake timers.
 */
export function createAgent(config: ResolvedAgentConfig, deps: AgentDeps): Agent {
  const { clock, random, logger, metrics } = deps;
  const joinClient = deps.joinClient ?? createJoinClient({ addr: config.authAddr, trust: config.trust, clusterName: config.clusterName, timeoutMs: config.requestTimeoutMs });
  const attemptDeps = { clock, logger, metrics, joinClient, ...(deps.writerFs ? { writerFs: deps.writerFs } : {}) };
  const failureLog = createFailureLog();
  const state: AgentState = { held: undefined, nextRenewalAt: undefined, renewing: false, consecutiveFailures: 0, lastError: undefined };

  /** Logs a failed attempt: each reason when it first appears, then a summary per interval (failure-log.ts). */
  function logFailure(err: unknown, attempt: number, plan: RetryPlan): void {
    const fields = { ...logFieldsOf(err), attempt, retryInMs: plan.retry ? plan.delayMs : undefined };
    const entry = failureLog.record(`${fields.code}:${fields.reason ?? ''}:${fields.error}`, clock.now());
    if (!plan.retry) logger.error(config.once ? 'join failed; exiting (--once)' : 'join failed; giving up', fields);
    else if (entry.kind === 'first') {
      if (plan.step === 'final') logger.error('join rejected; waiting the long back-off before trying again', fields);
      else logger.warn('join attempt failed', fields);
    } else if (entry.kind === 'summary') {
      logger.warn('join still failing', { ...fields, failures: entry.failures, since: new Date(entry.since).toISOString() });
    } else logger.debug('join attempt failed again', fields);
  }

  /**
   * Joins until it succeeds or the retry table says stop. A new key per renewal, not per attempt:
   * during an outage every retry of a fleet would otherwise burn a key generation and a CSR signature
   * for nothing. The key never leaves this process.
   */
  async function joinWithRetry(signal: AbortSignal): Promise<void> {
    const deadline = config.once ? clock.now() + config.onceTimeoutMs : undefined;
    // The plan of the latest failure: made in onFailedAttempt (which also waits), read by shouldRetry.
    let plan: RetryPlan = { step: 'retry', retry: true, delayMs: 0 };
    let keyed: Keyed | undefined;
    state.renewing = true;
    try {
      const held = await pRetry(async () => {
        keyed ??= await newKeyed(config);
        return joinAttempt(config, attemptDeps, keyed, signal, state.held);
      }, {
        retries: Number.POSITIVE_INFINITY,
        // p-retry counts attempts and stops on shouldRetry; the wait itself is planRetry's full-jitter
        // delay (with Retry-After), slept on the injected clock in onFailedAttempt, so p-retry adds none.
        minTimeout: 0,
        maxTimeout: 0,
        signal,
        onFailedAttempt: async ({ error, attemptNumber }) => {
          const stopOnExpiry = config.exitOnExpiry && state.held !== undefined && isExpired(state.held, clock.now());
          plan = planRetry(error, { attempt: attemptNumber, rand: random(), backoff: config.backoff, now: clock.now(), deadline, stopOnExpiry });
          state.consecutiveFailures++;
          const { code, reason, error: message } = logFieldsOf(error);
          state.lastError = { code, ...(reason ? { reason } : {}), message, at: new Date(clock.now()).toISOString() };
          logFailure(error, attemptNumber, plan);
          failedChannel.publish({ code, attempt: attemptNumber, retry: plan.retry, delayMs: plan.delayMs } satisfies FailedEvent);
          if (plan.retry) {
            parkedChannel.publish({ reason: 'retry', ms: plan.delayMs } satisfies ParkedEvent);
            await clock.sleep(plan.delayMs, signal);
          }
        },
        shouldRetry: () => plan.retry,
      });
      state.held = held;
      state.consecutiveFailures = 0;
      state.lastError = undefined;
      failureLog.reset();
      writtenChannel.publish({ serial: held.serial, notAfter: held.notAfter } satisfies WrittenEvent);
    } catch (err) {
      if (signal.aborted) return;
      if (config.once) {
        const why = plan.step === 'final' ? 'join failed' : `join did not succeed within ${Math.round(config.onceTimeoutMs / 1000)}s`;
        throw new OnceFailedError(`${why}: ${logFieldsOf(err).error}`, err);
      }
      if (state.held !== undefined && isExpired(state.held, clock.now())) throw new CertExpiredError(new Date(state.held.notAfter), err);
      throw err;
    } finally {
      state.renewing = false;
    }
  }

  /** Start-up: every state of the output directory, each logged by name (as SPIRE's loadSVID). */
  async function adoptExistingSet(): Promise<void> {
    const existing = await inspectExistingSet(config.outDir, clock.now());
    switch (existing.state) {
      case 'valid':
        state.held = existing.held;
        metrics.certExpiry.set(existing.held.notAfter / 1000);
        logger.info('reusing the valid credential set on disk', { serial: existing.held.serial, notAfter: new Date(existing.held.notAfter).toISOString() });
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
  }

  async function run(signal: AbortSignal): Promise<void> {
    if (config.once) return joinWithRetry(signal);
    await adoptExistingSet();
    while (!signal.aborted) {
      if (state.held !== undefined) {
        state.nextRenewalAt = renewAt(state.held, random(), config.renewal);
        logger.info('renewal scheduled', { at: new Date(state.nextRenewalAt).toISOString(), notAfter: new Date(state.held.notAfter).toISOString() });
        // At least the retry base between two joins, whatever the certificate says: a lifetime shorter
        // than expected (or a skewed clock) must not turn into a join loop against the auth service.
        const ms = Math.max(state.nextRenewalAt - clock.now(), config.backoff.baseMs);
        parkedChannel.publish({ reason: 'renewal', ms } satisfies ParkedEvent);
        await clock.sleep(ms, signal);
        if (signal.aborted) break;
      }
      await joinWithRetry(signal);
    }
  }

  return { run, status: () => statusOf(state, clock.now()) };
}
