import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type RenewalResult = 'success' | 'failure';

/** The agent's Prometheus metrics (names as in DESIGN.md §9), on a registry of its own. */
export interface AgentMetrics {
  registry: Registry;
  certExpiry: Gauge;
  renewals: Counter<'result'>;
  joinDuration: Histogram<'result'>;
}

export function createAgentMetrics(options: { processMetrics: boolean }): AgentMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    certExpiry: new Gauge({
      name: 'kube_join_agent_cert_expiry_timestamp_seconds',
      help: 'notAfter of the certificate currently on disk, as a Unix timestamp',
      registers: [registry],
    }),
    renewals: new Counter({
      name: 'kube_join_agent_renewals_total',
      help: 'Join attempts (first join and renewals) by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    joinDuration: new Histogram({
      name: 'kube_join_agent_join_duration_seconds',
      help: 'Time of one join attempt: token read, key generation, request, verification and write',
      labelNames: ['result'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
