/** While one failure lasts, a summary line is logged this often (the attempts between stay at debug). */
export const FAILURE_SUMMARY_INTERVAL_MS = 60_000;

/** How to log one failed attempt. */
export type FailureLogEntry =
  | { kind: 'first' }
  | { kind: 'summary'; failures: number; since: number }
  | { kind: 'quiet' };

export interface FailureLog {
  /**
   * Records a failed attempt with a reason (code and message): `first` when the reason differs from
   * the previous attempt's, `summary` once per interval while the same reason lasts, else `quiet`.
   */
  record(reason: string, now: number): FailureLogEntry;
  /** A success ends the streak: the next failure is a `first` again. */
  reset(): void;
}

/**
 * Keeps an agent that is stuck from being either silent or noisy: each new reason is logged at once,
 * and a lasting one is summarised periodically with how many attempts failed since when, so an outage
 * of ten minutes reads as a handful of lines, not one line and not hundreds.
 */
export function createFailureLog(intervalMs = FAILURE_SUMMARY_INTERVAL_MS): FailureLog {
  let current: { reason: string; since: number; failures: number; loggedAt: number } | undefined;
  return {
    record(reason, now) {
      if (current?.reason !== reason) {
        current = { reason, since: now, failures: 1, loggedAt: now };
        return { kind: 'first' };
      }
      current.failures++;
      if (now - current.loggedAt < intervalMs) return { kind: 'quiet' };
      current.loggedAt = now;
      return { kind: 'summary', failures: current.failures, since: current.since };
    },
    reset() {
      current = undefined;
    },
  };
}
