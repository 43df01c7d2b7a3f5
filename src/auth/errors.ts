import { KubeJoinError } from '../common/errors.ts';
import type { ProblemCode } from '../protocol/index.ts';

/**
 * A join (or admin) request refused for a reason the client can act on. Becomes a problem+json answer
 * with this `code` and `status`; `detail` must be safe to show the client (no token content).
 */
export class ProblemError extends KubeJoinError<ProblemCode> {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  constructor(code: ProblemCode, status: number, detail: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(code, detail, options);
    this.status = status;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** A provision token document is malformed; `field` is the dotted path of the first bad field. */
export class TokenSpecError extends KubeJoinError<'ERR_TOKEN_SPEC'> {
  readonly field: string;
  constructor(field: string, message: string) {
    super('ERR_TOKEN_SPEC', field ? `${field}: ${message}` : message);
    this.field = field;
  }
}

export class StorageError extends KubeJoinError<'ERR_STORAGE'> {
  constructor(message: string, cause?: unknown) {
    super('ERR_STORAGE', message, { cause });
  }
}

/** errnos that make a whole directory unusable for writing, whichever file was being written. */
const DIRECTORY_PROBLEMS: Readonly<Record<string, string>> = {
  EROFS: 'is read-only',
  ENOSPC: 'is full',
  EDQUOT: 'is over its disk quota',
  EACCES: 'is not writable by this process',
  EPERM: 'is not writable by this process',
};

/**
 * A failed file operation in the state directory as a one-line StorageError naming the directory and
 * the errno: "state directory /x is read-only (EROFS)". An errno that says nothing about the directory
 * as a whole reads "state directory /x <failed> (ENOENT)". A KubeJoinError passes through unchanged.
 */
export function stateDirError(dir: string, failed: string, err: unknown): KubeJoinError {
  if (err instanceof KubeJoinError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const problem = code === undefined ? undefined : DIRECTORY_PROBLEMS[code];
  return new StorageError(`state directory ${dir} ${problem ?? failed} (${code ?? (err as Error | undefined)?.message ?? String(err)})`, err);
}

/** The CA record changed since it was read: another replica rotated at the same time. */
export class CaRecordConflictError extends KubeJoinError<'ERR_CA_CONFLICT'> {
  constructor() {
    super('ERR_CA_CONFLICT', 'the CA record was changed by another auth replica at the same time; read the rotation state again (kube-join ca) and repeat the step if it is still due');
  }
}

/** Another auth process already serves this state directory. */
export class StateLockedError extends KubeJoinError<'ERR_STATE_LOCKED'> {
  readonly pid: number;
  constructor(path: string, pid: number) {
    super('ERR_STATE_LOCKED', `state directory is locked by running process ${pid} (${path}); only one auth process may serve a file state directory`);
    this.pid = pid;
  }
}

export class TokenExistsError extends KubeJoinError<'ERR_TOKEN_EXISTS'> {
  constructor(name: string) {
    super('ERR_TOKEN_EXISTS', `provision token "${name}" already exists (remove it first, or pass --force)`);
  }
}

export class TokenNotFoundError extends KubeJoinError<'ERR_TOKEN_NOT_FOUND'> {
  constructor(name: string) {
    super('ERR_TOKEN_NOT_FOUND', `provision token "${name}" not found`);
  }
}

/**
 * The problem a failed request answers with: its own ProblemError; a StorageError 503
 * storage_unavailable (retried by agents), with `storageDetail` as the detail; anything else (a bug)
 * 500 internal.
 */
export function problemOf(err: unknown, storageDetail: (err: StorageError) => string): ProblemError {
  if (err instanceof ProblemError) return err;
  if (err instanceof StorageError) return new ProblemError('storage_unavailable', 503, storageDetail(err), { cause: err });
  return new ProblemError('internal', 500, 'internal error; see the auth service log', { cause: err });
}

/** Agents are not authenticated: they learn that storage failed, the log (and admins) learn why. */
export const JOIN_STORAGE_DETAIL = 'the auth service cannot use its storage right now; retry later (its log says why)';

/** --pod-certificate-signer cannot run against this Kubernetes API (no PodCertificateRequests served). */
export class SignerUnavailableError extends KubeJoinError<'ERR_POD_CERTIFICATE_SIGNER'> {
  constructor(message: string) {
    super('ERR_POD_CERTIFICATE_SIGNER', message);
  }
}
