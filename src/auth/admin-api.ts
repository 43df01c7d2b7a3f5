import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ADMIN_CA_PATH, ADMIN_CA_ROTATE_PATH, ADMIN_INVENTORY_PATH, ADMIN_TOKENS_PATH, CaRotateRequestSchema, type AgentRecord, type TokenSummary } from '../protocol/index.ts';
import { firstIssueText, userIssueMessages } from '../common/document-errors.ts';
import type { CaKeeper } from './ca-keeper.ts';
import { RotationPhaseError } from './ca-rotation.ts';
import { formatExpiry } from '../protocol/admin.ts';
import type { Logger } from '../common/logger.ts';
import { isAdminCertificate } from './admin-identity.ts';
import { CaRecordConflictError, ProblemError, TokenExistsError, TokenNotFoundError, TokenSpecError } from './errors.ts';
import { readBody, sendJson } from './http.ts';
import { isRecordLive } from './inventory.ts';
import type { AuthStorage } from './storage/types.ts';
import { checkNewTokenRoles, formatProvisionToken, isTokenExpired, parseProvisionToken } from './tokens.ts';

const MAX_TOKEN_BODY_BYTES = 64 * 1024;
const MAX_ROTATE_BODY_BYTES = 4 * 1024;

/** The rotation state, with how many live agents joined since its phase began (one inventory read). */
async function caStatusWithAgents(ctx: AdminContext, now: number) {
  const status = ctx.ca.status();
  const since = Date.parse(status.changedAt);
  const live = (await ctx.storage.listAgents()).map((e) => e.record).filter((r) => isRecordLive(r, now));
  return { ...status, agents: { live: live.length, joinedSinceChange: live.filter((r) => Date.parse(r.lastJoin) >= since).length } };
}

/** POST /v1/admin/ca/rotate: one phase step or a manual rotation; an illegal step is 409 with the phase that may follow. */
async function rotateCa(req: IncomingMessage, ctx: AdminContext, caller: string) {
  let json: unknown;
  try {
    json = JSON.parse((await readBody(req, MAX_ROTATE_BODY_BYTES)).toString('utf8'));
  } catch (err) {
    throw new ProblemError('bad_request', 400, 'the rotate request body is not valid JSON', { cause: err });
  }
  const parsed = CaRotateRequestSchema.safeParse(json, { error: userIssueMessages });
  if (!parsed.success) throw new ProblemError('bad_request', 400, `the rotate request must be {"phase": ...} or {"manual": true, "graceSeconds": N}: ${firstIssueText(parsed.error)}`);
  try {
    const status = await ctx.ca.rotate(parsed.data);
    ctx.logger.info('admin: CA rotation', { caller, ...parsed.data, phase: status.phase, signing: status.signing, serving: status.serving });
    return status;
  } catch (err) {
    if (err instanceof RotationPhaseError || err instanceof CaRecordConflictError) throw new ProblemError('conflict', 409, err.message, { cause: err });
    throw err;
  }
}

export interface AdminContext {
  storage: AuthStorage;
  ca: Pick<CaKeeper, 'status' | 'rotate'>;
  now: () => number;
  logger: Logger;
}

/**
 * Only an admin identity may call the admin API: a client certificate that chains to this service's CA
 * (checked by TLS) and carries the admin extension. No certificate: 401; an agent's certificate: 403.
 */
function authorize(req: IncomingMessage): string {
  const socket = req.socket as TLSSocket;
  const peer = socket.getPeerCertificate?.();
  if (!peer || !peer.raw) throw new ProblemError('unauthorized', 401, 'the admin API needs an admin client certificate (kube-join token ... finds it in the state directory, or give --identity)');
  if (!socket.authorized) throw new ProblemError('unauthorized', 401, `the client certificate does not verify against this auth service's CA (${String(socket.authorizationError)})`);
  const cn = String(peer.subject?.CN ?? '?');
  if (!isAdminCertificate(new Uint8Array(peer.raw))) throw new ProblemError('forbidden', 403, `the client certificate "${cn}" is not an admin identity`);
  return cn;
}

function summary(token: Awaited<ReturnType<AuthStorage['listTokens']>>[number], now: number, agents: number): TokenSummary {
  return {
    name: token.metadata.name,
    type: token.spec.kubernetes.type,
    roles: token.spec.roles,
    allow: token.spec.kubernetes.allow.map((a) => a.service_account),
    expires: formatExpiry(token.metadata.expires),
    expired: isTokenExpired(token, now),
    agents,
  };
}

/** Live agents by the provision token they joined through (one read of the inventory). */
async function liveAgentsByToken(storage: AuthStorage, now: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { record } of await storage.listAgents()) {
    if (isRecordLive(record, now)) counts.set(record.tokenName, (counts.get(record.tokenName) ?? 0) + 1);
  }
  return counts;
}

/** The token name in a request path; a broken percent-encoding is the caller's error, not ours. */
function tokenNameOf(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch (err) {
    throw new ProblemError('bad_request', 400, 'the token name in the path is not valid percent-encoding', { cause: err });
  }
}

/**
 * /v1/admin/tokens (GET list, POST YAML, GET/DELETE /NAME), /v1/admin/inventory (GET) and
 * /v1/admin/ca (GET, POST /rotate). Every admin
 * action is logged with the caller; token contents are not.
 */
export async function handleAdmin(req: IncomingMessage, res: ServerResponse, ctx: AdminContext): Promise<void> {
  const caller = authorize(req);
  const url = new URL(req.url ?? '/', 'https://admin');
  const path = url.pathname;
  const now = ctx.now();
  if (path === ADMIN_CA_PATH && req.method === 'GET') return sendJson(res, 200, await caStatusWithAgents(ctx, now));
  if (path === ADMIN_CA_ROTATE_PATH && req.method === 'POST') return sendJson(res, 200, await rotateCa(req, ctx, caller));
  if (path === ADMIN_INVENTORY_PATH && req.method === 'GET') {
    const agents: AgentRecord[] = (await ctx.storage.listAgents()).map((e) => e.record).filter((r) => isRecordLive(r, now));
    agents.sort((a, b) => `${a.namespace}/${a.hostId}`.localeCompare(`${b.namespace}/${b.hostId}`));
    return sendJson(res, 200, { agents });
  }
  if (path === ADMIN_TOKENS_PATH && req.method === 'GET') {
    const [tokens, agents] = await Promise.all([ctx.storage.listTokens(), liveAgentsByToken(ctx.storage, now)]);
    return sendJson(res, 200, { tokens: tokens.map((t) => summary(t, now, agents.get(t.metadata.name) ?? 0)) });
  }
  if (path === ADMIN_TOKENS_PATH && req.method === 'POST') {
    const text = (await readBody(req, MAX_TOKEN_BODY_BYTES)).toString('utf8');
    try {
      const token = parseProvisionToken(text, now);
      checkNewTokenRoles(token);
      await ctx.storage.putToken(token, { overwrite: url.searchParams.get('overwrite') === 'true' });
      ctx.logger.info('admin: token created', { caller, tokenName: token.metadata.name, expires: formatExpiry(token.metadata.expires) });
      return sendJson(res, 201, summary(token, now, (await liveAgentsByToken(ctx.storage, now)).get(token.metadata.name) ?? 0));
    } catch (err) {
      if (err instanceof TokenSpecError) throw new ProblemError('bad_request', 400, err.message, { cause: err });
      if (err instanceof TokenExistsError) throw new ProblemError('conflict', 409, err.message, { cause: err });
      throw err;
    }
  }
  const name = path.startsWith(`${ADMIN_TOKENS_PATH}/`) ? tokenNameOf(path.slice(ADMIN_TOKENS_PATH.length + 1)) : undefined;
  if (name !== undefined && req.method === 'GET') {
    const token = await ctx.storage.getToken(name);
    if (!token) throw new ProblemError('not_found', 404, new TokenNotFoundError(name).message);
    res.writeHead(200, { 'content-type': 'application/yaml' });
    res.end(formatProvisionToken(token));
    return;
  }
  if (name !== undefined && req.method === 'DELETE') {
    try {
      await ctx.storage.deleteToken(name);
    } catch (err) {
      if (err instanceof TokenNotFoundError) throw new ProblemError('not_found', 404, err.message, { cause: err });
      throw err;
    }
    ctx.logger.info('admin: token deleted', { caller, tokenName: name });
    res.writeHead(204);
    res.end();
    return;
  }
  throw new ProblemError('not_found', 404, `no admin endpoint ${req.method} ${path}`);
}
