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

const RETRYABLE: ReadonlySet<ProblemCode> = new Set<ProblemCode>([
  'rate_limited',
  'kube_unavailable',
  'storage_unavailable',
  'internal',
]);

export function dispositionOf(code: ProblemCode): Disposition {
  return RETRYABLE.has(code) ? 'retry' : 'final';
}
