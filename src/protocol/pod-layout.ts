// Where things are inside a pod that runs the agent: the contract between the agent's defaults, the
// agent chart and the injector, which all build the same pod.

/** The projected, audience-bound ServiceAccount token the agent reads first. */
export const PROJECTED_TOKEN_DIR = '/var/run/secrets/tokens';
export const PROJECTED_TOKEN_FILE = 'kube-join';
export const PROJECTED_TOKEN_PATH = `${PROJECTED_TOKEN_DIR}/${PROJECTED_TOKEN_FILE}`;

/** Lifetime of the projected token: Kubernetes' minimum; the kubelet rotates it at 80%. */
export const PROJECTED_TOKEN_EXPIRATION_SECONDS = 600;

/** The agent's default output directory (the shared in-memory volume). */
export const DEFAULT_OUT_DIR = '/var/run/kube-join';

/**
 * The auth's CA bundle as pods receive it: a ConfigMap (name overridable) whose key `ca.crt` is mounted
 * read-only in this directory, and given to the agent as `--ca-file`.
 */
export const CA_BUNDLE_CONFIGMAP = 'kube-join-ca-bundle';
export const CA_BUNDLE_KEY = 'ca.crt';
export const CA_BUNDLE_DIR = '/var/run/kube-join/ca';
export const CA_BUNDLE_PATH = `${CA_BUNDLE_DIR}/${CA_BUNDLE_KEY}`;
