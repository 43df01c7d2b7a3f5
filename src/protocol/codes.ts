/**
 * Stable reason codes the auth service returns in problem+json bodies. The agent decides what to do
 * from the code alone (see `dispositionOf`), never from message text.
 */
export const PROBLEM_CODES = [
  'bad_request',
  'token_not_found',
  'token_expired',
  'join_method_mismatch',
  'kube_token_invalid',
  'audience_mismatch',
  'legacy_token_rejected',
  'service_account_not_allowed',
  'roles_not_allowed',
  'csr_invalid',
  'host_id_mismatch',
  'renewal_identity_mismatch',
  'rate_limited',
  'tokenreview_forbidden',
  'kube_unavailable',
  'storage_unavailable',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'internal',
] as const;

export type ProblemCode = (typeof PROBLEM_CODES)[number];

/**
 * What an agent does after a rejection:
 * - `retry`: transient; retry with the normal back-off.
 * - `final`: this token (or request) will not be accepted as it is; wait the long back-off, re-read the
 *   token file, and try again (the kubelet may rotate it, an admin may fix the provision token).
 */
export type Disposition = 'retry' | 'final';

/** Every problem code's disposition: a Record, so a new code cannot be added without deciding it. */
export const PROBLEM_DISPOSITIONS: Readonly<Record<ProblemCode, Disposition>> = {
  bad_request: 'final',
  token_not_found: 'final',
  token_expired: 'final',
  join_method_mismatch: 'final',
  kube_token_invalid: 'final',
  audience_mismatch: 'final',
  legacy_token_rejected: 'final',
  service_account_not_allowed: 'final',
  roles_not_allowed: 'final',
  csr_invalid: 'final',
  host_id_mismatch: 'final',
  renewal_identity_mismatch: 'final',
  rate_limited: 'retry',
  tokenreview_forbidden: 'final',
  kube_unavailable: 'retry',
  storage_unavailable: 'retry',
  unauthorized: 'final',
  forbidden: 'final',
  not_found: 'final',
  conflict: 'final',
  internal: 'retry',
};

export function dispositionOf(code: ProblemCode): Disposition {
  return PROBLEM_DISPOSITIONS[code];
}
