/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export interface BucketPolicy {
  perSecond: number;
  burst: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * What a join request is, for admission: a first join (no certificate presented), a renewal whose
 * certificate is close to expiry, or an early renewal (a certificate with plenty of life left), which
 * is shed first: refusing it costs its agent nothing but a later retry.
 */
export type JoinKind = 'join' | 'renewal-due' | 'renewal-early';

/** A presented certificate with less than this share of its lifetime left is due, not early. */
export const DUE_FRACTION = 1 / 3;

/** The kind of a join from the validity of the certificate it presents (none: a first join). */
export function joinKindOf(validity: { notBefore: number; notAfter: number } | undefined, now: number): JoinKind {
  if (validity === undefined) return 'join';
  return validity.notAfter - now < DUE_FRACTION * (validity.notAfter - validity.notBefore) ? 'renewal-due' : 'renewal-early';
}

interface Bucket {
  tokens: number;
  at: number;
}

function refill(bucket: Bucket, policy: BucketPolicy, now: number): void {
  bucket.tokens = Math.min(policy.burst, bucket.tokens + ((now - bucket.at) / 1000) * policy.perSecond);
  bucket.at = now;
}

/** Takes a token if more than `reserve` are left; else the wait until one would be. */
function take(bucket: Bucket, policy: BucketPolicy, now: number, reserve = 0): { ok: true } | { ok: false; waitMs: number } {
  refill(bucket, policy, now);
  if (bucket.tokens >= 1 + reserve) {
    bucket.tokens -= 1;
    return { ok: true };
  }
  return { ok: false, waitMs: Math.ceil(((1 + reserve - bucket.tokens) / policy.perSecond) * 1000) };
}

export interface JoinRateLimiter {
  /** Admits one request of `kind` from `source` (an IP), or says how long to wait. */
  admit(source: string, kind: JoinKind): Admission;
}

export interface JoinRateLimiterOptions {
  perSource: BucketPolicy;
  global: BucketPolicy;
  /**
   * Share of the global burst an early renewal may not use: it is kept for first joins and due
   * renewals, so under load early renewals are refused first.
   */
  renewalReserve: number;
  /** Retry-After is the wait for a token plus a uniform draw in [0, this): refused agents do not come back together. */
  retryAfterSpreadMs: number;
  now: () => number;
  /** [0, 1) draws for the Retry-After spread. */
  random: () => number;
  maxSources?: number;
}

/**
 * Join admission: a bucket per source address and one for the whole service, so one noisy pod cannot
 * starve the rest and a renewal storm gets cheap 429s instead of a queue that drives every latency up.
 * The refused are told to come back at a time spread over a window, so their retries do not arrive
 * together again. The map of sources is bounded: when full, idle (refilled) buckets are dropped, as they
 * hold no information.
 */
export function createJoinRateLimiter(options: JoinRateLimiterOptions): JoinRateLimiter {
  const maxSources = options.maxSources ?? 100_000;
  const sources = new Map<string, Bucket>();
  const global: Bucket = { tokens: options.global.burst, at: options.now() };
  // Never the whole bucket: an early renewal must fit into a full one, or a small burst would refuse it forever.
  const earlyReserve = Math.min(options.renewalReserve * options.global.burst, Math.max(0, options.global.burst - 1));
  const refuse = (waitMs: number): Admission => ({ ok: false, retryAfterMs: waitMs + Math.floor(options.random() * options.retryAfterSpreadMs) });
  return {
    admit(source, kind) {
      const now = options.now();
      let bucket = sources.get(source);
      if (bucket === undefined) {
        if (sources.size >= maxSources) {
          for (const [key, b] of sources) {
            if (b.tokens + ((now - b.at) / 1000) * options.perSource.perSecond >= options.perSource.burst) sources.delete(key);
          }
          if (sources.size >= maxSources) sources.clear();
        }
        bucket = { tokens: options.perSource.burst, at: now };
        sources.set(source, bucket);
      }
      const own = take(bucket, options.perSource, now);
      if (!own.ok) return refuse(own.waitMs);
      const all = take(global, options.global, now, kind === 'renewal-early' ? earlyReserve : 0);
      if (all.ok) return all;
      bucket.tokens += 1; // not served: give the source its token back
      return refuse(all.waitMs);
    },
  };
}
