import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfo } from '../common/build-info.ts';
import { AGENT_VERSION } from '../protocol/version.ts';

export type RenewalResult = 'success' | 'failure';

/**
 * Labels of the join counters: `result`, and `code`, the agent's error code of a failure (`ERR_*`,
 * as in its log lines' `code`), '' on success.
 */
export type JoinCounterLabels = 'result' | 'code';

/** The agent's Prometheus metrics (names as in DESIGN.md §9), on a registry of its own. */
export interface AgentMetrics {
  registry: Registry;
  certExpiry: Gauge;
  /** One per renewal attempt: a join while the agent holds a certificate set (written or reused from disk). */
  renewals: Counter<JoinCounterLabels>;
  /** One per first-join attempt: a join before the agent holds a certificate set. */
  firstJoins: Counter<JoinCounterLabels>;
  joinDuration: Histogram<'result'>;
}

export function createAgentMetrics(options: { processMetrics: boolean }): AgentMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  registerBuildInfo(registry, 'kube_join_agent_build_info', AGENT_VERSION);
  return {
    registry,
    certExpiry: new Gauge({
      name: 'kube_join_agent_cert_expiry_timestamp_seconds',
      help: 'notAfter of the certificate currently on disk, as a Unix timestamp',
      registers: [registry],
    }),
    renewals: new Counter({
      name: 'kube_join_agent_renewals_total',
      help: 'Renewal attempts (joins while the agent holds a certificate set) by result and, for a failure, the agent error code',
      labelNames: ['result', 'code'],
      registers: [registry],
    }),
    firstJoins: new Counter({
      name: 'kube_join_agent_first_joins_total',
      help: 'First-join attempts (joins before the agent holds a certificate set) by result and, for a failure, the agent error code',
      labelNames: ['result', 'code'],
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
