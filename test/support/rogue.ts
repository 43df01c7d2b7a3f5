import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

/** A server posing as the auth service, for the tests of what an agent sends where. */
export interface RogueServer {
  port: number;
  /** Requests that carried a ServiceAccount token: the count each trust-path test asserts is 0. */
  tokenRequests(): number;
  close(): void;
}

/**
 * Starts an HTTPS server on 127.0.0.1 that answers GET /v1/ca with `caBody` and everything else with
 * 500, counting the requests whose body carried a `kubernetesToken` (the token itself is never kept
 * or printed). It sees a request only if the agent's checks let the connection through.
 */
export async function startRogueServer(tls: { certPem: string; keyPem: string }, caBody: string): Promise<RogueServer> {
  let tokenRequests = 0;
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (body.includes('kubernetesToken')) tokenRequests++;
      res.writeHead(req.url === '/v1/ca' ? 200 : 500, { 'content-type': 'application/x-pem-file' });
      res.end(req.url === '/v1/ca' ? caBody : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    tokenRequests: () => tokenRequests,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}
