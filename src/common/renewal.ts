// Pure: the agent schedules its renewals by it, and the auth's podCertificate signer sets beginRefreshAt by it.
/** When to renew: a fraction of the lifetime with jitter, and an absolute floor before expiry. */
export interface RenewalPolicy {
  /** Fraction of the certificate's actual lifetime after which to renew (0 < f < 1). Default 0.5. */
  fraction: number;
  /** Relative jitter applied to that point, ± (0 ≤ j < 1). Default 0.1. */
  jitter: number;
  /** Renew at the latest this long before notAfter, in ms. Default 10 min. */
  renewBeforeMs: number;
}

export interface Validity {
  notBefore: number;
  notAfter: number;
}

/**
 * The time (ms since epoch) to start renewing a certificate valid over `validity`.
 *
 * The fraction is of the issued certificate's real lifetime, not of what was asked for (the server may
 * shorten it). Jitter spreads a fleet's renewals so that certificates issued together do not renew
 * together (Istio added it after renewal storms). The floor wins when it is earlier; when the lifetime
 * is shorter than the floor it cannot be honoured and the fraction alone decides. `rand` is in [0, 1).
 */
export function renewAt(validity: Validity, rand: number, policy: RenewalPolicy): number {
  const lifetime = validity.notAfter - validity.notBefore;
  const jittered = policy.fraction * (1 + policy.jitter * (2 * rand - 1));
  const byFraction = validity.notBefore + lifetime * Math.min(Math.max(jittered, 0), 1);
  const floor = validity.notAfter - policy.renewBeforeMs;
  return Math.round(floor > validity.notBefore ? Math.min(byFraction, floor) : byFraction);
}

/** Whether a certificate is past its notAfter at `now`. */
export function isExpired(validity: Validity, now: number): boolean {
  return now >= validity.notAfter;
}
