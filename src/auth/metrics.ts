import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The auth service's Prometheus metrics (names as in DESIGN.md §9). */
export interface AuthMetrics {
  registry: Registry;
  joins: Counter<'result' | 'code'>;
  joinDuration: Histogram<'result'>;
  agents: Gauge;
}

export function createAuthMetrics(options: { processMetrics: boolean }): AuthMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    joins: new Counter({
      name: 'kube_join_auth_joins_total',
      help: 'Join decisions by result (success, rejected, error) and problem code',
      labelNames: ['result', 'code'],
      registers: [registry],
    }),
    joinDuration: new Histogram({
      name: 'kube_join_auth_join_duration_seconds',
      help: 'Time to decide one join, from parsed request to signed certificate or rejection',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    agents: new Gauge({
      name: 'kube_join_auth_agents',
      help: 'Agents in the inventory whose entry has not expired (as of the last inventory sweep)',
      registers: [registry],
    }),
  };
}
