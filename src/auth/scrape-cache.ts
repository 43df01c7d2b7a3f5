/** A value that a Prometheus scrape reads from storage, shared by the scrapes of a short period. */
export interface ScrapeCache<T> {
  /**
   * The value, read again when the last read started `maxAgeMs` ago or more; the last good value when
   * that read fails or takes longer than `waitMs`; undefined before any read succeeded. Never rejects.
   */
  get(): Promise<T | undefined>;
}

export interface ScrapeCacheOptions<T> {
  read: () => Promise<T>;
  /** How long one read serves scrapes, in milliseconds; also how often a failing read is retried. */
  maxAgeMs: number;
  /** How long a scrape waits for a read, in milliseconds, before it answers with the last value. */
  waitMs: number;
  now: () => number;
  /** Hears every failed read; `first` is true for the first failure after a success (or ever). */
  onError: (err: unknown, first: boolean) => void;
}

/**
 * Reads for scrapes at most once per `maxAgeMs`, so a scrape storm (several Prometheus replicas, a
 * dashboard left open) costs one storage read per period, and concurrent scrapes share one read. A
 * storage problem never fails a scrape: the gauge keeps its last value, and a slow read finishes in
 * the background instead of holding the scrape past Prometheus's timeout.
 */
export function createScrapeCache<T>(options: ScrapeCacheOptions<T>): ScrapeCache<T> {
  let value: T | undefined;
  let startedAt = Number.NEGATIVE_INFINITY;
  let failing = false;
  let pending: Promise<void> | undefined;

  function refresh(): Promise<void> {
    startedAt = options.now();
    pending = Promise.resolve()
      .then(options.read)
      .then(
        (read) => {
          value = read;
          failing = false;
        },
        (err: unknown) => {
          options.onError(err, !failing);
          failing = true;
        },
      )
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  return {
    async get() {
      if (pending === undefined && options.now() - startedAt < options.maxAgeMs) return value;
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.waitMs);
        timer.unref();
      });
      await Promise.race([pending ?? refresh(), waited]);
      clearTimeout(timer);
      return value;
    },
  };
}
