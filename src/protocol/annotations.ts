// The pod annotations kube-join reads and writes (the injector's on pods, the podCertificate signer's in a volume's
// userAnnotations): the one list of their names.

/** Prefix of every kube-join annotation. */
export const ANNOTATION_PREFIX = 'kube-join.io/';

export const ANNOTATIONS = {
  /** `"true"` asks for injection; `"false"` (or absent) leaves the pod alone. */
  inject: 'kube-join.io/inject',
  /** Written by the injector: `injected`. A reinvoked webhook sees it and adds nothing. */
  status: 'kube-join.io/status',
  /** Provision token name (default: the injector's --token-name). */
  tokenName: 'kube-join.io/token-name',
  /** Roles to request, `App` or `App,Db` (default: all the token allows). */
  roles: 'kube-join.io/roles',
  /** Apps the pod serves, `name=uri[,name=uri...]`, for the inventory. */
  apps: 'kube-join.io/apps',
  /** Where the credential set is mounted, in the agent and read-only in the app containers. */
  outputPath: 'kube-join.io/output-path',
  /** Signal sent to the app after each new set, e.g. `SIGHUP`; needs notify-process. */
  notifySignal: 'kube-join.io/notify-signal',
  /** Process name the signal goes to, found in the pod's shared process namespace. */
  notifyProcess: 'kube-join.io/notify-process',
} as const;

/** Value of the status annotation on an injected pod. */
export const STATUS_INJECTED = 'injected';
