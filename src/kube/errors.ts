import { KubeJoinError } from '../common/errors.ts';

/** A kubeconfig file or the in-cluster environment cannot be used. The message names the file, never a credential. */
export class KubeConfigError extends KubeJoinError<'ERR_KUBE_CONFIG'> {
  constructor(message: string, cause?: unknown) {
    super('ERR_KUBE_CONFIG', message, { cause });
  }
}

/** The Kubernetes API could not be reached: connection refused, TLS failure, timeout. Transient. */
export class KubeUnreachableError extends KubeJoinError<'ERR_KUBE_UNREACHABLE'> {
  /** got/Node error code, e.g. ECONNREFUSED, ETIMEDOUT, DEPTH_ZERO_SELF_SIGNED_CERT. */
  readonly reason: string | undefined;
  constructor(message: string, reason: string | undefined, cause?: unknown) {
    super('ERR_KUBE_UNREACHABLE', message, { cause });
    this.reason = reason;
  }
}

/** The Kubernetes API answered with an error status (a `Status` object when it sent one). */
export class KubeApiError extends KubeJoinError<'ERR_KUBE_API'> {
  readonly status: number;
  /** `Status.reason`, e.g. Forbidden, NotFound, AlreadyExists. */
  readonly reason: string | undefined;
  /** `Status.message` as the apiserver wrote it (no request content). */
  readonly apiMessage: string | undefined;
  constructor(method: string, path: string, status: number, reason: string | undefined, apiMessage: string | undefined) {
    super('ERR_KUBE_API', `Kubernetes API ${method} ${path} answered ${status}${reason ? ` ${reason}` : ''}${apiMessage ? `: ${apiMessage}` : ''}`);
    this.status = status;
    this.reason = reason;
    this.apiMessage = apiMessage;
  }
}
