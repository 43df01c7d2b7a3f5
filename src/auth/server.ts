import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CA_PATH,
  JOIN_PATH,
  JoinRequestSchema,
  MAX_JOIN_BODY_BYTES,
  PROBLEM_CONTENT_TYPE,
  type Problem,
} from '../protocol/index.ts';
import { KubeJoinError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { ProblemError } from './errors.ts';
import { decideJoin, type JoinAudit, type JoinContext } from './join.ts';
import type { AuthMetrics } from './metrics.ts';

export interface AuthServerOptions {
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string };
  join: JoinContext;
  logger: Logger;
  metrics: AuthMetrics;
}

export interface AuthServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

const TITLES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Content Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

function sendProblem(res: ServerResponse, err: ProblemError): void {
  const body: Problem = { type: `https://kube-join.dev/problems/${err.code}`, title: TITLES[err.status] ?? 'Error', status: err.status, detail: err.message, code: err.code };
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  res.writeHead(err.status, headers);
  res.end(JSON.stringify(body));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Reads a body up to `limit` bytes; a larger one is refused without reading the rest. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return reject(new ProblemError('bad_request', 413, `request body is larger than ${limit} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new ProblemError('bad_request', 413, `request body is larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function parseJoinRequest(req: IncomingMessage) {
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    throw new ProblemError('bad_request', 415, 'join request must be application/json');
  }
  const body = await readBody(req, MAX_JOIN_BODY_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ProblemError('bad_request', 400, 'join request body is not valid JSON');
  }
  const parsed = JoinRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(body)';
    throw new ProblemError('bad_request', 400, `join request field ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * The auth service's HTTPS endpoints: POST /v1/join, GET /v1/ca, /healthz, /readyz, /metrics. Every
 * refusal is problem+json with a stable code; every join decision is one audit log line.
 */
export async function startAuthServer(options: AuthServerOptions): Promise<AuthServer> {
  const { logger, metrics } = options;

  async function handleJoin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const audit: JoinAudit = { tokenName: '' };
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const request = await parseJoinRequest(req);
      audit.tokenName = request.tokenName;
      const response = await decideJoin(options.join, request, audit);
      sendJson(res, 200, response);
      metrics.joins.inc({ result: 'success', code: '' });
      metrics.joinDuration.observe({ result: 'success' }, seconds());
      logger.info('join', { result: 'success', remote: req.socket.remoteAddress, agentVersion: request.agentVersion, ...audit });
    } catch (err) {
      const problem = err instanceof ProblemError ? err : new ProblemError('internal', 500, 'internal error; see the auth service log', { cause: err });
      sendProblem(res, problem);
      const result = problem.status >= 500 ? 'error' : 'rejected';
      metrics.joins.inc({ result, code: problem.code });
      metrics.joinDuration.observe({ result }, seconds());
      const fields = { result, code: problem.code, reason: problem.message, remote: req.socket.remoteAddress, ...audit };
      if (problem.status >= 500) {
        const cause = (problem.cause ?? err) as Error;
        logger.error('join', { ...fields, error: cause instanceof KubeJoinError ? cause.message : cause?.stack ?? String(cause) });
      } else logger.warn('join', fields);
    }
  }

  const server: Server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${path}`;
    switch (route) {
      case `POST ${JOIN_PATH}`:
        void handleJoin(req, res);
        return;
      case `GET ${CA_PATH}`:
        res.writeHead(200, { 'content-type': 'application/x-pem-file' });
        res.end(options.join.ca.certPem);
        return;
      case 'GET /healthz':
        sendJson(res, 200, { status: 'ok' });
        return;
      case 'GET /readyz':
        options.join.storage.ping().then(
          () => sendJson(res, 200, { ready: true }),
          (err: Error) => sendJson(res, 503, { ready: false, reason: `storage: ${err.message}` }),
        );
        return;
      case 'GET /metrics':
        metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        });
        return;
      default:
        sendProblem(res, new ProblemError('not_found', 404, `no endpoint ${route}`));
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
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
