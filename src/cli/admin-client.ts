import got, { RequestError, type Response } from 'got';
import { KubeJoinError } from '../common/errors.ts';
import { readUserFile } from '../common/read-file.ts';
import { firstIssueText, userIssueMessages } from '../common/document-errors.ts';
import type { z } from 'zod';
import {
  ADMIN_CA_PATH,
  ADMIN_CA_ROTATE_PATH,
  CaStatusSchema,
  ADMIN_INVENTORY_PATH,
  ADMIN_TOKENS_PATH,
  InventorySchema,
  ProblemSchema,
  TokenListSchema,
  TokenSummarySchema,
  adminIdentityFiles,
  stateDirPaths,
  type AgentRecord,
  type CaRotateRequest,
  type CaStatus,
  type TokenSummary,
} from '../protocol/index.ts';
import type { ResolvedAdminConfig } from './admin-options.ts';

export class AdminRequestError extends KubeJoinError<'ERR_ADMIN_REQUEST'> {
  readonly status: number | undefined;
  readonly reason: string | undefined;
  constructor(message: string, status?: number, reason?: string, cause?: unknown) {
    super('ERR_ADMIN_REQUEST', message, { cause });
    this.status = status;
    this.reason = reason;
  }
}

export interface AdminClient {
  listTokens(): Promise<TokenSummary[]>;
  getToken(name: string): Promise<string>;
  createToken(yaml: string, overwrite: boolean): Promise<TokenSummary>;
  deleteToken(name: string): Promise<void>;
  inventory(): Promise<AgentRecord[]>;
  caStatus(): Promise<CaStatus>;
  rotateCa(request: CaRotateRequest): Promise<CaStatus>;
}

/** What to give from outside the auth pod, where the state directory holds neither address nor identity. */
const FROM_OUTSIDE = "--auth-addr host:port and --identity DIR (a copy of the auth's admin folder)";

async function readRequired(path: string, what: string, hint: string): Promise<string> {
  return readUserFile(path, what).catch((err: Error) => {
    throw new AdminRequestError(`${err.message}: ${hint}`, undefined, undefined, err);
  });
}

/**
 * What to do when a file of the state directory or of --identity is missing, naming the state directory
 * looked in and exactly the flags still needed.
 */
function missingHints(config: ResolvedAdminConfig): { address: string; identity: string } {
  const inStateDir = `looked in the state directory ${config.stateDir}: no auth service runs there`;
  const identityGiven = config.identityDir !== stateDirPaths(config.stateDir).adminIdentity;
  return {
    address: `${inStateDir}; outside the auth pod give ${FROM_OUTSIDE}`,
    identity: identityGiven
      ? "--identity DIR must be a copy of the auth's admin folder (tls.key, tls.crt, ca.crt)"
      : config.authAddr !== undefined
        ? `looked in the state directory ${config.stateDir}, which holds no admin identity; with --auth-addr give --identity DIR (a copy of the auth's admin folder)`
        : `${inStateDir}; outside the auth pod give ${FROM_OUTSIDE}`,
  };
}

/**
 * An admin API answer read with `schema`. Not JSON, or not the admin protocol (an older or newer auth
 * service, or something else on that port): AdminRequestError naming the first field that does not fit.
 */
export function readAnswer<T>(body: string, schema: z.ZodType<T>, from: string, status: number): T {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new AdminRequestError(`${from} answered ${status} with a body that is not JSON`, status, undefined, err);
  }
  const parsed = schema.safeParse(value, { error: userIssueMessages });
  if (!parsed.success) throw new AdminRequestError(`${from} answered something that is not the admin protocol (${firstIssueText(parsed.error)})`, status, undefined, parsed.error);
  return parsed.data;
}

/**
 * Connects to the admin API with the admin identity, like tctl: inside the auth pod both the address
 * (`auth.addr`) and the identity (`admin/`) are found in the state directory; from outside, give
 * `--auth-addr` and `--identity DIR` (a copy of that admin folder). `config` comes from
 * resolveAdminConfig, the one place where flags, environment and defaults meet.
 */
export async function connectAdmin(config: ResolvedAdminConfig): Promise<AdminClient> {
  const hints = missingHints(config);
  const addr = config.authAddr ?? (await readRequired(config.addressFile, 'auth service address file', hints.address)).trim();
  const files = adminIdentityFiles(config.identityDir);
  const [key, certificate, ca] = await Promise.all([
    readRequired(files.key, 'admin key', hints.identity),
    readRequired(files.cert, 'admin certificate', hints.identity),
    readRequired(files.ca, 'admin CA bundle', hints.identity),
  ]);
  const base = `https://${addr}`;
  const client = got.extend({
    https: { key, certificate, certificateAuthority: ca },
    timeout: { request: 15_000 },
    retry: { limit: 0 },
    throwHttpErrors: false,
  });

  async function call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: string, contentType = 'application/yaml'): Promise<Response<string>> {
    let response: Response<string>;
    try {
      response = await client(`${base}${path}`, { method, ...(body !== undefined ? { body, headers: { 'content-type': contentType } } : {}) });
    } catch (err) {
      throw new AdminRequestError(`auth service ${base} unreachable: ${err instanceof RequestError ? (err.code ?? err.message) : String(err)}`, undefined, undefined, err);
    }
    if (response.statusCode >= 400) {
      let problem;
      try {
        problem = ProblemSchema.safeParse(JSON.parse(response.body));
      } catch {
        problem = undefined;
      }
      if (problem?.success) {
        const detail = (problem.data.detail ?? problem.data.title).replace(/\s*\n\s*/g, ' ');
        // A 4xx detail speaks of the request and stands alone; a 5xx is the service's state, and its
        // code (storage_unavailable, kube_unavailable, internal) tells whether trying again can help.
        const message = response.statusCode >= 500 ? `auth service ${base} answered ${response.statusCode} ${problem.data.code}: ${detail}` : detail;
        throw new AdminRequestError(message, response.statusCode, problem.data.code);
      }
      throw new AdminRequestError(`auth service ${base} answered ${response.statusCode}`, response.statusCode);
    }
    return response;
  }

  const json = <T>(response: Response<string>, schema: z.ZodType<T>): T => readAnswer(response.body, schema, `auth service ${base}`, response.statusCode);

  return {
    async listTokens() {
      return json(await call('GET', ADMIN_TOKENS_PATH), TokenListSchema).tokens;
    },
    async getToken(name) {
      return (await call('GET', `${ADMIN_TOKENS_PATH}/${encodeURIComponent(name)}`)).body;
    },
    async createToken(yaml, overwrite) {
      return json(await call('POST', `${ADMIN_TOKENS_PATH}${overwrite ? '?overwrite=true' : ''}`, yaml), TokenSummarySchema);
    },
    async deleteToken(name) {
      await call('DELETE', `${ADMIN_TOKENS_PATH}/${encodeURIComponent(name)}`);
    },
    async inventory() {
      return json(await call('GET', ADMIN_INVENTORY_PATH), InventorySchema).agents;
    },
    async caStatus() {
      return json(await call('GET', ADMIN_CA_PATH), CaStatusSchema);
    },
    async rotateCa(request) {
      return json(await call('POST', ADMIN_CA_ROTATE_PATH, JSON.stringify(request), 'application/json'), CaStatusSchema);
    },
  };
}
