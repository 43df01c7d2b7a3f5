import { ProblemError } from '../errors.ts';
import type { TokenValidator } from './types.ts';

/**
 * Caps the validations in flight (TokenReviews against the Kubernetes API): past `max`, a join is told
 * to come back in a second (503 kube_unavailable, retried by the agent) instead of queueing without
 * bound in front of the apiserver during a renewal storm.
 */
export function limitConcurrency(validator: TokenValidator, max: number): TokenValidator {
  let inFlight = 0;
  return {
    type: validator.type,
    async validate(kubeToken, token) {
      if (inFlight >= max) {
        throw new ProblemError('kube_unavailable', 503, `${max} ${validator.type} validations are in flight; try again shortly`, { retryAfterSeconds: 1 });
      }
      inFlight++;
      try {
        return await validator.validate(kubeToken, token);
      } finally {
        inFlight--;
      }
    },
  };
}
