import { KubeJoinError } from '../common/errors.ts';

/**
 * A pod asked for injection but cannot be injected as it is: a bad annotation, or a name the injector
 * needs that the pod already uses. The admission response denies the pod with this message.
 */
export class InjectionDeniedError extends KubeJoinError<'ERR_INJECTION_DENIED'> {
  /** The annotation (or pod field) at fault, e.g. `kube-join.io/roles`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super('ERR_INJECTION_DENIED', `${field}: ${message}`);
    this.field = field;
  }
}

/** The webhook's MutatingWebhookConfiguration could not be read or patched with the CA bundle. */
export class CaBundleSyncError extends KubeJoinError<'ERR_CA_BUNDLE_SYNC'> {
  constructor(message: string, cause?: unknown) {
    super('ERR_CA_BUNDLE_SYNC', message, { cause });
  }
}

/** The CA the replicas share could not be read from, or stored in, its Secret. */
export class InjectorCaError extends KubeJoinError<'ERR_INJECTOR_CA'> {
  constructor(message: string, cause?: unknown) {
    super('ERR_INJECTOR_CA', message, { cause });
  }
}
