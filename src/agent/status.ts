import type { HeldCredential } from './credentials.ts';
import { isExpired } from '../common/renewal.ts';

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
  /** The latest failure: `code` the agent's ERR_* code, `reason` the auth service's problem code if it answered one. */
  lastError?: { code: string; reason?: string; message: string; at: string };
}

/** What the loop knows about itself; the status is derived from it, never kept beside it. */
export interface AgentState {
  held: HeldCredential | undefined;
  nextRenewalAt: number | undefined;
  renewing: boolean;
  consecutiveFailures: number;
  lastError: AgentStatus['lastError'];
}

/** Ready while a certificate is held and valid at `now`; the reason says why not otherwise. */
export function statusOf(state: AgentState, now: number): AgentStatus {
  const { held, nextRenewalAt, renewing, consecutiveFailures, lastError } = state;
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
