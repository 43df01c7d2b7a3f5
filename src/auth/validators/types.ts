import type { ProvisionToken, KubernetesJoinType } from '../tokens.ts';

/** Who a verified Kubernetes token says the caller is: Kubernetes names, checked by checkKubeIdentity. */
export interface KubeIdentity {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

/**
 * Proves a ServiceAccount token for one `spec.kubernetes.type`. Throws ProblemError with the code the
 * agent acts on (`kube_token_invalid`, `audience_mismatch`, `legacy_token_rejected`,
 * `tokenreview_forbidden`, `kube_unavailable`). Never puts the token in an error.
 */
export interface TokenValidator {
  readonly type: KubernetesJoinType;
  validate(kubeToken: string, token: ProvisionToken): Promise<KubeIdentity>;
}

export type ValidatorSet = Partial<Record<KubernetesJoinType, TokenValidator>>;
