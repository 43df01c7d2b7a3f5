export { loadKubeconfig, loadInClusterConfig, isInCluster, IN_CLUSTER_DIR } from './config.ts';
export type { KubeConnection } from './config.ts';
export { createKubeClient } from './client.ts';
export type { KubeClient, KubeRequestOptions, TokenReviewStatus } from './client.ts';
export { KubeApiError, KubeConfigError, KubeUnreachableError } from './errors.ts';
