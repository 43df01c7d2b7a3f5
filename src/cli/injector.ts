import type { Command } from 'commander';
import { INJECTOR_OPTIONS } from '../injector/options.ts';
import { addOptions, sourcesFrom } from './options.ts';
import { nameListenError } from '../common/listen.ts';

export function injectorCommand(program: Command): void {
  const cmd = program
    .command('injector')
    .description('mutating admission webhook: adds the agent as a native sidecar to pods annotated kube-join.io/inject: "true"');
  addOptions(cmd, INJECTOR_OPTIONS).action(async () => {
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    const { resolveInjectorConfig, runInjector } = await import('../injector/index.ts');
    const { createLogger } = await import('../common/logger.ts');
    const config = resolveInjectorConfig(await sourcesFrom(cmd, INJECTOR_OPTIONS));
    const logger = createLogger({ level: config.logLevel, format: config.logFormat, component: 'injector' });
    const injector = await runInjector(config, { logger, now: () => Date.now() }).catch((err: unknown) => {
      throw nameListenError(err, { '--listen': config.listen });
    });
    const signal = await stopped;
    await injector.close();
    logger.info('stopped', { signal });
  });
}
