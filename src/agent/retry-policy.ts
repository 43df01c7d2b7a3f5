import { KubeJoinError } from '../common/errors.ts';
import { retryDelayMs, type BackoffPolicy } from '../common/backoff.ts';
import { PROBLEM_DISPOSITIONS, type Disposition } from '../protocol/index.ts';
import { JoinRejectedError, TokenReadError, type AgentErrorCode, type TokenReadReason } from './errors.ts';

/**
 * What the agent does after an error: a problem code's `retry` / `final` (see PROBLEM_DISPOSITIONS),
 * or `exit` for the errors that end the agent itself.
 */
export type Step = Disposition | 'exit';

/**
 * The agent's one retry table: every agent error code and what follows it. ERR_JOIN_REJECTED defers to
 * the server's problem code, ERR_TOKEN_READ to why the file could not be used. A Record, so that a new
 * code cannot be added without deciding it. ERR_NOTIFY is only logged: it never fails an attempt.
 */
export const AGENT_STEPS: Readonly<Record<Exclude<AgentErrorCode, 'ERR_JOIN_REJECTED' | 'ERR_TOKEN_READ' | 'ERR_NOTIFY'>, Step>> = {
  ERR_AUTH_UNAVAILABLE: 'retry',
  ERR_AUTH_PROTOCOL: 'final',
  ERR_TLS_VERIFY: 'final',
  ERR_CA_PIN_MISMATCH: 'final',
  ERR_AUTH_IDENTITY: 'final',
  ERR_CA_FILE: 'final',
  ERR_ISSUED_CERT_INVALID: 'final',
  ERR_CERT_WRITE: 'retry',
  ERR_CERT_EXPIRED: 'exit',
  ERR_ONCE_FAILED: 'exit',
};

/** A projected token volume can be mounted, or its first token written, after the agent starts. */
export const TOKEN_READ_STEPS: Readonly<Record<TokenReadReason, Step>> = {
  missing: 'retry',
  empty: 'retry',
  unreadable: 'final',
  not_a_jwt: 'final',
  too_large: 'final',
};

/** The step for any error an attempt throws; anything unforeseen (a bug, a crypto failure) is retried. */
export function stepFor(err: unknown): Step {
  if (err instanceof JoinRejectedError) return PROBLEM_DISPOSITIONS[err.reason];
  if (err instanceof TokenReadError) return TOKEN_READ_STEPS[err.reason];
  if (err instanceof KubeJoinError && Object.hasOwn(AGENT_STEPS, err.code)) return AGENT_STEPS[err.code as keyof typeof AGENT_STEPS];
  return 'retry';
}

/** Retry-After's unit (RFC 9110 §10.2.3: delay-seconds). */
export const RETRY_AFTER_RESOLUTION_MS = 1000;

export interface RetryContext {
  /** 1 for the first failed attempt of this renewal. */
  attempt: number;
  /** A draw in [0, 1) for the jitter. */
  rand: number;
  backoff: BackoffPolicy;
  now: number;
  /** With --once: give up when the next retry would start after this. */
  deadline: number | undefined;
  /** --exit-on-expiry and the held certificate has expired: stop retrying. */
  stopOnExpiry: boolean;
}

export interface RetryPlan {
  step: Step;
  retry: boolean;
  /** The wait before the next attempt: the back-off for `retry`, the cap for `final`. */
  delayMs: number;
}

/**
 * Decides what follows a failed attempt, as a pure function of the error and the context: `retry`
 * waits the jittered back-off, or the server's Retry-After plus a draw within its second when that is
 * longer (never past the cap), `final` waits the cap (the token
 * file is re-read then), `exit` stops. --once gives up on a final error, or when the next retry would
 * pass its deadline.
 */
export function planRetry(err: unknown, ctx: RetryContext): RetryPlan {
  const step = stepFor(err);
  if (step === 'exit') return { step, retry: false, delayMs: 0 };
  // Retry-After comes in whole seconds: a draw within the second keeps apart the agents a server told
  // the same number at the same moment (its own spread of the number does the rest).
  const retryAfterMs = err instanceof JoinRejectedError && err.retryAfterMs !== undefined ? err.retryAfterMs + Math.floor(ctx.rand * RETRY_AFTER_RESOLUTION_MS) : undefined;
  const delayMs = step === 'final' ? ctx.backoff.capMs : retryDelayMs(ctx.attempt, ctx.rand, ctx.backoff, retryAfterMs);
  if (ctx.deadline !== undefined) return { step, retry: step === 'retry' && ctx.now + delayMs < ctx.deadline, delayMs };
  return { step, retry: !ctx.stopOnExpiry, delayMs };
}
