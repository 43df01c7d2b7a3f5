import { KubeJoinError, errorLogFields } from '../common/errors.ts';
import type { ProblemCode } from '../protocol/index.ts';

export type AgentErrorCode =
  | 'ERR_TOKEN_READ'
  | 'ERR_JOIN_REJECTED'
  | 'ERR_AUTH_UNAVAILABLE'
  | 'ERR_AUTH_PROTOCOL'
  | 'ERR_TLS_VERIFY'
  | 'ERR_CA_PIN_MISMATCH'
  | 'ERR_AUTH_IDENTITY'
  | 'ERR_CA_FILE'
  | 'ERR_ISSUED_CERT_INVALID'
  | 'ERR_CERT_WRITE'
  | 'ERR_CERT_EXPIRED'
  | 'ERR_ONCE_FAILED'
  | 'ERR_NOTIFY';

/**
 * The app could not be told about a new set (logged, never fatal: the files are in place). The message
 * says what the pod needs: the app in the agent's PID namespace, or the right to signal it.
 */
export class NotifyError extends KubeJoinError<'ERR_NOTIFY'> {
  constructor(message: string, cause?: unknown) {
    super('ERR_NOTIFY', message, { cause });
  }
}

/** Why the token file could not be used. The message names the path, never the content. */
export type TokenReadReason = 'missing' | 'unreadable' | 'empty' | 'not_a_jwt' | 'too_large';

export class TokenReadError extends KubeJoinError<'ERR_TOKEN_READ'> {
  readonly path: string;
  readonly reason: TokenReadReason;
  constructor(path: string, reason: TokenReadReason, cause?: unknown) {
    const what: Record<TokenReadReason, string> = {
      missing: 'does not exist (is the projected ServiceAccount token volume mounted?)',
      unreadable: 'cannot be read',
      empty: 'is empty',
      not_a_jwt: 'is not a JWT',
      too_large: 'is larger than 64 KiB, so it is not a ServiceAccount token',
    };
    super('ERR_TOKEN_READ', `ServiceAccount token file ${path} ${what[reason]}`, { cause });
    this.path = path;
    this.reason = reason;
  }
}

/** The auth service refused the join with a problem+json `code`. */
export class JoinRejectedError extends KubeJoinError<'ERR_JOIN_REJECTED'> {
  readonly reason: ProblemCode;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  constructor(reason: ProblemCode, status: number, detail: string, retryAfterMs?: number) {
    super('ERR_JOIN_REJECTED', `join rejected (${status} ${reason}): ${detail}`);
    this.reason = reason;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The auth service could not be reached, or answered 5xx without a problem body. Retried. */
export class AuthUnavailableError extends KubeJoinError<'ERR_AUTH_UNAVAILABLE'> {
  readonly status: number | undefined;
  constructor(message: string, status?: number, cause?: unknown) {
    super('ERR_AUTH_UNAVAILABLE', message, { cause });
    this.status = status;
  }
}

/** The auth service answered something that is not the protocol (garbage JSON, wrong schema). */
export class AuthProtocolError extends KubeJoinError<'ERR_AUTH_PROTOCOL'> {
  readonly status: number;
  constructor(message: string, status: number, cause?: unknown) {
    super('ERR_AUTH_PROTOCOL', message, { cause });
    this.status = status;
  }
}

/** The server's certificate did not verify: no token was sent. */
export class TlsVerifyError extends KubeJoinError<'ERR_TLS_VERIFY'> {
  readonly tlsCode: string | undefined;
  constructor(address: string, tlsCode: string | undefined, cause?: unknown) {
    super('ERR_TLS_VERIFY', `TLS verification of ${address} failed (${tlsCode ?? 'unknown'}); the token was not sent`, { cause });
    this.tlsCode = tlsCode;
  }
}

export class CaPinMismatchError extends KubeJoinError<'ERR_CA_PIN_MISMATCH'> {
  constructor(address: string, pins: readonly string[], seen: readonly string[]) {
    super('ERR_CA_PIN_MISMATCH', `no CA certificate served by ${address} matches --ca-pin ${pins.join(', ')} (served: ${seen.join(', ') || 'none'}); the token was not sent`);
  }
}

/**
 * The server's certificate chains to the trusted CA but is not the auth service's (a workload's leaf,
 * or the wrong cluster's auth): no token was sent.
 */
export class AuthIdentityError extends KubeJoinError<'ERR_AUTH_IDENTITY'> {
  constructor(address: string, detail: string, cause?: unknown) {
    super('ERR_AUTH_IDENTITY', `${address} is not the kube-join auth service: ${detail}; the token was not sent`, { cause });
  }
}

export class CaFileError extends KubeJoinError<'ERR_CA_FILE'> {
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super('ERR_CA_FILE', `CA file ${path} cannot be used: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.path = path;
  }
}

/** What the auth service issued does not fit the request (wrong key, broken chain): nothing is written. */
export class IssuedCertInvalidError extends KubeJoinError<'ERR_ISSUED_CERT_INVALID'> {
  constructor(message: string, cause?: unknown) {
    super('ERR_ISSUED_CERT_INVALID', `issued certificate rejected: ${message}`, { cause });
  }
}

export class CertWriteError extends KubeJoinError<'ERR_CERT_WRITE'> {
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super('ERR_CERT_WRITE', `writing the certificate set to ${path} failed: ${(cause as Error)?.message ?? String(cause)}; the previous set is intact`, { cause });
    this.path = path;
  }
}

export class CertExpiredError extends KubeJoinError<'ERR_CERT_EXPIRED'> {
  constructor(notAfter: Date, cause?: unknown) {
    super('ERR_CERT_EXPIRED', `certificate expired at ${notAfter.toISOString()} and renewal keeps failing`, { cause });
  }
}

export class OnceFailedError extends KubeJoinError<'ERR_ONCE_FAILED'> {
  constructor(message: string, cause: unknown) {
    super('ERR_ONCE_FAILED', message, { cause });
  }
}

export type AnyAgentError =
  | TokenReadError
  | JoinRejectedError
  | AuthUnavailableError
  | AuthProtocolError
  | TlsVerifyError
  | CaPinMismatchError
  | AuthIdentityError
  | CaFileError
  | IssuedCertInvalidError
  | CertWriteError
  | CertExpiredError
  | OnceFailedError;

/**
 * The error fields of an agent log line, in this order: `code`, the agent's own error code (`ERR_*`,
 * see AgentErrorCode; `ERR_UNEXPECTED` for an error not raised on purpose); `reason`, the problem code the auth service answered
 * (`token_not_found`, ...) when the error is, or was caused by, a JoinRejectedError; `error`, the message.
 * The two namespaces never share a field: `code` is always `ERR_*`, `reason` always a problem code.
 */
export function logFieldsOf(err: unknown): { code: string; reason?: ProblemCode; error: string } {
  const { code, error } = errorLogFields(err);
  const rejected = rejectionIn(err);
  return rejected === undefined ? { code, error } : { code, reason: rejected.reason, error };
}

/** The JoinRejectedError in `err`'s cause chain (OnceFailedError and CertExpiredError wrap one), if any. */
function rejectionIn(err: unknown): JoinRejectedError | undefined {
  const seen = new Set<unknown>();
  for (let at = err; at instanceof Error && !seen.has(at); at = at.cause) {
    if (at instanceof JoinRejectedError) return at;
    seen.add(at);
  }
  return undefined;
}
