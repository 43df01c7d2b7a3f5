// The parts of a core/v1 Pod the injector reads and adds. Anything else in the pod passes through
// untouched, so these types list only what is used.

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface Container {
  name: string;
  image?: string;
  volumeMounts?: VolumeMount[];
  ports?: { containerPort: number; name?: string; protocol?: string }[];
  securityContext?: SecurityContext;
  [field: string]: unknown;
}

export interface Volume {
  name: string;
  [source: string]: unknown;
}

export interface Pod {
  metadata?: { name?: string; generateName?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    initContainers?: Container[];
    containers?: Container[];
    volumes?: Volume[];
    shareProcessNamespace?: boolean;
    securityContext?: { runAsUser?: number; fsGroup?: number };
    [field: string]: unknown;
  };
}

/** One RFC 6902 operation; the injector only adds. */
export interface JsonPatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

/** A JSON Pointer token (RFC 6901): `~` and `/` escaped, as in `kube-join.io~1status`. */
export function pointerToken(text: string): string {
  return text.replace(/~/g, '~0').replace(/\//g, '~1');
}
