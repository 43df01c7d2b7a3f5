import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CA_PATH,
  JOIN_PATH,
  JoinRequestSchema,
  MAX_JOIN_BODY_BYTES,
} from '../protocol/index.ts';
import { KubeJoinError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { listen, type Listening } from '../common/listen.ts';
import { ProblemError, StorageError } from './errors.ts';
import { readBody, sendJson, sendProblem } from './http.ts';
import { decideJoin, type JoinAudit, type JoinContext } from './join.ts';
import type { AuthMetrics } from './metrics.ts';
import { handleAdmin } from './admin-api.ts';
import { recordJoin, type RecordPolicy } from './inventory.ts';
import type { JoinRateLimiter } from './rate-limit.ts';
import { createReadiness, storageReadiness, type ReadinessCheck } from './readiness.ts';

export interface AuthServerOptions {
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string };
  join: JoinContext;
  logger: Logger;
  metrics: AuthMetrics;
  rateLimiter: JoinRateLimiter;
  /** How long records stay, and how many one ServiceAccount may hold. */
  inventory: RecordPolicy;
  /** Readiness checks besides storage (TokenReviews); each throws to say "not ready". */
  readiness: readonly ReadinessCheck[];
}

export type AuthServer = Listening;

async function parseJoinRequest(req: IncomingMessage) {
  if (!String(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
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
 * The problem a failed request answers with: its own ProblemError; a StorageError 503
 * storage_unavailable (retried by agents), with `storageDetail` as the detail; anything else (a bug)
 * 500 internal.
 */
function problemOf(err: unknown, storageDetail: (err: StorageError) => string): ProblemError {
  if (err instanceof ProblemError) return err;
  if (err instanceof StorageError) return new ProblemError('storage_unavailable', 503, storageDetail(err), { cause: err });
  return new ProblemError('internal', 500, 'internal error; see the auth service log', { cause: err });
}

/** Agents are not authenticated: they learn that storage failed, the log (and admins) learn why. */
const JOIN_STORAGE_DETAIL = 'the auth service cannot use its storage right now; retry later (its log says why)';

/**
 * The auth service's HTTPS endpoints: POST /v1/join, GET /v1/ca, /healthz, /readyz (/metrics is on a
 * plain-HTTP listener of its own, see startMetricsServer). Every
 * refusal is problem+json with a stable code; every join decision is one audit log line.
 */
export async function startAuthServer(options: AuthServerOptions): Promise<AuthServer> {
  const { logger, metrics } = options;
  const readiness = createReadiness([storageReadiness(options.join.storage), ...options.readiness], options.join.now);

  /** Best effort: the certificate is issued either way; an inventory failure is logged, not fatal. */
  async function recordInventory(request: Awaited<ReturnType<typeof parseJoinRequest>>, response: Awaited<ReturnType<typeof decideJoin>>): Promise<void> {
    const { storage, now } = options.join;
    const id = response.identity;
    const facts = { ...id, nodeName: request.nodeName, apps: request.apps ?? [], tokenName: request.tokenName, agentVersion: request.agentVersion, notAfter: new Date(response.notAfter) };
    try {
      const { key, recorded } = await recordJoin(storage, facts, now(), options.inventory);
      if (!recorded) logger.warn('inventory full for this ServiceAccount: the pod is not recorded', { agent: key, serviceAccount: `${id.namespace}:${id.serviceAccount}`, max: options.inventory.maxPerServiceAccount });
    } catch (err) {
      logger.warn('inventory update failed', { agent: `${id.namespace}/${id.podName}`, error: (err as Error).message });
    }
  }

  async function handleJoin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const audit: JoinAudit = { tokenName: '' };
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const admission = options.rateLimiter.admit(req.socket.remoteAddress ?? 'unknown');
      if (!admission.ok) {
        throw new ProblemError('rate_limited', 429, 'too many joins; retry after the time in Retry-After', { retryAfterSeconds: Math.max(1, Math.ceil(admission.retryAfterMs / 1000)) });
      }
      const request = await parseJoinRequest(req);
      audit.tokenName = request.tokenName;
      const response = await decideJoin(options.join, request, audit);
      await recordInventory(request, response);
      sendJson(res, 200, response);
      metrics.joins.inc({ result: 'success', code: '' });
      metrics.joinDuration.observe({ result: 'success' }, seconds());
      logger.info('join', { result: 'success', remote: req.socket.remoteAddress, agentVersion: request.agentVersion, ...audit });
    } catch (err) {
      const problem = problemOf(err, () => JOIN_STORAGE_DETAIL);
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

  // Client certificates are asked for but not required: agents join without one; the admin API checks
  // for an admin identity itself.
  const server: Server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: false, ca: options.join.ca.certPem }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const route = `${req.method} ${path}`;
    if (path.startsWith('/v1/admin/')) {
      handleAdmin(req, res, { storage: options.join.storage, now: options.join.now, logger }).catch((err: unknown) => {
        // An admin is told what is wrong with storage ("state directory /x is read-only (EROFS)").
        const problem = problemOf(err, (storageErr) => storageErr.message);
        if (problem.status >= 500) logger.error('admin request failed', { route, error: (err as Error)?.message });
        else logger.warn('admin request refused', { route, code: problem.code, reason: problem.message });
        sendProblem(res, problem);
      });
      return;
    }
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
        void readiness.check().then((result) => sendJson(res, result.ready ? 200 : 503, result));
        return;
      default:
        sendProblem(res, new ProblemError('not_found', 404, `no endpoint ${route}`));
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return listen(server, options.host, options.port);
}
