import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
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
import { JOIN_STORAGE_DETAIL, ProblemError, problemOf } from './errors.ts';
import { readBody, sendJson, sendProblem } from './http.ts';
import { decideJoin, type JoinContext, type JoinDecision } from './join.ts';
import type { AuthMetrics } from './metrics.ts';
import { handleAdmin } from './admin-api.ts';
import { isAdminCertificate } from './admin-identity.ts';
import { readPresentedLeaf, type PresentedLeaf } from './ca.ts';
import type { CaKeeper, CaMaterial } from './ca-keeper.ts';
import { joinKindOf, type JoinRateLimiter } from './rate-limit.ts';
import { createReadiness, storageReadiness, type ReadinessCheck } from './readiness.ts';
import { firstIssueText, userIssueMessages } from '../common/document-errors.ts';

export interface AuthServerOptions {
  host: string;
  port: number;
  /** Serving certificate, signing CA and bundle; the TLS context is swapped on every change. */
  ca: Pick<CaKeeper, 'material' | 'onChange' | 'status' | 'rotate'>;
  join: JoinContext;
  logger: Logger;
  metrics: AuthMetrics;
  rateLimiter: JoinRateLimiter;
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
  const parsed = JoinRequestSchema.safeParse(json, { error: userIssueMessages });
  if (!parsed.success) throw new ProblemError('bad_request', 400, `join request ${parsed.error.issues[0]?.path.length ? 'field ' : ''}${firstIssueText(parsed.error)}`);
  return parsed.data;
}

/**
 * The workload certificate a renewing agent presents, once TLS has verified it against the CA (and its
 * validity); undefined for no certificate, an unverified one, or the admin identity.
 */
function presentedLeafOf(socket: TLSSocket, trustDomain: string): PresentedLeaf | undefined {
  if (!socket.authorized) return undefined;
  const raw = socket.getPeerCertificate()?.raw;
  if (raw === undefined || isAdminCertificate(raw)) return undefined;
  return readPresentedLeaf(raw, trustDomain);
}

/**
 * The validity of the certificate a renewing agent presents, as TLS verified it (for admission: no
 * certificate parse of our own before a request is admitted); undefined for none.
 */
function presentedValidity(socket: TLSSocket): { notBefore: number; notAfter: number } | undefined {
  if (!socket.authorized) return undefined;
  const peer = socket.getPeerCertificate();
  const notBefore = Date.parse(peer?.valid_from ?? '');
  const notAfter = Date.parse(peer?.valid_to ?? '');
  return Number.isNaN(notBefore) || Number.isNaN(notAfter) ? undefined : { notBefore, notAfter };
}

/**
 * The auth service's HTTPS endpoints: POST /v1/join, GET /v1/ca, /healthz, /readyz (/metrics is on a
 * plain-HTTP listener of its own, see startMetricsServer). Every
 * refusal is problem+json with a stable code; every join decision is one audit log line.
 */
export async function startAuthServer(options: AuthServerOptions): Promise<AuthServer> {
  const { logger, metrics } = options;
  const readiness = createReadiness([storageReadiness(options.join.storage), ...options.readiness], options.join.now);

  /** Rate limit and parse, then decideJoin; a refusal before decideJoin has an audit of its own. */
  async function decide(req: IncomingMessage): Promise<JoinDecision> {
    try {
      const admission = options.rateLimiter.admit(req.socket.remoteAddress ?? 'unknown', joinKindOf(presentedValidity(req.socket as TLSSocket), options.join.now()));
      if (!admission.ok) {
        throw new ProblemError('rate_limited', 429, 'too many joins; retry after the time in Retry-After', { retryAfterSeconds: Math.max(1, Math.ceil(admission.retryAfterMs / 1000)) });
      }
      return await decideJoin(options.join, await parseJoinRequest(req), presentedLeafOf(req.socket as TLSSocket, options.join.clusterName));
    } catch (err) {
      return { outcome: 'refused', problem: problemOf(err, () => JOIN_STORAGE_DETAIL), audit: { tokenName: '' } };
    }
  }

  /** Serialises a decision, counts it, and writes its one audit line. */
  async function handleJoin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const decision = await decide(req);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const remote = req.socket.remoteAddress;
    if (decision.outcome === 'issued') {
      sendJson(res, 200, decision.response);
      metrics.joins.inc({ result: 'success', code: '' });
      metrics.joinDuration.observe({ result: 'success' }, seconds);
      logger.info('join', { result: 'success', remote, ...decision.audit });
      if (decision.audit.inventory !== 'recorded') logger.warn('inventory not updated for this join', { ...decision.audit, remote });
      return;
    }
    const { problem, audit } = decision;
    sendProblem(res, problem);
    const result = problem.status >= 500 ? 'error' : 'rejected';
    metrics.joins.inc({ result, code: problem.code });
    metrics.joinDuration.observe({ result }, seconds);
    // As on agent lines: `reason` is the problem code (the metrics label `code`), `detail` its text.
    const fields = { result, reason: problem.code, detail: problem.message, remote, ...audit };
    if (problem.status >= 500) {
      const cause = (problem.cause ?? problem) as Error;
      logger.error('join', { ...fields, error: cause instanceof KubeJoinError ? cause.message : cause?.stack ?? String(cause) });
    } else logger.warn('join', fields);
  }

  // Client certificates are asked for but not required: agents join without one; the admin API checks
  // for an admin identity itself. Presented certificates verify against the whole bundle, so an agent
  // still holding a leaf of the old CA renews by identity during a rotation.
  const tlsOf = (m: CaMaterial) => ({ cert: m.serving.certPem, key: m.serving.keyPem, ca: m.bundlePem, minVersion: 'TLSv1.2' as const });
  const server: Server = createServer({ ...tlsOf(options.ca.material()), requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const route = `${req.method} ${path}`;
    if (path.startsWith('/v1/admin/')) {
      handleAdmin(req, res, { storage: options.join.storage, ca: options.ca, now: options.join.now, logger }).catch((err: unknown) => {
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
        res.end(options.ca.material().bundlePem);
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
  options.ca.onChange((m) => server.setSecureContext(tlsOf(m)));
  return listen(server, options.host, options.port);
}
