import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import got, { RequestError, type Response } from 'got';
import {
  CA_PATH,
  JOIN_PATH,
  JoinResponseSchema,
  ProblemSchema,
  authSpiffeIdFor,
  type JoinRequest,
  type JoinResponse,
} from '../protocol/index.ts';
import { parseCertificates, toPemBundle } from '../common/pem.ts';
import { spkiPin } from '../common/crypto.ts';
import { SubjectAlternativeNameExtension, X509Certificate } from '../common/x509.ts';
import type { HostPort, TrustConfig } from './config.ts';
import type { ClientTls } from './credentials.ts';
import {
  AuthIdentityError,
  AuthProtocolError,
  AuthUnavailableError,
  CaFileError,
  CaPinMismatchError,
  JoinRejectedError,
  TlsVerifyError,
} from './errors.ts';
import { formatHostPort } from '../common/host-port.ts';

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
  /** Trust domain of the auth service: its certificate must carry `spiffe://<clusterName>/kube-join/auth`. */
  clusterName: string;
  timeoutMs: number;
}

/** What the agent holds from an earlier join, for the next one. */
export interface JoinSession {
  /** Its still-valid certificate: the join is then a renewal by identity. */
  clientTls?: ClientTls;
  /** The CA bundle the last join answered over a verified connection (trusted besides pins). */
  caBundlePem?: string;
}

export interface JoinClient {
  /** Joins once: verifies the server, sends the request, validates the answer. Throws an agent error. */
  join(request: JoinRequest, signal?: AbortSignal, session?: JoinSession): Promise<JoinResponse>;
}

function baseUrl(addr: HostPort): string {
  return `https://${formatHostPort(addr.host, addr.port)}`;
}

function parseRetryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/** The error code of a server certificate that chains to the CA but is not the auth service's. */
const NOT_AUTH_IDENTITY = 'ERR_KUBE_JOIN_NOT_AUTH_IDENTITY';

/**
 * The identity check of every connection that carries a token, in place of Node's default: the
 * certificate must carry the auth service's URI SAN, and the host must match one of its DNS or IP
 * SANs. The subject CN is never consulted: workload leaves chain to the same CA and their CN is a pod
 * name, which a workload chooses.
 */
export function checkAuthIdentity(host: string, cert: PeerCertificate, expectedId: string): Error | undefined {
  const uris = new X509Certificate(cert.raw).getExtension(SubjectAlternativeNameExtension)?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  if (!uris.includes(expectedId)) {
    return Object.assign(new Error(`the server's certificate is not the auth service's: it carries ${uris.length ? uris.join(', ') : 'no URI SAN'}, not ${expectedId}`), { code: NOT_AUTH_IDENTITY, identities: uris });
  }
  const node = new NodeX509Certificate(cert.raw);
  const matches = isIP(host) !== 0 ? node.checkIP(host) !== undefined : node.checkHost(host, { subject: 'never' }) !== undefined;
  if (!matches) return Object.assign(new Error(`the auth service's certificate has no DNS or IP SAN for "${host}"`), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  return undefined;
}

function classifyNetworkError(err: unknown, where: string): Error {
  if (err instanceof RequestError) {
    if (err.code === NOT_AUTH_IDENTITY) return new AuthIdentityError(where, err.message, err);
    if (err.code && TLS_VERIFY_CODES.has(err.code)) return new TlsVerifyError(where, err.code, err);
    return new AuthUnavailableError(`auth service ${where} unreachable: ${err.code ?? err.message}`, undefined, err);
  }
  return err as Error;
}

/**
 * Decides which CA certificates the join connection must chain to. With a CA file, the file as it is
 * now (re-read on every attempt: the kubelet swaps a ConfigMap volume's files when the auth publishes a
 * new bundle). With pins the bundle is fetched from `GET /v1/ca` without verification, and only the
 * certificates whose SubjectPublicKeyInfo matches a pin are trusted, never the rest of the body: a man
 * in the middle that serves the real CA followed by its own gains nothing, as its own CA is dropped.
 * Besides those, a pinned agent trusts the bundle its last join answered (`learned`), which came over
 * a connection verified this way: during a CA rotation that bundle holds the new CA before the auth
 * serves with it, so the pin of the first CA keeps working (as Teleport agents keep trusting the CAs
 * their auth server hands them). Several pins also allow a rotation.
 */
async function trustedCa(options: JoinClientOptions, signal: AbortSignal | undefined, learned: string | undefined): Promise<string | undefined> {
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
      const pinned = certs.filter((cert) => trust.pins.includes(spkiPin(cert)));
      const known = learned === undefined ? [] : parseCertificates(learned);
      if (pinned.length === 0 && known.length === 0) throw new CaPinMismatchError(where, trust.pins, certs.map(spkiPin));
      return toPemBundle([...pinned, ...known]);
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
  const authId = authSpiffeIdFor(options.clusterName);
  return {
    async join(request, signal, session = {}) {
      const { clientTls } = session;
      const ca = await trustedCa(options, signal, session.caBundlePem);
      let response: Response<string>;
      try {
        response = await got.post(`${where}${JOIN_PATH}`, {
          json: request,
          https: ca === undefined
            ? { rejectUnauthorized: false }
            : {
              certificateAuthority: ca,
              rejectUnauthorized: true,
              checkServerIdentity: (host, cert) => checkAuthIdentity(host, cert, authId),
              ...(clientTls ? { key: clientTls.keyPem, certificate: clientTls.certPem } : {}),
            },
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
