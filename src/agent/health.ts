import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { HostPort } from './config.ts';
import type { AgentStatus } from './agent.ts';

export interface HealthServer {
  /** The bound address (port resolved when 0 was asked for). */
  address: HostPort;
  close(): Promise<void>;
}

/**
 * `/livez`: the process and its loop are alive. `/readyz`: a valid set is on disk (503 with the reason
 * before the first write and after expiry), so a startupProbe on it gates the app container.
 * `/metrics`: Prometheus text. Every answer is JSON except /metrics.
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
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: Error) => json(500, { error: err.message }),
      );
      return;
    }
    json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
