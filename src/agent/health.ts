import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { listen, type Listening } from '../common/listen.ts';
import type { HostPort } from './config.ts';
import type { AgentStatus } from './agent.ts';
import { sendMetrics } from '../common/metrics-http.ts';

export type HealthServer = Listening;

/**
 * `/livez`: the process and its loop are alive. `/readyz`: a valid set is on disk (503 with the reason
 * before the first write and after expiry), so a startupProbe on it gates the app container.
 * `/metrics`: Prometheus text. Every answer is JSON except /metrics (text, also when it fails).
 */
export async function startHealthServer(at: HostPort, status: () => AgentStatus, registry: Registry): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method not allowed' });
    if (path === '/livez') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      const s = status();
      return json(s.ready ? 200 : 503, s);
    }
    if (path === '/metrics') return sendMetrics(res, registry);
    json(404, { error: 'not found' });
  });
  return listen(server, at.host, at.port);
}
