/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export interface BucketPolicy {
  perSecond: number;
  burst: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

function take(bucket: Bucket, policy: BucketPolicy, now: number): Admission {
  bucket.tokens = Math.min(policy.burst, bucket.tokens + ((now - bucket.at) / 1000) * policy.perSecond);
  bucket.at = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return { ok: true };
  }
  return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / policy.perSecond) * 1000) };
}

export interface JoinRateLimiter {
  /** Admits one request from `source` (an IP), or says how long to wait. */
  admit(source: string): Admission;
}

/**
 * Join admission: a bucket per source address and one for the whole service, so one noisy pod cannot
 * starve the rest and a renewal storm is spread out with Retry-After instead of piling up. The map of
 * sources is bounded: when full, idle (refilled) buckets are dropped, as they hold no information.
 */
export function createJoinRateLimiter(options: { perSource: BucketPolicy; global: BucketPolicy; now: () => number; maxSources?: number }): JoinRateLimiter {
  const maxSources = options.maxSources ?? 100_000;
  const sources = new Map<string, Bucket>();
  const global: Bucket = { tokens: options.global.burst, at: options.now() };
  return {
    admit(source) {
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
      if (!own.ok) return own;
      const all = take(global, options.global, now);
      if (!all.ok) bucket.tokens += 1; // not served: give the source its token back
      return all;
    },
  };
}
