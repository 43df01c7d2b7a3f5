import type { Command } from 'commander';
import { AUTH_OPTIONS } from '../auth/options.ts';
import { addOptions, sourcesFrom } from './options.ts';
import { nameListenError } from '../common/listen.ts';

export function authCommand(program: Command): void {
  const cmd = program
    .command('auth')
    .description('run the auth service: holds the CA and provision tokens, proves joins against Kubernetes, issues certificates');
  addOptions(cmd, AUTH_OPTIONS).action(async () => {
    // Handlers first: a SIGTERM while the service starts must still end in a clean stop, not a kill.
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    const { resolveAuthConfig, startAuthService } = await import('../auth/index.ts');
    const { createLogger } = await import('../common/logger.ts');
    const config = resolveAuthConfig(await sourcesFrom(cmd, AUTH_OPTIONS));
    const logger = createLogger({ level: config.logLevel, format: config.logFormat, component: 'auth' });
    const service = await startAuthService(config, { logger, now: () => Date.now() }).catch((err: unknown) => {
      throw nameListenError(err, { '--listen': config.listen, '--metrics-addr': config.metricsListen });
    });
    logger.info('stopping', { signal: await stopped });
    await service.close();
  });
}
