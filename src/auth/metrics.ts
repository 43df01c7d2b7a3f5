import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { listen, type Listening } from '../common/listen.ts';
import type { HostPort } from '../common/options.ts';

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

/**
 * GET /metrics (Prometheus text) over plain HTTP on an address of its own (--metrics-addr), apart
 * from the HTTPS join port: scrapers need neither the CA nor a route to the join endpoint, and the
 * join port serves only agents, admins and probes. Anything else is 404.
 */
export async function startMetricsServer(at: HostPort, registry: Registry): Promise<Listening> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: this port serves GET /metrics only\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`collecting metrics failed: ${err.message}\n`);
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return listen(server, at.host, at.port);
}
