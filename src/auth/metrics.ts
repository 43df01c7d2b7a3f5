import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfo } from '../common/build-info.ts';
import { errorLogFields } from '../common/errors.ts';
import { listen, type Listening } from '../common/listen.ts';
import type { Logger } from '../common/logger.ts';
import type { HostPort } from '../config/options.ts';
import { AGENT_VERSION } from '../protocol/version.ts';
import { isRecordLive } from './inventory.ts';
import { createScrapeCache } from './scrape-cache.ts';
import type { AuthStorage } from './storage/types.ts';
import { sendMetrics } from '../common/metrics-http.ts';
import { CA_ROTATION_PHASES, type CaStatus } from '../protocol/index.ts';

/** How long one storage reading serves scrapes of the storage-backed gauges. */
export const METRICS_STORAGE_CACHE_MS = 5_000;
/** How long a scrape waits for a storage reading before it serves the last value. */
export const METRICS_STORAGE_WAIT_MS = 2_000;
/** At most this many `token` series: the soonest to expire, which are the ones an alert is about. */
export const MAX_TOKEN_EXPIRY_SERIES = 500;

/** The auth service's Prometheus metrics (names as in DESIGN.md §9). */
export interface AuthMetrics {
  registry: Registry;
  joins: Counter<'result' | 'code'>;
  joinDuration: Histogram<'result'>;
  /** Live inventory records in storage (all replicas' joins), counted on scrape. */
  agents: Gauge;
  /** notAfter of the signing CA. */
  caExpiry: Gauge;
  /** notAfter of every CA of the rotation state, by `role` and `pin`. */
  caNotAfter: Gauge<'role' | 'pin'>;
  /** 1 for the rotation phase this replica is in, 0 for the others. */
  caRotationPhase: Gauge<'phase'>;
  /** Provision-token expiries in storage, by `token` name, read on scrape. */
  tokenExpiry: Gauge<'token'>;
}

export interface AuthMetricsOptions {
  processMetrics: boolean;
  /** Where the agents and token-expiry gauges are read from on scrape, at most once per `cacheMs`. */
  storage: AuthStorage;
  /** The CA rotation state, read on scrape (it changes with a rotation). */
  caStatus: () => CaStatus;
  now: () => number;
  /** Hears storage reads that fail on scrape (warn once per streak). */
  logger: Logger;
  /** Default METRICS_STORAGE_CACHE_MS. */
  cacheMs?: number;
}

/**
 * The storage-backed gauges are computed on scrape from storage itself, not from this process's
 * memory: with kubernetes storage every replica reports the same fleet, and a record counts as soon
 * as any replica writes it. A failed read keeps the last value and is logged at warn once per streak.
 */
export function createAuthMetrics(options: AuthMetricsOptions): AuthMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const { storage, now, logger } = options;
  const scrapeRead = <T>(gauge: string, read: () => Promise<T>) =>
    createScrapeCache({
      read,
      maxAgeMs: options.cacheMs ?? METRICS_STORAGE_CACHE_MS,
      waitMs: METRICS_STORAGE_WAIT_MS,
      now,
      onError: (err, first) => logger.log(first ? 'warn' : 'debug', 'metrics: reading storage failed; the gauge keeps its last value', { gauge, ...errorLogFields(err) }),
    });
  const liveAgents = scrapeRead('kube_join_auth_agents', async () => {
    const at = now();
    return (await storage.listAgents()).filter(({ record }) => isRecordLive(record, at)).length;
  });
  const tokenExpiries = scrapeRead('kube_join_auth_token_expiry_timestamp_seconds', async () =>
    (await storage.listTokens())
      .map((t) => ({ name: t.metadata.name, seconds: t.metadata.expires.getTime() / 1000 }))
      .sort((a, b) => a.seconds - b.seconds || a.name.localeCompare(b.name))
      .slice(0, MAX_TOKEN_EXPIRY_SERIES),
  );
  registerBuildInfo(registry, 'kube_join_auth_build_info', AGENT_VERSION);
  const seconds = (iso: string) => Date.parse(iso) / 1000;
  const caExpiry = new Gauge({
    name: 'kube_join_auth_ca_expiry_timestamp_seconds',
    help: 'notAfter of the CA certificate that signs agents\' certificates, as a Unix timestamp',
    registers: [registry],
    collect() {
      const status = options.caStatus();
      const signing = status.cas.find((c) => c.pin === status.signing);
      if (signing !== undefined) this.set(seconds(signing.notAfter));
    },
  });
  const caNotAfter = new Gauge({
    name: 'kube_join_auth_ca_not_after_timestamp_seconds',
    help: 'notAfter of each CA of the rotation state, by role (current, next, previous) and pin (sha256 of its public key), as a Unix timestamp',
    labelNames: ['role', 'pin'],
    registers: [registry],
    collect() {
      this.reset();
      for (const ca of options.caStatus().cas) this.set({ role: ca.role, pin: ca.pin }, seconds(ca.notAfter));
    },
  });
  const caRotationPhase = new Gauge({
    name: 'kube_join_auth_ca_rotation_phase',
    help: 'CA rotation phase of this replica: 1 for the phase it is in (standby when no rotation runs), 0 for the others',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const { phase } = options.caStatus();
      for (const p of CA_ROTATION_PHASES) this.set({ phase: p }, p === phase ? 1 : 0);
    },
  });
  return {
    caNotAfter,
    caRotationPhase,
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
      help: 'Agents in the inventory (storage, all replicas) whose entry has not expired; read on scrape, cached a few seconds',
      registers: [registry],
      async collect() {
        const live = await liveAgents.get();
        if (live !== undefined) this.set(live);
      },
    }),
    caExpiry,
    tokenExpiry: new Gauge({
      name: 'kube_join_auth_token_expiry_timestamp_seconds',
      help: `metadata.expires of each provision token in storage, as a Unix timestamp (the ${MAX_TOKEN_EXPIRY_SERIES} soonest); read on scrape, cached a few seconds`,
      labelNames: ['token'],
      registers: [registry],
      async collect() {
        const tokens = await tokenExpiries.get();
        if (tokens === undefined) return;
        // Series of deleted tokens go: each reading replaces the whole set.
        this.reset();
        for (const t of tokens) this.set({ token: t.name }, t.seconds);
      },
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
    sendMetrics(res, registry);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return listen(server, at.host, at.port);
}
