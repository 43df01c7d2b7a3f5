import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { AGENT_OPTIONS } from '../agent/options.ts';
import { addOptions, sourcesFrom } from './options.ts';
import { nameListenError } from '../common/listen.ts';

export function agentCommand(program: Command): void {
  const cmd = program
    .command('agent')
    .description('join the auth service with the pod\'s ServiceAccount token, write key, certificate and CA bundle atomically, and keep them renewed');
  addOptions(cmd, AGENT_OPTIONS).action(async () => {
    // Handlers first: a SIGTERM during start-up must still end in a clean stop, not a kill.
    const controller = new AbortController();
    let stopSignal: string | undefined;
    const stop = (signal: string) => {
      stopSignal ??= signal;
      controller.abort();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    const { resolveAgentConfig, createAgent, createAgentMetrics, startHealthServer, systemClock, systemRandom } = await import('../agent/index.ts');
    const { createLogger } = await import('../common/logger.ts');
    const config = resolveAgentConfig(await sourcesFrom(cmd, AGENT_OPTIONS), { fileExists: existsSync });
    const logger = createLogger({ level: config.logLevel, format: config.logFormat, component: 'agent' });
    if (config.trust.kind === 'insecure') logger.warn('TLS verification of the auth service is OFF (--insecure): the token goes to whoever answers; development only');
    const metrics = createAgentMetrics({ processMetrics: !config.once });
    const agent = createAgent(config, { clock: systemClock, random: systemRandom, logger, metrics });
    const health = config.health && !config.once
      ? await startHealthServer(config.health, agent.status, metrics.registry).catch((err: unknown) => {
          throw nameListenError(err, { '--health-addr': config.health });
        })
      : undefined;
    if (health) logger.info('health server listening', { addr: `${health.address.host}:${health.address.port}`, port: health.address.port });
    try {
      await agent.run(controller.signal);
      // An init container stopped before its first set must not look like a successful join.
      if (config.once && !agent.status().ready) {
        const { OnceFailedError } = await import('../agent/errors.ts');
        throw new OnceFailedError(`stopped by ${stopSignal ?? 'a signal'} before the first certificate set was written`, undefined);
      }
      logger.info(stopSignal ? 'stopped' : 'joined once; exiting', stopSignal ? { signal: stopSignal } : {});
    } finally {
      await health?.close();
    }
  });
}
