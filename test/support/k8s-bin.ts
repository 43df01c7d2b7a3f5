import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where scripts/k8s-tools puts kube-apiserver, etcd, kubectl and helm (override with KUBE_JOIN_K8S_BIN). */
export const K8S_BIN_DIR = process.env.KUBE_JOIN_K8S_BIN ?? join(homedir(), '.cache', 'kube-join', 'k8s', 'bin');

/** Absolute path of a Kubernetes binary; throws (never skips) when it is not built. */
export function k8sBinary(name: 'kube-apiserver' | 'etcd' | 'kubectl' | 'helm'): string {
  const path = join(K8S_BIN_DIR, name);
  if (!existsSync(path)) {
    throw new Error(`${name} not found at ${path}: build the Kubernetes test binaries with scripts/k8s-tools (or point KUBE_JOIN_K8S_BIN at a directory holding kube-apiserver, etcd, kubectl and helm)`);
  }
  return path;
}
