// What tells a process it runs in a pod, with no dependencies: the auth's option table reads it at CLI start.

/** Where the kubelet mounts the pod's ServiceAccount token, CA and namespace. */
export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Whether the environment looks like a pod's (KUBERNETES_SERVICE_HOST and _PORT set). */
export function isInCluster(env: Record<string, string | undefined>): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST) && Boolean(env.KUBERNETES_SERVICE_PORT);
}
