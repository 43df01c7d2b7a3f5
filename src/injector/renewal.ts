import { errorLogFields } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { issueServingTls, type InjectorCa, type ServingTls } from './tls.ts';

/** Retry a failed renewal after this long; the current certificate is still valid for weeks. */
const RETRY_MS = 60 * 60 * 1000;

/**
 * Renews the serving certificate at half its remaining life, for as long as the injector runs, and
 * hands each new one to `install` (the server's setSecureContext): a long-running injector never
 * serves an expired certificate. The caBundle does not change, as the CA stays.
 */
export function startServingRenewal(options: { ca: InjectorCa; names: readonly string[]; current: ServingTls; now: () => number; install: (tls: ServingTls) => void; logger: Logger }): { stop(): void } {
  const { ca, names, now, install, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => void renew(), Math.max(0, delayMs));
    timer.unref();
  };
  const halfLife = (tls: ServingTls) => (tls.notAfter - now()) / 2;
  const renew = async () => {
    try {
      const tls = await issueServingTls(ca, names, now());
      install(tls);
      logger.info('serving certificate renewed', { notAfter: new Date(tls.notAfter).toISOString() });
      schedule(halfLife(tls));
    } catch (err) {
      logger.warn('serving certificate renewal failed', errorLogFields(err));
      schedule(RETRY_MS);
    }
  };
  schedule(halfLife(options.current));
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
