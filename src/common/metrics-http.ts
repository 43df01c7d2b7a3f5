import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Answers a GET /metrics with `registry` in the Prometheus text format, or 500 with the reason when a
 * collector fails: the one handler behind the agent's health port and the auth's metrics port.
 */
export function sendMetrics(res: ServerResponse, registry: Registry): void {
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
}
