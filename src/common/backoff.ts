/**
 * Back-off: exponential growth from `baseMs`, capped at `capMs`, full jitter. The one back-off of the
 * project: the agent's join retries and the Kubernetes storage's conflict retries both use it.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/**
 * Delay before retry number `attempt` (1 for the first retry), full jitter: a uniform draw in
 * [floor, min(cap, base·2^(attempt-1))]. The floor (a tenth of the base) keeps a draw of 0 from
 * turning into a hot loop. `retryAfterMs` (the server's Retry-After) is honoured as a minimum, but
 * never past the cap.
 */
export function retryDelayMs(attempt: number, rand: number, policy: BackoffPolicy, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  const floor = Math.min(policy.baseMs / 10, ceiling);
  const delay = floor + (ceiling - floor) * rand;
  const withServerHint = retryAfterMs === undefined ? delay : Math.max(delay, Math.min(retryAfterMs, policy.capMs));
  return Math.round(withServerHint);
}
