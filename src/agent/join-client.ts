import { readFile } from 'node:fs/promises';
import got, { RequestError, type Response } from 'got';
import {
  CA_PATH,
  JOIN_PATH,
  JoinResponseSchema,
  ProblemSchema,
  type JoinRequest,
  type JoinResponse,
} from '../protocol/index.ts';
import { parseCertificates } from '../common/pem.ts';
import { spkiPin } from '../common/crypto.ts';
import type { HostPort, TrustConfig } from './config.ts';
import {
  AuthProtocolError,
  AuthUnavailableError,
  CaFileError,
  CaPinMismatchError,
  JoinRejectedError,
  TlsVerifyError,
} from './errors.ts';

/** TLS failures that mean "this server is not who it should be", as OpenSSL names them in Node. */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export interface JoinClientOptions {
  addr: HostPort;
  trust: TrustConfig;
  timeoutMs: number;
}

export interface JoinClient {
  /** Joins once: verifies the server, sends the request, validates the answer. Throws an agent error. */
  join(request: JoinRequest, signal?: AbortSignal): Promise<JoinResponse>;
}

function baseUrl(addr: HostPort): string {
  return `https://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
}

function parseRetryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function classifyNetworkError(err: unknown, where: string): Error {
  if (err instanceof RequestError) {
    if (err.code && TLS_VERIFY_CODES.has(err.code)) return new TlsVerifyError(where, err.code, err);
    return new AuthUnavailableError(`auth service ${where} unreachable: ${err.code ?? err.message}`, undefined, err);
  }
  return err as Error;
}

/**
 * Decides which CA bundle the join connection must chain to. With a pin the bundle is fetched from
 * `GET /v1/ca` without verification, and used only if one of its certificates has the pinned
 * SubjectPublicKeyInfo: a man in the middle can echo the real bundle, but then cannot complete the
 * verified handshake of the join itself, so the token never reaches it.
 */
async function trustedCa(options: JoinClientOptions, signal: AbortSignal | undefined): Promise<string | undefined> {
  const { trust } = options;
  const where = baseUrl(options.addr);
  switch (trust.kind) {
    case 'insecure':
      return undefined;
    case 'ca-file':
      try {
        const pem = await readFile(trust.path, 'utf8');
        parseCertificates(pem);
        return pem;
      } catch (err) {
        throw new CaFileError(trust.path, err);
      }
    case 'ca-pin': {
      let body: string;
      try {
        body = await got(`${where}${CA_PATH}`, {
          https: { rejectUnauthorized: false },
          timeout: { request: options.timeoutMs },
          retry: { limit: 0 },
          signal,
        }).text();
      } catch (err) {
        throw classifyNetworkError(err, where);
      }
      let certs;
      try {
        certs = parseCertificates(body);
      } catch (err) {
        throw new AuthProtocolError(`GET ${CA_PATH} on ${where} did not return a PEM CA bundle`, 200, err);
      }
      const pins = certs.map(spkiPin);
      if (!pins.includes(trust.pin)) throw new CaPinMismatchError(where, trust.pin, pins);
      return body;
    }
  }
}

function interpret(response: Response<string>, where: string): JoinResponse {
  const contentType = String(response.headers['content-type'] ?? '');
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch (err) {
    if (response.statusCode >= 500) throw new AuthUnavailableError(`auth service ${where} answered ${response.statusCode} without a problem body`, response.statusCode, err);
    throw new AuthProtocolError(`auth service ${where} answered ${response.statusCode} with a body that is not JSON (${contentType || 'no content type'})`, response.statusCode, err);
  }
  if (response.statusCode === 200) {
    const parsed = JoinResponseSchema.safeParse(body);
    if (!parsed.success) {
      throw new AuthProtocolError(`auth service ${where} answered 200 with a join response that does not match the protocol: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, 200);
    }
    return parsed.data;
  }
  const problem = ProblemSchema.safeParse(body);
  if (!problem.success) {
    if (response.statusCode >= 500) throw new AuthUnavailableError(`auth service ${where} answered ${response.statusCode}`, response.statusCode);
    throw new AuthProtocolError(`auth service ${where} answered ${response.statusCode} without a problem+json code`, response.statusCode);
  }
  const retryAfter = response.headers['retry-after'];
  throw new JoinRejectedError(
    problem.data.code,
    response.statusCode,
    problem.data.detail ?? problem.data.title,
    parseRetryAfterMs(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
  );
}

export function createJoinClient(options: JoinClientOptions): JoinClient {
  const where = baseUrl(options.addr);
  return {
    async join(request, signal) {
      const ca = await trustedCa(options, signal);
      let response: Response<string>;
      try {
        response = await got.post(`${where}${JOIN_PATH}`, {
          json: request,
          https: ca === undefined ? { rejectUnauthorized: false } : { certificateAuthority: ca, rejectUnauthorized: true },
          timeout: { request: options.timeoutMs },
          retry: { limit: 0 },
          throwHttpErrors: false,
          followRedirect: false,
          signal,
        });
      } catch (err) {
        throw classifyNetworkError(err, where);
      }
      return interpret(response, where);
    },
  };
}
